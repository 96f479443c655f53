"""Properties of the slot reservation with every sending rule at once, against the store.

Random pools of one to three mailboxes (each with its own limit, gap, hours, warm-up
ramp and blackout dates, one maybe parked), random per-recipient-domain caps, a
campaign with its own blackout dates or a holiday calendar, and prospects of a few
domains in several time zones, each asking for two or three steps in the order
workflows would: whatever was drawn, the reservations the store holds keep every
rule. The oracle is the rules as a user states them, read back from the table.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from outbound.domain.prospects import ProspectCreate
from outbound.domain.schedule import WindowSpec
from outbound.domain.sending_rules import DomainCap
from outbound.domain.sequence import ReserveSlotRequest
from outbound.scheduling.blackouts import days_off
from outbound.scheduling.domain_caps import hour_of
from outbound.scheduling.windows import local_date
from outbound.store.engine import make_engine
from outbound.store.mailbox_slots import reserve_slot
from outbound.store.migrate import upgrade_schema
from outbound.store.prospects import upsert_prospects
from outbound.store.slots import mailbox_limits
from outbound.store.tables import Campaign, Enrollment, Mailbox, SlotReservation, Workspace
from tests.support.accounts import a_workspace

START = datetime(2026, 12, 14, 6, 0, tzinfo=UTC)  # a Monday, with Christmas ahead
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]
DOMAINS = ["gmail.com", "acme.example", "bolt.example", "outlook.com"]
_TEMPLATE: list[Path] = []


def empty_database(folder: Path) -> str:
    """A migrated SQLite file, copied from one migrated once per run."""
    if not _TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="rules-template-")) / "template.db"
        engine = make_engine(f"sqlite:///{template}")
        upgrade_schema(engine)
        engine.dispose()
        _TEMPLATE.append(template)
    path = folder / "rules.db"
    shutil.copy(_TEMPLATE[0], path)
    return f"sqlite:///{path}"


days_ahead = st.integers(0, 20).map(lambda n: (START.date() + timedelta(days=n)).isoformat())


@st.composite
def mailboxes(draw: st.DrawFn) -> list[dict[str, object]]:
    found = []
    for i in range(draw(st.integers(1, 3))):
        start_hour = draw(st.integers(6, 12))
        ramp = draw(st.none() | st.tuples(st.integers(1, 6), st.integers(0, 4)))
        found.append(
            {
                "from_address": f"m{i}@sender.example",
                "time_zone": draw(st.sampled_from(ZONES)),
                "daily_limit": draw(st.integers(2, 12)),
                "min_gap_seconds": 60 * draw(st.integers(0, 45)),
                "send_days": sorted(draw(st.sets(st.integers(0, 6), min_size=3))),
                "send_start": f"{start_hour:02d}:00",
                "send_end": f"{start_hour + draw(st.integers(2, 9)):02d}:00",
                "warmup_start": ramp[0] if ramp else None,
                "warmup_increment": ramp[1] if ramp else 0,
                "warmup_started_on": START.date() if ramp else None,
                "blackout_dates": sorted(draw(st.sets(days_ahead, max_size=4))),
                "holiday_calendar": draw(st.sampled_from([None, None, "DE", "US"])),
                "connection_state": draw(st.sampled_from(["connected"] * 4 + ["needs_reauth"])),
            }
        )
    return found


caps = st.integers(1, 4).flatmap(
    lambda hourly: st.builds(DomainCap, hourly=st.just(hourly), daily=st.integers(hourly, 9))
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    pool=mailboxes(),
    default_cap=caps,
    gmail_cap=caps,
    campaign_blackouts=st.sets(days_ahead, max_size=3),
    campaign_holidays=st.sampled_from([None, "GB", "FR"]),
    prospects=st.lists(
        st.tuples(st.sampled_from(DOMAINS), st.sampled_from(ZONES), st.integers(0, 60 * 24 * 3)),
        min_size=1,
        max_size=30,
    ),
    steps=st.integers(2, 3),
    delays=st.lists(st.integers(0, 60 * 24 * 2), min_size=2, max_size=2),
    order_seed=st.randoms(use_true_random=False),
)
def test_reservations_keep_every_sending_rule_together(
    pool: list[dict[str, object]],
    default_cap: DomainCap,
    gmail_cap: DomainCap,
    campaign_blackouts: set[str],
    campaign_holidays: str | None,
    prospects: list[tuple[str, str, int]],
    steps: int,
    delays: list[int],
    order_seed: object,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(empty_database(Path(folder)))
        try:
            world = build(
                engine, pool, default_cap, gmail_cap, campaign_blackouts, campaign_holidays,
                prospects,
            )  # fmt: skip
            asked = run_sequences(engine, world, prospects, steps, delays, order_seed)
            check(engine, world, pool, default_cap, gmail_cap, asked)
        finally:
            engine.dispose()


class World:
    def __init__(self, mailbox_ids: list[int], enrollments: list[int], windows: list[WindowSpec]):
        self.mailbox_ids = mailbox_ids
        self.enrollments = enrollments
        self.windows = windows


def build(
    engine: object,
    pool: list[dict[str, object]],
    default_cap: DomainCap,
    gmail_cap: DomainCap,
    campaign_blackouts: set[str],
    campaign_holidays: str | None,
    prospects: list[tuple[str, str, int]],
) -> World:
    with Session(engine) as session:  # type: ignore[arg-type]
        ws, owner = a_workspace(session)
        workspace = session.get_one(Workspace, ws)
        workspace.domain_hourly_cap = default_cap.hourly
        workspace.domain_daily_cap = default_cap.daily
        workspace.domain_caps = {"gmail.com": gmail_cap.model_dump()}
        made = [
            Mailbox(workspace_id=ws, smtp_host="h", smtp_port=25, tls_mode="none", **fields)
            for fields in pool
        ]
        session.add_all(made)
        session.flush()
        ids = [m.id or 0 for m in made]
        campaign = Campaign(
            workspace_id=ws,
            name="pool",
            owner_user_id=owner,
            mailbox_id=ids[0],
            mailbox_pool=ids if len(ids) > 1 else [],
            status="InProgress",
            grace_seconds=0,
            holiday_calendar=campaign_holidays,
            blackout_dates=sorted(campaign_blackouts),
        )
        session.add(campaign)
        session.flush()
        people = upsert_prospects(
            session,
            ws,
            [
                ProspectCreate(addresses=[{"address": f"p{i}@{domain}"}])  # type: ignore[list-item]
                for i, (domain, _, _) in enumerate(prospects)
            ],
        )
        enrollments = [
            Enrollment(
                workspace_id=ws, campaign_id=campaign.id or 0, prospect_id=pid, status="Active"
            )
            for pid in people
        ]
        session.add_all(enrollments)
        session.commit()
        windows = [
            WindowSpec(zone_name=zone_name, weekdays=[0, 1, 2, 3, 4], start=time(8), end=time(18))
            for _, zone_name, _ in prospects
        ]
        return World(ids, [e.id or 0 for e in enrollments], windows)


def run_sequences(
    engine: object,
    world: World,
    prospects: list[tuple[str, str, int]],
    steps: int,
    delays: list[int],
    order_seed: object,
) -> dict[str, datetime]:
    """Each prospect's steps in order, the prospects interleaved as their slots come due:
    the next step is asked for at the previous slot plus its delay. Returns each
    reservation's not_before by key."""
    ready = [
        (START + timedelta(minutes=offset), i, 1) for i, (_, _, offset) in enumerate(prospects)
    ]
    order_seed.shuffle(ready)  # type: ignore[attr-defined]
    asked: dict[str, datetime] = {}
    while ready:
        ready.sort(key=lambda r: r[0])
        not_before, i, position = ready.pop(0)
        domain = prospects[i][0]
        request = ReserveSlotRequest(
            key=f"{world.enrollments[i]}:{position}:1",
            enrollment_id=world.enrollments[i],
            position=position,
            mailbox_id=world.mailbox_ids[0],
            to_address=f"p{i}@{domain}",
            not_before=not_before,
            window=world.windows[i],
        )
        slot = reserve_slot(engine, request)  # type: ignore[arg-type]
        asked[request.key] = not_before
        if position < steps:
            ready.append((slot + timedelta(minutes=delays[position - 1]), i, position + 1))
    return asked


