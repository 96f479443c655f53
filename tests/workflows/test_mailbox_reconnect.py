"""A mailbox that needs re-authentication parks every sequence on it until it is reconnected."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from outbound.domain.sequence import FailureType, SendFailure
from outbound.domain.statuses import ProspectStatus, StepStatus
from outbound.workflows.enrollment import EnrollmentWorkflow
from tests.workflows.harness import Harness, state_of

PROSPECTS = 20


async def test_an_auth_failure_parks_twenty_prospects_and_a_reconnect_delivers_each_once(
    harness: Harness,
) -> None:
    # The first send meets 535; the mailbox is then parked, so the others are refused
    # at their last look before MAIL FROM, carrying the connection version they saw.
    on_version_0 = SendFailure(mailbox_version=0)
    harness.fakes.failures = [
        ("auth_failed", on_version_0),
        *[(FailureType.MAILBOX_PARKED, on_version_0)] * (PROSPECTS - 1),
    ]
    handles = [
        await harness.start(timedelta(0), timedelta(days=1), enrollment_id=100 + i)
        for i in range(PROSPECTS)
    ]
    await harness.env.sleep(timedelta(days=3))

    parked = [await state_of(handle) for handle in handles]
    assert harness.fakes.sends == [] and harness.fakes.failures == []
    for state in parked:
        assert state.status is ProspectStatus.NOT_STARTED  # nothing has gone out yet
        assert (state.reason or "").startswith("MailboxDisconnected: ")
        assert state.steps[0].status is StepStatus.PENDING
        assert state.steps[0].reason == "waiting for the mailbox to be reconnected"

    for handle in handles:
        await handle.signal(EnrollmentWorkflow.mailbox_reconnected, 1)
    finals = [await handle.result() for handle in handles]  # one by one: time skips

    sent = Counter((r.enrollment_id, r.position) for r, _ in harness.fakes.sends)
    expected = {(100 + i, position) for i in range(PROSPECTS) for position in (1, 2)}
    assert set(sent) == expected and set(sent.values()) == {1}
    assert all(f.status is ProspectStatus.COMPLETED and f.reason is None for f in finals)


async def test_a_stale_reconnect_does_not_release_a_newer_park(harness: Harness) -> None:
    """A reconnect older than the failure (version 1 seen by a send that failed on 1) waits on."""
    harness.fakes.failures = [("auth_failed", SendFailure(mailbox_version=1))]
    handle = await harness.start(timedelta(0))
    await harness.env.sleep(timedelta(hours=2))

    await handle.signal(EnrollmentWorkflow.mailbox_reconnected, 1)
    await harness.env.sleep(timedelta(days=1))
    assert harness.fakes.sends == []

    await handle.signal(EnrollmentWorkflow.mailbox_reconnected, 2)
    final = await handle.result()
    assert len(harness.fakes.sends) == 1 and final.status is ProspectStatus.COMPLETED
