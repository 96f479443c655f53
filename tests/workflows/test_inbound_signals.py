"""Replies and late bounces read from the inbox, as signals to one prospect's workflow.

Each inbound event carries its own key: the same message seen twice (IMAP and
webhook) acts once. A hard bounce that arrives by mail after the server had
accepted the message sends the same step to the next allowed address, also
after the last step, within a few days.
"""

from __future__ import annotations

from datetime import timedelta

from outbound.domain.sequence import InboundReply, LateBounce
from outbound.domain.statuses import ProspectStatus, StepStatus
from outbound.workflows.enrollment import LATE_BOUNCE_WINDOW, EnrollmentWorkflow
from tests.workflows.harness import Harness, state_of, until

WORK = "ann@work.example.com"


def bounce_of(position: int, key: str = "dsn-1", address: str = "ann@example.com") -> LateBounce:
    return LateBounce(
        key=key,
        message_id=f"<m7.{position}@example.com>",
        address=address,
        reason="5.1.1 user unknown",
    )


async def test_a_reply_stops_the_sequence_with_its_time_and_snippet(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=2))
    await until(harness, handle, lambda s: s.steps[0].status is StepStatus.SENT)
    replied_at = await harness.env.get_current_time()

    await handle.signal(
        EnrollmentWorkflow.reply_received,
        InboundReply(key="reply-1", received_at=replied_at, snippet="Sounds good, call me"),
    )
    final = await handle.result()

    assert harness.fakes.positions_sent == [1]
    assert final.status is ProspectStatus.REPLIED
    assert (final.replied_at, final.reply_snippet) == (replied_at, "Sounds good, call me")
    assert final.steps[1].status is StepStatus.STOPPED


async def test_the_same_bounce_seen_twice_acts_once(harness: Harness) -> None:
    handle = await harness.start(
        timedelta(0), timedelta(days=2), fallback_addresses=[WORK, "ann@other.example.com"]
    )
    await until(harness, handle, lambda s: s.steps[0].status is StepStatus.SENT)

    await handle.signal(EnrollmentWorkflow.late_bounce, bounce_of(1))
    await handle.signal(EnrollmentWorkflow.late_bounce, bounce_of(1))  # via the webhook too
    final = await handle.result()

    assert [r.to_address for r, _ in harness.fakes.sends] == [
        "ann@example.com",
        WORK,
        WORK,
    ]
    assert final.bounced_addresses == ["ann@example.com"]
    assert final.inbound_keys == ["dsn-1"]  # acted on once
    assert final.status is ProspectStatus.COMPLETED


async def test_a_late_bounce_sends_the_same_step_to_the_work_address(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=2), fallback_addresses=[WORK])
    waiting = await until(harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)
    assert waiting.steps[0].status is StepStatus.SENT

    await handle.signal(EnrollmentWorkflow.late_bounce, bounce_of(1))
    resent = await until(harness, handle, lambda s: s.steps[0].status is StepStatus.SENT)
    final = await handle.result()

    assert resent.to_address == WORK
    assert [(r.position, r.to_address) for r, _ in harness.fakes.sends] == [
        (1, "ann@example.com"),
        (1, WORK),
        (2, WORK),
    ]
    assert final.status is ProspectStatus.COMPLETED
    # New slot keys: the bounced step never reuses the slot it already used.
    keys = [r.key for r in harness.fakes.reservations]
    assert len(keys) == len(set(keys))


async def test_a_bounce_after_the_last_step_reopens_the_sequence_within_days(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), fallback_addresses=[WORK])
    done = await until(harness, handle, lambda s: s.status is ProspectStatus.COMPLETED)
    assert done.steps[0].status is StepStatus.SENT

    await harness.env.sleep(timedelta(hours=5))
    await handle.signal(EnrollmentWorkflow.late_bounce, bounce_of(1))
    final = await handle.result()

    assert [r.to_address for r, _ in harness.fakes.sends] == ["ann@example.com", WORK]
    assert final.status is ProspectStatus.COMPLETED


async def test_a_late_bounce_with_no_address_left_ends_bounced(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=2))
    await until(harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)

    await handle.signal(EnrollmentWorkflow.late_bounce, bounce_of(1))
    final = await handle.result()

    assert harness.fakes.positions_sent == [1]
    assert (final.status, final.reason) == (ProspectStatus.BOUNCED, "Bounced: 5.1.1 user unknown")
    assert final.steps[1].status is StepStatus.STOPPED


async def test_after_the_bounce_window_the_sequence_is_closed(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), fallback_addresses=[WORK])
    final = await handle.result()  # time skips through the window

    assert final.status is ProspectStatus.COMPLETED
    assert harness.fakes.positions_sent == [1]
    closed_after = await harness.env.get_current_time() - final.steps[0].sent_at  # type: ignore[operator]
    assert closed_after >= LATE_BOUNCE_WINDOW
    assert (await state_of(handle)).status is ProspectStatus.COMPLETED


async def test_a_reply_to_the_last_step_turns_completed_into_replied(harness: Harness) -> None:
    handle = await harness.start(timedelta(0))
    await until(harness, handle, lambda s: s.status is ProspectStatus.COMPLETED)
    await harness.env.sleep(timedelta(hours=5))

    await handle.signal(
        EnrollmentWorkflow.reply_received, InboundReply(key="reply-9", snippet="Thanks, yes")
    )
    final = await handle.result()

    assert harness.fakes.positions_sent == [1]
    assert (final.status, final.reply_snippet) == (ProspectStatus.REPLIED, "Thanks, yes")
    assert final.steps[0].status is StepStatus.SENT
    assert harness.fakes.recorded[-1].status is ProspectStatus.REPLIED  # the listing shows it


async def test_an_opt_out_stops_the_sequence_and_after_the_last_step_shows(
    harness: Harness,
) -> None:
    running = await harness.start(timedelta(0), timedelta(days=2))
    await until(harness, running, lambda s: s.steps[1].status is StepStatus.SCHEDULED)
    await running.signal(EnrollmentWorkflow.opt_out)
    stopped = await running.result()

    assert stopped.status is ProspectStatus.OPTED_OUT
    assert [s.status for s in stopped.steps] == [StepStatus.SENT, StepStatus.STOPPED]

    done = await harness.start(timedelta(0))
    await until(harness, done, lambda s: s.status is ProspectStatus.COMPLETED)
    await done.signal(EnrollmentWorkflow.opt_out)

    assert (await done.result()).status is ProspectStatus.OPTED_OUT
    assert harness.fakes.positions_sent == [1, 1]
