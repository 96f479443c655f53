"""The campaign every drill runs, and the checks every drill ends with.

Nothing lost, nothing sent twice, limits held — counted at the SMTP sink (what
a recipient would see) and in the database (what the user sees):

* each prospect got each step exactly once, counted by Message-ID and by
  (recipient, subject); a prospect whose every address was refused for good
  is Bounced instead and got nothing;
* no mailbox sent more than its daily limit on any day;
* every prospect ended Completed (or Bounced, where that was planned), and the
  database shows the same number of Sent messages as the sink received.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date

import httpx
from sqlmodel import Session, col, func, select

from bench.stack import EmbeddedStack, poll_until
from outbound.devstack.sink import SinkHandler
from outbound.domain.statuses import MessageStatus
from outbound.store.tables import Enrollment, Message, SlotReservation
from tests.support.factories import CONSENT

CHUNK = 1_000
DOMAIN = "drill.example.com"
SUBJECT = re.compile(r"Step (\d+) for P(\d+)")
SETTLED = frozenset({"Completed", "Bounced", "Failed", "Stopped", "Replied", "OptedOut"})


@dataclass
class Check:
    """One line of a drill's verdict."""

    name: str
    passed: bool
    detail: str


@dataclass
class Plan:
    """The campaign a drill runs."""

    prospects: int
    steps: int = 2
    # Sends are paced over the day (limit / window), so a limit that binds would
    # stretch a drill over days of real time; the time-skipping properties and
    # bench.month_of_campaign hold binding limits. Here the ledger is checked.
    daily_limit: int = 1_000_000
    slots_match_sends: bool = True  # False where Failed attempts keep their slots counted
    # prospect index -> its addresses; default one address p{i}@drill.example.com
    addresses: Callable[[int], list[str]] = field(default=lambda index: [f"p{index}@{DOMAIN}"])


async def launch(stack: EmbeddedStack, plan: Plan) -> int:
    """Mailbox on the sink, an N-step campaign (no delays, no grace), N prospects, Start."""
    mailbox = await stack.api.post(
        "/mailboxes",
        json={
            "smtp_host": "127.0.0.1",
            "smtp_port": stack.sink_port,
            "tls_mode": "none",
            "from_address": "ada@hiring.example.com",
            "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "send_start": "00:00",
            "send_end": "24:00",
            "min_gap_seconds": 0,
            "daily_limit": plan.daily_limit,
        },
    )
    mailbox.raise_for_status()
    steps = [
        {"subject": f"Step {n} for {{{{ first_name }}}}", "body": f"Note {n}.", "delay_minutes": 0}
        for n in range(1, plan.steps + 1)
    ]
    steps[0].pop("delay_minutes")
    campaign = await stack.api.post(
        "/campaigns",
        json={
            "name": "Drill",
            "mailbox_id": mailbox.json()["id"],
            "grace_seconds": 0,
            "steps": steps,
        },
    )
    campaign.raise_for_status()
    campaign_id: int = campaign.json()["id"]
    for first in range(0, plan.prospects, CHUNK):
        people = [
            {
                "first_name": f"P{i}",
                "addresses": [{"address": a} for a in plan.addresses(i)],
            }
            for i in range(first, min(first + CHUNK, plan.prospects))
        ]
        added = await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)
        if added.status_code != 201:
            raise RuntimeError(f"adding prospects: {added.status_code} {added.text}")
    started = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    if started.status_code != 202:
        raise RuntimeError(f"Start: {started.status_code} {started.text}")
    return campaign_id


async def counts(stack: EmbeddedStack, campaign_id: int) -> dict[str, int]:
    view = await stack.api.get(f"/campaigns/{campaign_id}", params={"limit": 1})
    return {str(k): int(v) for k, v in view.json()["counts"].items()}


async def settle(
    stack: EmbeddedStack,
    campaign_id: int,
    plan: Plan,
    within: float,
    meanwhile: Callable[[float], Awaitable[None]] | None = None,
) -> float:
    """Seconds until every prospect has ended; ``meanwhile(elapsed)`` runs between polls
    (that is where a drill kills and restarts things)."""
    began = time.perf_counter()

    async def ended() -> int:
        if meanwhile is not None:
            await meanwhile(time.perf_counter() - began)
        found = await counts(stack, campaign_id)
        return sum(n for status, n in found.items() if status in SETTLED)

    return await poll_until(
        began, ended, lambda n: n >= plan.prospects, "every prospect ended", within
    )


