"""Reports apply in any order and any number of times: the furthest one stands."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from outbound.domain.statuses import MessageStatus as M
from outbound.sms.lifecycle import TIMED_OUT, advances, from_provider, is_final

REPORTS = [(M.SENDING, None), (M.SENT, None), (M.DELIVERED, None), (M.FAILED, "30003")]


def settle(reports: list[tuple[M, str | None]]) -> tuple[M, str | None]:
    current: tuple[M, str | None] = (M.QUEUED, None)
    for status, reason in reports:
        if advances(*current, status, reason):
            current = (status, reason)
    return current


@given(st.lists(st.sampled_from(REPORTS[:3]), min_size=1, max_size=8))
def test_delivered_reports_in_any_order_and_repeated_end_at_the_furthest(
    reports: list[tuple[M, str | None]],
) -> None:
    furthest = max(reports, key=lambda r: [M.SENDING, M.SENT, M.DELIVERED].index(r[0]))
    assert settle(reports) == furthest


def test_a_late_sent_never_undoes_delivered_and_a_report_replaces_a_guess() -> None:
    assert not advances(M.DELIVERED, None, M.SENT)
    assert not advances(M.FAILED, "30003", M.DELIVERED)
    assert advances(M.ASSUMED_DELIVERED, None, M.DELIVERED)
    assert advances(M.FAILED, TIMED_OUT, M.DELIVERED)
    assert not advances(M.ASSUMED_DELIVERED, None, M.SENT)
    assert not advances(M.FAILED, TIMED_OUT, M.ASSUMED_DELIVERED)
    assert is_final(M.ASSUMED_DELIVERED) and not is_final(M.SENT)


def test_every_order_of_every_report_settles_the_same() -> None:
    for order in itertools.permutations(REPORTS):
        assert settle(list(order)) in {(M.DELIVERED, None), (M.FAILED, "30003")}


def test_twilio_status_names() -> None:
    assert from_provider("queued") is M.SENDING
    assert from_provider("Delivered") is M.DELIVERED
    assert from_provider("undelivered") is M.FAILED
    assert from_provider("receiving") is None