def check(
    engine: object,
    world: World,
    pool: list[dict[str, object]],
    default_cap: DomainCap,
    gmail_cap: DomainCap,
    asked: dict[str, datetime],
) -> None:
    with Session(engine) as session:  # type: ignore[arg-type]
        held = session.exec(select(SlotReservation).order_by(col(SlotReservation.slot_at))).all()
        campaign = session.exec(select(Campaign)).one()
        assigned = dict(session.exec(select(Enrollment.id, Enrollment.mailbox_id)).all())
        stored = {m.id: m for m in session.exec(select(Mailbox)).all()}
    assert len(held) == len(asked)
    by_mailbox: dict[int, list[SlotReservation]] = defaultdict(list)
    mailboxes_of: dict[int, set[int]] = defaultdict(set)
    for row in held:
        by_mailbox[row.mailbox_id].append(row)
        mailboxes_of[row.enrollment_id].add(row.mailbox_id)
        assert row.slot_at >= asked[row.key]  # never before it is due
    # Every prospect of the pool on exactly one mailbox, the one they were given.
    for enrollment_id, used in mailboxes_of.items():
        assert len(used) == 1 and assigned[enrollment_id] in used, (enrollment_id, used)
    # A parked mailbox gets no prospect while a connected one is in the pool.
    connected = {m for m in world.mailbox_ids if stored[m].connection_state == "connected"}
    if connected:
        assert {m for m in mailboxes_of.values() for m in m} <= connected
    first_day = START.date()
    campaign_days = days_off(campaign.holiday_calendar, campaign.blackout_dates, first_day)
    for mailbox_id, rows in by_mailbox.items():
        mailbox = stored[mailbox_id]
        limits = mailbox_limits(mailbox)
        zone_name = limits.zone_name
        slots = [row.slot_at for row in rows]
        # Never over the day's (ramped) limit.
        per_day = Counter(local_date(s, zone_name) for s in slots)
        for day, count in per_day.items():
            assert count <= limits.limit_on(day), (mailbox_id, day, count)
        # Never closer than the gap (nor the spreading distance).
        for a, b in itertools.pairwise(slots):
            assert b - a >= limits.spacing, (mailbox_id, a, b)
        # Never on the mailbox's days off.
        own_days = days_off(mailbox.holiday_calendar, mailbox.blackout_dates, first_day)
        assert not {local_date(s, zone_name) for s in slots} & own_days
        # Never over a recipient domain's cap: per UTC hour and per mailbox-local day.
        for domain in DOMAINS:
            cap = gmail_cap if domain == "gmail.com" else default_cap
            mine = [row.slot_at for row in rows if row.to_domain == domain]
            assert max(Counter(hour_of(s) for s in mine).values(), default=0) <= cap.hourly
            days = Counter(local_date(s, zone_name) for s in mine)
            assert max(days.values(), default=0) <= cap.daily
    # Never in a closed hour of the prospect's window, nor on the campaign's days off.
    position_of = {e: i for i, e in enumerate(world.enrollments)}
    for row in held:
        window = world.windows[position_of[row.enrollment_id]].to_window()
        assert window.contains(row.slot_at), row
        assert local_date(row.slot_at, window.zone_name) not in campaign_days
