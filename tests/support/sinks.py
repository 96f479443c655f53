"""A real SMTP server (aiosmtpd) around a test's sink handler, for the length of a test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from aiosmtpd.controller import Controller

from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.devstack.sink import start_sink

H = TypeVar("H", bound=FaultSinkHandler)


@contextmanager
def running_sink(handler: H) -> Iterator[tuple[H, Controller]]:
    """``handler`` served on a free loopback port, checking logins with its
    ``authenticate``; stopped afterwards."""
    controller = start_sink(handler, authenticator=handler.authenticate)
    try:
        yield handler, controller
    finally:
        controller.stop()
