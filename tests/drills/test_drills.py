"""The fault drills of ``python -m drills``, at a size CI can afford.

Each drill ends with its own checks (nothing lost, nothing sent twice, limits
held; for bad input: no 5xx and nothing changed by a rejected request); a test
fails with every failed check's detail.
"""

from __future__ import annotations

import os

import pytest

from drills.bad_input import bad_input
from drills.campaign import Check
from drills.server_restart import server_restart
from drills.smtp_faults import smtp_faults
from drills.worker_kills import worker_kills

pytestmark = pytest.mark.e2e

PROSPECTS = int(os.environ.get("OUTBOUND_DRILL_PROSPECTS", "200"))


def assert_all_passed(checks: list[Check]) -> None:
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    assert not failed, "\n".join(failed)


async def test_worker_killed_twice_mid_campaign() -> None:
    assert_all_passed(await worker_kills(PROSPECTS, kills=2))


async def test_dev_server_restarted_mid_campaign() -> None:
    assert_all_passed(await server_restart(PROSPECTS))


async def test_smtp_faults_deliver_every_transient_once() -> None:
    assert_all_passed(await smtp_faults(PROSPECTS))


async def test_generated_bad_input_gets_4xx_and_changes_nothing() -> None:
    assert_all_passed(await bad_input(per_operation=8))
