"""What failed sends lead to, in one prospect's workflow (time skipping, scripted activities).

PRODUCT.md rule 8: transient failures retry then wait for a manual Retry; rate
limits defer; bounces move to the next address; a mailbox that needs
re-authentication parks its sequences until it is reconnected.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from temporalio.client import WorkflowUpdateFailedError

from outbound.domain.sequence import RetryRequest, SendFailure
from outbound.domain.statuses import ProspectStatus, StepStatus
from outbound.workflows.enrollment import RETRY_WINDOW, EnrollmentWorkflow
from tests.workflows.harness import Harness, until


async def test_two_transient_failures_then_success_sends_once(harness: Harness) -> None:
    harness.fakes.failures = ["transient", "transient"]
    handle = await harness.start(timedelta(0))

    final = await handle.result()

    assert [p for p, _ in harness.fakes.attempts] == [1, 1, 1]
    assert harness.fakes.positions_sent == [1]
    assert final.status is ProspectStatus.COMPLETED


async def test_three_transient_failures_fail_the_step_with_too_many_retries(
    harness: Harness,
) -> None:
    harness.fakes.failures = ["transient"] * 3
    handle = await harness.start(timedelta(0), timedelta(days=1))

    final = await handle.result()

    assert len(harness.fakes.attempts) == 3 and harness.fakes.sends == []
    assert (final.status, final.reason) == (ProspectStatus.FAILED, "TooManyRetries")
    assert [s.status for s in final.steps] == [StepStatus.FAILED, StepStatus.STOPPED]


async def test_a_hard_bounce_ends_the_prospect_bounced_without_retrying(harness: Harness) -> None:
    harness.fakes.failures = ["hard_bounce"]
    handle = await harness.start(timedelta(0), timedelta(days=1))

    final = await handle.result()

    assert len(harness.fakes.attempts) == 1
    assert final.status is ProspectStatus.BOUNCED
    assert final.reason is not None and "hard_bounce as scripted" in final.reason


async def test_a_bounce_sends_the_same_step_to_the_next_allowed_address(harness: Harness) -> None:
    harness.fakes.failures = ["hard_bounce"]
    handle = await harness.start(
        timedelta(0), timedelta(days=1), fallback_addresses=["ann@work.example.com"]
    )

    final = await handle.result()

    assert [(r.position, r.to_address) for r, _ in harness.fakes.sends] == [
        (1, "ann@work.example.com"),
        (2, "ann@work.example.com"),
    ]
    assert final.status is ProspectStatus.COMPLETED
    assert final.bounced_addresses == ["ann@example.com"]
    released = harness.fakes.releases[0]
    assert (released.to_address, released.message_status) == ("ann@example.com", None)


async def test_a_bounce_with_every_allowed_address_tried_ends_bounced(harness: Harness) -> None:
    harness.fakes.failures = ["hard_bounce", "hard_bounce"]
    handle = await harness.start(timedelta(0), fallback_addresses=["ann@work.example.com"])

    final = await handle.result()

    assert harness.fakes.sends == []
    assert final.status is ProspectStatus.BOUNCED
    assert final.bounced_addresses == ["ann@example.com", "ann@work.example.com"]


async def test_an_unknown_outcome_is_never_resent(harness: Harness) -> None:
    harness.fakes.failures = ["unknown"]
    handle = await harness.start(timedelta(0))

    final = await handle.result()

    assert len(harness.fakes.attempts) == 1
    assert (final.status, final.reason) == (ProspectStatus.FAILED, "Unconfirmed")


async def test_a_rate_limit_answer_defers_to_a_new_slot_without_counting_a_failure(
    harness: Harness,
) -> None:
    harness.fakes.failures = ["rate_limited"]
    handle = await harness.start(timedelta(0))

    final = await handle.result()

    (_, refused_at), (_, sent_at) = harness.fakes.attempts
    assert sent_at - refused_at >= timedelta(hours=1)
    assert [r.key for r in harness.fakes.reservations] == ["7:1:1", "7:1:2"]
    assert final.status is ProspectStatus.COMPLETED


async def test_prospect_without_an_address_fails_with_no_address_and_no_send(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), to_address=None)
    final = await handle.result()

    assert harness.fakes.sends == []
    assert final.status is ProspectStatus.FAILED
    assert final.reason == "NoAddress"


async def test_three_failures_then_a_manual_retry_delivers_once(harness: Harness) -> None:
    harness.fakes.failures = ["transient"] * 3
    handle = await harness.start(timedelta(0), timedelta(days=1))
    failed = await until(harness, handle, lambda s: s.awaiting_retry)
    assert (failed.status, failed.reason) == (ProspectStatus.FAILED, "TooManyRetries")
    assert failed.steps[0].status is StepStatus.FAILED

    await harness.env.sleep(timedelta(days=3))  # the user comes back later
    retried = await handle.execute_update(EnrollmentWorkflow.retry, RetryRequest())
    final = await handle.result()

    assert retried.status is not ProspectStatus.FAILED
    assert harness.fakes.positions_sent == [1, 2]
    assert len(harness.fakes.attempts) == 5  # 3 failed, then one send per step
    assert final.status is ProspectStatus.COMPLETED
    assert [r.key for r in harness.fakes.reservations][:2] == ["7:1:1", "7:1:2"]


async def test_retry_is_refused_unless_the_prospect_failed(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(minutes=1))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(EnrollmentWorkflow.retry, RetryRequest())

    assert "only a Failed prospect can be retried" in str(refused.value.cause)
    assert (await handle.result()).status is ProspectStatus.COMPLETED


async def test_nobody_retrying_within_thirty_days_ends_the_sequence_failed(
    harness: Harness,
) -> None:
    harness.fakes.failures = ["spam"]
    handle = await harness.start(timedelta(0), timedelta(days=1))

    final = await handle.result()
    ended_after = await harness.env.get_current_time() - harness.started_at

    assert (final.status, final.reason, final.awaiting_retry) == (
        ProspectStatus.FAILED,
        "Spam",
        False,
    )
    assert ended_after >= RETRY_WINDOW
    assert [s.status for s in final.steps] == [StepStatus.FAILED, StepStatus.STOPPED]


async def test_an_invalid_address_moves_to_the_next_one_and_is_checked_once(
    harness: Harness,
) -> None:
    harness.fakes.invalid["ann@example.com"] = "invalid: the domain example.com has no mail server"
    handle = await harness.start(
        timedelta(0), timedelta(days=1), fallback_addresses=["ann@work.example.com"]
    )

    final = await handle.result()

    assert [r.to_address for r, _ in harness.fakes.sends] == ["ann@work.example.com"] * 2
    assert harness.fakes.checked == ["ann@example.com", "ann@work.example.com"]
    assert final.invalid_addresses == ["ann@example.com"]
    assert "no mail server" in final.address_checks["ann@example.com"]


async def test_no_valid_address_fails_and_a_retry_that_bypasses_validation_sends(
    harness: Harness,
) -> None:
    harness.fakes.invalid["ann@example.com"] = "invalid: the domain does not exist"
    handle = await harness.start(timedelta(0))
    failed = await until(harness, handle, lambda s: s.awaiting_retry)
    assert (failed.status, failed.reason) == (ProspectStatus.FAILED, "NoAddress")
    assert "ann@example.com (invalid: the domain does not exist)" in (failed.steps[0].reason or "")

    await handle.execute_update(EnrollmentWorkflow.retry, RetryRequest())
    again = await until(harness, handle, lambda s: s.awaiting_retry)
    assert (again.status, again.reason) == (ProspectStatus.FAILED, "NoAddress")
    assert harness.fakes.sends == []

    await handle.execute_update(EnrollmentWorkflow.retry, RetryRequest(bypass_validation=True))
    final = await handle.result()

    assert [r.to_address for r, _ in harness.fakes.sends] == ["ann@example.com"]
    assert final.status is ProspectStatus.COMPLETED
    assert harness.fakes.checked == ["ann@example.com"]


async def test_a_full_mailbox_is_tried_daily_then_treated_as_a_bounce(harness: Harness) -> None:
    harness.fakes.failures = ["mailbox_full"] * 3
    handle = await harness.start(timedelta(0), fallback_addresses=["ann@work.example.com"])

    final = await handle.result()

    tries = [when for _, when in harness.fakes.attempts[:3]]
    assert all(later - earlier >= timedelta(days=1) for earlier, later in pairwise(tries))
    assert [r.to_address for r, _ in harness.fakes.sends] == ["ann@work.example.com"]
    assert final.bounced_addresses == ["ann@example.com"]
    assert final.status is ProspectStatus.COMPLETED


async def test_a_provider_limit_waits_until_the_time_it_names(harness: Harness) -> None:
    lifts_at = (await harness.env.get_current_time()) + timedelta(hours=30)
    harness.fakes.failures = [("rate_limited", SendFailure(not_before=lifts_at))]
    handle = await harness.start(timedelta(0))

    final = await handle.result()

    (_, sent_at) = harness.fakes.attempts[-1]
    assert sent_at >= lifts_at
    assert final.status is ProspectStatus.COMPLETED
    assert len(harness.fakes.sends) == 1


async def test_a_stop_seen_at_the_last_look_ends_the_sequence_without_a_send(
    harness: Harness,
) -> None:
    harness.fakes.failures = [("Halted", SendFailure(ends_as=ProspectStatus.REPLIED))]
    handle = await harness.start(timedelta(0), timedelta(days=1))

    final = await handle.result()

    assert harness.fakes.sends == []
    assert final.status is ProspectStatus.REPLIED
    assert [s.status for s in final.steps] == [StepStatus.STOPPED, StepStatus.STOPPED]


async def test_changing_the_address_sends_the_next_step_there(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=2))
    await until(harness, handle, lambda s: s.steps[0].status is StepStatus.SENT)

    await handle.signal(EnrollmentWorkflow.change_address, "ann@new.example.com")
    final = await handle.result()

    assert [r.to_address for r, _ in harness.fakes.sends] == [
        "ann@example.com",
        "ann@new.example.com",
    ]
    assert harness.fakes.checked == ["ann@example.com", "ann@new.example.com"]
    assert final.override_address == "ann@new.example.com"
