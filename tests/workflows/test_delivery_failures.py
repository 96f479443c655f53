"""What failed sends lead to, in one prospect's workflow (time skipping, scripted activities).

PRODUCT.md rule 8: transient failures retry then wait for a manual Retry; rate
limits defer; bounces move to the next address; a mailbox that needs
re-authentication parks its sequences until it is reconnected.
"""

from __future__ import annotations

from datetime import timedelta

from outbound.domain.statuses import ProspectStatus, StepStatus
from tests.workflows.harness import Harness


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
