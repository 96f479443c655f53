"""Which TCP connections a test made: proof that a refused host was never connected to."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def tcp_connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every TCP connection attempted in this test (UDP, the DNS queries, is not counted)."""
    attempts: list[object] = []
    original = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        if self.type == socket.SOCK_STREAM:
            attempts.append(address)
        original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