@dataclass
class Unconfirmed:
    """Sends cut off after the message was handed over (Failed, Unconfirmed), and what the
    drill did about each, as a user would after looking in the mailbox's Sent folder."""

    found_at_sink_skipped: int = 0
    missing_retried: int = 0

    @property
    def total(self) -> int:
        return self.found_at_sink_skipped + self.missing_retried

    def describe(self) -> str:
        if not self.total:
            return "no send was cut off after handing its message over"
        return (
            f"{self.total} send(s) cut off after handing the message over were not resent "
            f"(Unconfirmed); {self.found_at_sink_skipped} found at the sink, skipped by the "
            f"user; {self.missing_retried} not there, retried by the user"
        )


async def settle_resolving_unconfirmed(
    stack: EmbeddedStack,
    campaign_id: int,
    plan: Plan,
    within: float,
    meanwhile: Callable[[float], Awaitable[None]] | None = None,
) -> Unconfirmed:
    """``settle``, then ``skip_or_retry_unconfirmed`` and settle again, until no step is
    left Unconfirmed. ``meanwhile`` runs in every settle: a kill planned at a message that
    can only go once the user has resolved the Unconfirmed sends of an earlier kill still
    happens (at 40 prospects, the second kill at message 73 of 80 waited for them)."""
    outcome = Unconfirmed()
    await settle(stack, campaign_id, plan, within, meanwhile)
    for _ in range(5):
        done = await skip_or_retry_unconfirmed(stack.api, stack.handler, campaign_id)
        if not done.total:
            break
        outcome.found_at_sink_skipped += done.found_at_sink_skipped
        outcome.missing_retried += done.missing_retried
        await poll_until(
            time.perf_counter(),
            lambda: counts(stack, campaign_id),
            lambda found: not found.get("Failed"),
            "skip / retry mirrored",
            60,
        )
        await settle(stack, campaign_id, plan, within, meanwhile)
    return outcome


async def skip_or_retry_unconfirmed(
    api: httpx.AsyncClient, sink: SinkHandler, campaign_id: int
) -> Unconfirmed:
    """What a user does with each step left Unconfirmed: skip it if the message is in the
    mailbox (here: at the sink), retry it if not. Subjects read "Step N for <name>", as
    ``launch`` writes them."""
    view = await api.get(f"/campaigns/{campaign_id}", params={"status": "Failed", "limit": 1000})
    failed = [p for p in view.json()["prospects"] if p["reason"] == "Unconfirmed"]
    at_sink = {str(got.message["Subject"]) for got in sink.received}
    skip: list[int] = []
    retry: list[int] = []
    for prospect in failed:
        position = next(s["position"] for s in prospect["steps"] if s["status"] == "Failed")
        subject = f"Step {position} for {prospect['name']}"
        (skip if subject in at_sink else retry).append(prospect["prospect_id"])
    for action, ids in (("skip_step", skip), ("retry", retry)):
        if ids:
            answer = await api.post(
                f"/campaigns/{campaign_id}/bulk", json={"action": action, "prospect_ids": ids}
            )
            answer.raise_for_status()
            if answer.json()["refused"]:
                raise RuntimeError(f"{action} refused: {answer.json()['refused'][:3]}")
    return Unconfirmed(found_at_sink_skipped=len(skip), missing_retried=len(retry))


