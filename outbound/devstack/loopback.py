"""An ASGI app served by uvicorn inside a running event loop, on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

STARTUP_SECONDS = 10  # uvicorn listens well within this


class LoopbackServer:
    """An ASGI app under uvicorn in the running event loop, on a port bound up front.

    Uvicorn's signal handling is left out: Ctrl-C stays with the program that runs it.
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve ``app`` on ``host:port`` (``port=0``: a free one, see ``url``)."""
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = _SignalFreeServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Serve; returns once uvicorn is listening."""
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[self._socket])
        )
        async with asyncio.timeout(STARTUP_SECONDS):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError(f"uvicorn stopped while starting on {self.url}")
                await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop serving and close the port."""
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()


class _SignalFreeServer(uvicorn.Server):
    """Uvicorn without its SIGINT/SIGTERM handlers (it is one part of a bigger program)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the signal handlers alone."""
        yield
