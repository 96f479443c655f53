"""Forecast a campaign's sends before it starts, the way its workflows will schedule them.

Each prospect asks for step 1's slot at Start and for each later step's slot
when the previous step goes out; the forecast replays exactly that, in time
order, against the mailbox's existing reservations, with the same pure
functions the workflows call. Jitter is taken at its midpoint, so real sends
land within ±20 minutes of the forecast where limits allow.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from outbound.scheduling.senders import Senders
from outbound.scheduling.when_to_send import WhenToSend, first_send, follow_up
from outbound.scheduling.windows import Window, local_date, zone

MIDPOINT_JITTER = 0.5


@dataclass(frozen=True)
class ProspectPlan:
    """One prospect to forecast, with the window its workflow will use (the campaign's
    days off taken out) and their address's domain (for the per-domain caps)."""

    prospect_id: int
    window: Window
    domain: str | None = None


@dataclass(frozen=True)
class StepSummary:
    """When one step goes out across the campaign."""

    position: int
    first: datetime
    last: datetime
    busiest_day: int


def forecast(
    senders: Senders,
    prospects: Sequence[ProspectPlan],
    delays: Sequence[timedelta],
    started_at: datetime,
    grace: timedelta,
    when_to_send: WhenToSend,
    specific_time: time | None = None,
    manual_tasks: frozenset[int] = frozenset(),
) -> dict[int, list[datetime]]:
    """Send time of every step for every prospect (prospect id → times by step).

    Steps whose index is in ``manual_tasks`` take no mailbox slot: they come due
    in the send window and are assumed done at once (the soonest the next step
    can go). A pool campaign's prospect is given a mailbox at their first slot, as the
    reservation activity gives it (``Senders``).
    """
    plan: dict[int, list[datetime]] = {p.prospect_id: [] for p in prospects}
    windows = {p.prospect_id: p.window for p in prospects}
    domains = {p.prospect_id: p.domain for p in prospects}
    ready = [(started_at, order, p.prospect_id) for order, p in enumerate(prospects)]
    heapq.heapify(ready)
    while ready:
        ready_at, order, prospect_id = heapq.heappop(ready)
        window, sent = windows[prospect_id], plan[prospect_id]
        first = first_send(
            started_at, grace, when_to_send, window.zone_name, MIDPOINT_JITTER, specific_time
        )
        if not sent:
            due = first.due
        else:
            due = follow_up(
                sent[-1],
                sent[0],
                delays[len(sent)],
                first.follow_up,
                window.zone_name,
                MIDPOINT_JITTER,
            )
        if len(sent) in manual_tasks:
            slot = window.next_opening(max(due, ready_at))
        else:
            slot = senders.reserve(prospect_id, max(due, ready_at), window, domains[prospect_id])
        sent.append(slot)
        if len(sent) < len(delays):
            heapq.heappush(ready, (slot, order, prospect_id))
    return plan


def summarize(plan: dict[int, list[datetime]], zone_name: str, steps: int) -> list[StepSummary]:
    """First and last send of each step, and its busiest mailbox day."""
    summaries = []
    for index in range(steps):
        times = [sends[index] for sends in plan.values() if len(sends) > index]
        if not times:
            continue
        per_day: Counter[date] = Counter(local_date(t, zone_name) for t in times)
        summaries.append(StepSummary(index + 1, min(times), max(times), max(per_day.values())))
    return summaries


def describe(summaries: Sequence[StepSummary], prospects: int, zone_name: str) -> str:
    """E.g. "1,000 prospects: step 1 from Mon 24 Nov to Fri 12 Dec at up to 50/day; …"."""

    def day(at: datetime) -> str:
        return at.astimezone(zone(zone_name)).strftime("%a %d %b")

    parts = [
        f"step {s.position} from {day(s.first)} to {day(s.last)} at up to {s.busiest_day}/day"
        for s in summaries
    ]
    return f"{prospects:,} prospect{'s' if prospects != 1 else ''}: " + "; ".join(parts)