def verdict(
    stack: EmbeddedStack,
    campaign_id: int,
    plan: Plan,
    found: dict[str, int],
    bounced: set[int],
    retried_attempts: int = 0,
) -> list[Check]:
    """Nothing lost, nothing sent twice, limits held (``bounced``: prospects meant to end
    Bounced because every address of theirs is refused for good; ``retried_attempts``:
    failed attempts the user retried, whose first slot stays counted by design, since an
    attempt may have reached the server)."""
    received = [got for got in stack.handler.received if got.envelope_to[0].endswith(DOMAIN)]
    by_message_id = Counter(str(got.message["Message-ID"]) for got in received)
    by_recipient_subject = Counter(
        (got.envelope_to[0], str(got.message["Subject"])) for got in received
    )
    twice = [key for key, seen in by_message_id.items() if seen > 1]
    twice += [str(key) for key, seen in by_recipient_subject.items() if seen > 1]
    steps_by_prospect: dict[int, set[int]] = {}
    for got in received:
        matched = SUBJECT.fullmatch(str(got.message["Subject"]))
        if matched is None:
            raise RuntimeError(f"a message the drill did not plan: {got.message['Subject']!r}")
        steps_by_prospect.setdefault(int(matched[2]), set()).add(int(matched[1]))
    every_step = set(range(1, plan.steps + 1))
    missing = [
        index
        for index in range(plan.prospects)
        if index not in bounced and steps_by_prospect.get(index) != every_step
    ]
    wrongly_sent = [index for index in bounced if index in steps_by_prospect]
    per_day = Counter(
        got.message["Date"].datetime.astimezone(UTC).date()  # type: ignore[union-attr]
        for got in received
    )
    busiest = max(per_day.values(), default=0)
    sent_in_database, unconfirmed, slots_by_day = _ledger(stack, campaign_id)
    accounted = sent_in_database + unconfirmed
    slots_counted = sum(slots_by_day.values())
    busiest_slots = max(slots_by_day.values(), default=0)
    expected_end = {"Completed": plan.prospects - len(bounced)}
    if bounced:
        expected_end["Bounced"] = len(bounced)
    checks = [
        Check(
            "each prospect got each step exactly once",
            not missing and not wrongly_sent,
            f"{len(received):,} messages for {plan.prospects:,} prospects × {plan.steps} steps"
            + (f"; {len(bounced)} bounced for good got none" if bounced else "")
            + (f"; MISSING for {len(missing)} e.g. P{missing[:5]}" if missing else "")
            + (f"; SENT to {len(wrongly_sent)} meant to bounce" if wrongly_sent else ""),
        ),
        Check(
            "nothing sent twice (by Message-ID and by recipient + subject)",
            not twice,
            "none twice" if not twice else f"{len(twice)} twice, e.g. {twice[:3]}",
        ),
        Check(
            "daily limit held (sink and slot ledger)",
            busiest <= plan.daily_limit and busiest_slots <= plan.daily_limit,
            f"busiest day {busiest:,} at the sink, {busiest_slots:,} slots counted, "
            f"of a limit of {plan.daily_limit:,}",
        ),
        Check(
            "every prospect ended as planned",
            {k: v for k, v in found.items() if v} == expected_end,
            f"database: {found}",
        ),
        Check(
            "the database's messages match the sink (Sent, and Unconfirmed the user skipped)",
            accounted == len(received),
            f"{sent_in_database:,} Sent + {unconfirmed:,} Unconfirmed in the database, "
            f"{len(received):,} at the sink",
        ),
    ]
    if plan.slots_match_sends:
        checks.append(
            Check(
                "each message that went holds exactly one slot (none leaked by a retry)",
                slots_counted == accounted + retried_attempts,
                f"{slots_counted:,} slots counted, {accounted:,} messages went"
                + (f", {retried_attempts} attempts retried" if retried_attempts else ""),
            )
        )
    return checks


def _ledger(stack: EmbeddedStack, campaign_id: int) -> tuple[int, int, dict[date, int]]:
    """Messages Sent in the database; messages Unconfirmed (cut off after handing over,
    never resent); slots counted towards the limit per mailbox day."""
    with Session(stack.engine) as session:
        in_campaign = (
            select(func.count())
            .select_from(Message)
            .join(Enrollment, col(Enrollment.id) == Message.enrollment_id)
            .where(Enrollment.campaign_id == campaign_id)
        )
        sent = session.exec(in_campaign.where(Message.status == MessageStatus.SENT)).one()
        unconfirmed = session.exec(
            in_campaign.where(
                Message.status == MessageStatus.FAILED,
                col(Message.failure_reason).startswith("unknown:"),
            )
        ).one()
        slots = session.exec(
            select(col(SlotReservation.slot_day), func.count())
            .join(Enrollment, col(Enrollment.id) == SlotReservation.enrollment_id)
            .where(
                Enrollment.campaign_id == campaign_id,
                col(SlotReservation.released_at).is_(None),
            )
            .group_by(col(SlotReservation.slot_day))
        ).all()
    return sent, unconfirmed, {day: n for day, n in slots}
