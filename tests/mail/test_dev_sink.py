"""The dev stack's SMTP sink keeps quiet about aiosmtpd's own deprecations."""

from __future__ import annotations

import logging
from pathlib import Path

import aiosmtplib
import pytest

from outbound.devstack.sink import SinkHandler, start_sink


async def test_a_login_and_a_message_log_no_library_deprecation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handler = SinkHandler(tmp_path)
    controller = start_sink(handler)
    caplog.set_level(logging.INFO)
    try:
        for _ in range(2):
            await aiosmtplib.send(
                b"Subject: Hi\r\nMessage-ID: <m@example.com>\r\n\r\nHello\r\n",
                sender="ada@example.com",
                recipients=["bob@example.org"],
                hostname="127.0.0.1",
                port=controller.port,
                username="ada",
                password="any",
                use_tls=False,
                start_tls=False,
            )
    finally:
        controller.stop()

    assert len(handler.received) == 2
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
