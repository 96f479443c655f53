"""The worker as its own OS process, so a test can kill -9 it like a crashed machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from outbound.settings import Settings


class WorkerProcess:
    """``python -m outbound.worker`` with the test's settings in its environment."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self._settings = settings
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self._settings.as_environment()}
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "outbound.worker"], env=env, stdout=log, stderr=log
            )

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, activities die mid-flight."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
