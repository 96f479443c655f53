"""Mailbox rotation end to end (issue 30): a campaign sends from a pool of three mailboxes
to 300 prospects, two steps each (step 2 replies in step 1's thread), and one mailbox's
password is changed at the mail server in the middle of the run.

Real stack: API → Temporal dev server → worker → aiosmtplib → aiosmtpd → database. The
SMTP server knows each account's password and refuses any other, so a changed password
is a refused login exactly as a provider answers it. The first 150 prospects start
together; once the changed mailbox is parked, 150 more join the running campaign (they
must all go to the two other mailboxes), then the user reconnects the mailbox with its
new password and every sequence finishes.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr
from itertools import pairwise
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlmodel import Session as DbSession
from sqlmodel import col, select

from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.devstack.sink import ReceivedMessage
from outbound.scheduling.windows import local_date
from outbound.store.tables import Enrollment, Message
from tests.e2e.conftest import Stack
from tests.support.factories import CONSENT
from tests.support.polling import eventually
from tests.support.sinks import running_sink

pytestmark = pytest.mark.e2e

USERS = ["ada", "bea", "cy"]  # the pool's three accounts at the one SMTP server
CHANGED = "bea"  # the account whose password its owner changes mid-run
OLD, NEW = "old-app-password", "new-app-password"
FIRST_BATCH = 150  # enrolled before Start
SECOND_BATCH = 150  # joins the running campaign while the changed mailbox is parked
CHANGE_AFTER = 45  # messages accepted before the password changes (of 150 first messages)
DAILY_LIMIT = 1_000_000  # the API's most: the limit spreads a day's sends 86.4 ms apart
MIN_GAP_SECONDS = 0
STEPS = [
    {"subject": "A role for {{ first_name }}", "body": "Hi {{ first_name }}, a role."},
    {"subject": "unused", "body": "Following up, {{ first_name }}.", "thread_mode": "same_thread"},
]


@dataclass(frozen=True)
class Login:
    """One AUTH the server answered."""

    user: str
    password: str
    at: float  # time.monotonic() when answered


@dataclass(frozen=True)
class Arrival:
    """One message the server accepted, with the login of its session."""

    message: ReceivedMessage
    login: Login
    at: float

    @property
    def recipient(self) -> str:
        return self.message.envelope_to[0]

    @property
    def subject(self) -> str:
        return str(self.message.message["Subject"])

    @property
    def from_address(self) -> str:
        return parseaddr(str(self.message.message["From"]))[1]


class AccountsSink(FaultSinkHandler):
    """The SMTP server of the pool's accounts: a login must carry the account's current
    password. Once ``change_after`` messages are in, ``CHANGED``'s owner changes its
    password here (the old one is refused from then on, as a provider refuses it)."""

    def __init__(self) -> None:
        super().__init__()
        self.passwords = dict.fromkeys(USERS, OLD)
        self.accepted: list[Login] = []
        self.refused: list[Login] = []
        self.arrivals: list[Arrival] = []
        self.changed_at: float | None = None

    def authenticate(
        self, _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = Login(data.login.decode(), data.password.decode(), time.monotonic())
        if self.passwords.get(login.user) != login.password:
            self.refused.append(login)
            return AuthResult(success=False, handled=False)
        self.accepted.append(login)
        return AuthResult(success=True, auth_data=login)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        before = len(self.received)
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.received) > before:
            assert isinstance(session.auth_data, Login), "a message was sent without a login"
            self.arrivals.append(Arrival(self.received[-1], session.auth_data, time.monotonic()))
            if len(self.arrivals) == CHANGE_AFTER:
                self.passwords[CHANGED] = NEW
                self.changed_at = time.monotonic()
        return answer


@pytest.fixture
def sink() -> Iterator[tuple[AccountsSink, Controller]]:
    with running_sink(AccountsSink()) as running:
        yield running


async def create_pool(stack: Stack) -> dict[str, int]:
    """The three mailboxes, open around the clock: each user's mailbox id."""
    ids = {}
    for user in USERS:
        answer = await stack.api.post(
            "/mailboxes",
            json={
                "smtp_host": "127.0.0.1",
                "smtp_port": stack.sink_port,
                "tls_mode": "none",
                "username": user,
                "password": OLD,
                "from_name": user.title(),
                "from_address": f"{user}@hiring.example.com",
                "time_zone": "Europe/Berlin",
                "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "send_start": "00:00",
                "send_end": "24:00",
                "min_gap_seconds": MIN_GAP_SECONDS,
                "daily_limit": DAILY_LIMIT,
            },
        )
        assert answer.status_code == 201, answer.text
        ids[user] = int(answer.json()["id"])
    return ids


def people(first: int, count: int) -> list[dict[str, Any]]:
    # One domain each: the per-domain caps are not what this test is about.
    return [
        {"first_name": f"P{n}", "addresses": [{"address": f"p{n}@corp{n}.example"}]}
        for n in range(first, first + count)
    ]


def assigned_mailboxes(stack: Stack, campaign_id: int) -> dict[str, int | None]:
    """Each prospect's address → the mailbox their enrollment was given (None: not yet)."""
    with DbSession(stack.engine) as session:
        rows = session.exec(
            select(Enrollment.to_address, Enrollment.mailbox_id).where(
                Enrollment.campaign_id == campaign_id
            )
        )
        return {address: mailbox for address, mailbox in rows if address}


@pytest.mark.parametrize("stack", [False], indirect=True, ids=["modules_passed_through"])
async def test_a_pool_of_three_mailboxes_survives_a_changed_password_mid_run(
    stack: Stack, sink: tuple[AccountsSink, Controller]
) -> None:
    server = sink[0]
    mailboxes = await create_pool(stack)
    user_of = {mailbox_id: user for user, mailbox_id in mailboxes.items()}
    changed_id = mailboxes[CHANGED]
    created = await stack.api.post(
        "/campaigns",
        json={
            "name": "Pool",
            "mailbox_id": mailboxes[USERS[0]],
            "mailbox_pool": [mailboxes[user] for user in USERS],
            "grace_seconds": 1,
            "steps": STEPS,
        },
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    first_batch = people(0, FIRST_BATCH)
    added = await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=first_batch)
    assert added.status_code == 201, added.text
    started = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    assert started.status_code == 202, started.text

    # The password changes at the server after CHANGE_AFTER messages: the next login with
    # the old one is refused and the mailbox is parked.
    async def parked() -> bool:
        shown = (await stack.api.get(f"/mailboxes/{changed_id}")).json()
        return bool(shown["connection_state"] == "needs_reauth")

    await eventually(parked, seconds=30)
    shown = (await stack.api.get(f"/mailboxes/{changed_id}")).json()
    assert "535" in (shown["connection_problem"] or ""), (
        f"the parked mailbox does not say its login was refused: {shown}"
    )
    on_changed_at_park = {
        address
        for address, mailbox in assigned_mailboxes(stack, campaign_id).items()
        if mailbox == changed_id
    }
    assert on_changed_at_park, "the changed mailbox had been given no prospect before the change"

    # 150 more prospects join the running campaign while the mailbox is parked.
    second_batch = people(FIRST_BATCH, SECOND_BATCH)
    added = await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=second_batch)
    assert added.status_code == 201, added.text
    newcomers = {p["addresses"][0]["address"] for p in second_batch}

    async def newcomers_given_mailboxes() -> bool:
        assigned = assigned_mailboxes(stack, campaign_id)
        return all(assigned.get(address) for address in newcomers)

    await eventually(newcomers_given_mailboxes, seconds=30)
    assigned = assigned_mailboxes(stack, campaign_id)
    on_changed = {address for address, mailbox in assigned.items() if mailbox == changed_id}
    assert on_changed == on_changed_at_park, (
        "a mailbox waiting for its new password was given new prospects: their messages "
        "wait for the user to reconnect it instead of going from another mailbox"
    )
    waiting: set[str] = set()

    async def its_prospects_wait() -> bool:
        nonlocal waiting
        view = (await stack.api.get(f"/campaigns/{campaign_id}?limit=1000")).json()
        waiting = {
            p["email"]
            for p in view["prospects"]
            if (p["reason"] or "").startswith("MailboxDisconnected")
        }
        return bool(waiting)

    await eventually(its_prospects_wait, seconds=30)
    assert waiting <= on_changed, "a prospect of a working mailbox shows MailboxDisconnected"

    reconnected = await stack.api.post(f"/mailboxes/{changed_id}/reconnect", json={"password": NEW})
    assert reconnected.status_code == 200, reconnected.text
    assert reconnected.json()["mailbox"]["connection_state"] == "connected"
    assert reconnected.json()["sequences_resumed"] >= len(waiting)
    reconnected_at = time.monotonic()

    async def completed() -> bool:
        shown = (await stack.api.get(f"/campaigns/{campaign_id}?limit=1")).json()
        return bool(shown["campaign"]["status"] == "Completed")

    await eventually(completed, seconds=60)
    finished = (await stack.api.get(f"/campaigns/{campaign_id}?limit=1")).json()
    everyone = {p["addresses"][0]["address"] for p in first_batch + second_batch}
    assert finished["counts"] == {"Completed": len(everyone)}, finished["counts"]

    # Each prospect got each step exactly once.
    sent = Counter((a.recipient, a.subject) for a in server.arrivals)
    twice = sorted(key for key, times in sent.items() if times > 1)
    assert not twice, f"{len(twice)} prospects got a step twice, e.g. {twice[:5]}"
    per_prospect = Counter(recipient for recipient, _ in sent)
    missing = sorted(a for a in everyone if per_prospect[a] != len(STEPS))
    assert not missing, f"{len(missing)} prospects did not get both steps, e.g. {missing[:5]}"
    subjects = {f"{re}A role for P{n}" for n in range(len(everyone)) for re in ("", "Re: ")}
    assert {subject for _, subject in sent} == subjects, "step 2 did not reply in the thread"

    # Each prospect's messages all came from one mailbox: From, envelope sender and login
    # agree with each other and with the mailbox the enrollment was given.
    sender_of: dict[str, set[str]] = defaultdict(set)
    for arrival in server.arrivals:
        users = {
            arrival.login.user,
            arrival.from_address.partition("@")[0],
            arrival.message.envelope_from.partition("@")[0],
        }
        assert len(users) == 1, f"a message's From, envelope sender and login differ: {users}"
        sender_of[arrival.recipient] |= users
    moved = sorted((address, users) for address, users in sender_of.items() if len(users) > 1)
    assert not moved, f"{len(moved)} prospects' threads were split across mailboxes: {moved[:5]}"
    assigned = assigned_mailboxes(stack, campaign_id)
    mismatched = sorted(
        (address, user_of.get(assigned[address] or 0), sender_of[address])
        for address in everyone
        if {user_of.get(assigned[address] or 0)} != sender_of[address]
    )
    assert not mismatched, (
        f"{len(mismatched)} prospects' mailbox is not the one that sent to them: {mismatched[:5]}"
    )
    shown = (await stack.api.get(f"/campaigns/{campaign_id}?limit=500")).json()["prospects"]
    assert {p["email"]: p["mailbox_id"] for p in shown} == assigned, "the API shows another mailbox"

    # The parked mailbox kept its prospects and got no new one; the pool spread the load.
    by_user = Counter(next(iter(users)) for users in sender_of.values())
    assert {a for a, users in sender_of.items() if CHANGED in users} == on_changed_at_park, (
        "the parked mailbox's prospects were not the ones it had when parked"
    )
    assert set(by_user) == set(USERS), f"not every mailbox of the pool was used: {by_user}"
    for user in USERS:
        if user != CHANGED:
            assert by_user[user] >= FIRST_BATCH // 3, f"the pool's load was uneven: {by_user}"
    assert not {a for a in newcomers if CHANGED in sender_of[a]}, (
        "a prospect who joined while the mailbox was parked was sent from it"
    )

    # Nothing went out on the old password once it had changed; the server was not hammered.
    assert server.changed_at is not None
    after_change = [
        login
        for login in server.accepted
        if login.user == CHANGED and login.password == OLD and login.at > server.changed_at
    ]
    assert not after_change, "the old password still logged in after it was changed"
    sent_while_parked = [
        a
        for a in server.arrivals
        if a.login.user == CHANGED and server.changed_at < a.login.at < reconnected_at
    ]
    assert not sent_while_parked, "the mailbox sent while its password was wrong"
    # Sends already past their last look when the mailbox was parked meet the refusal
    # too; after that burst, nothing tries the old password again.
    first_refused = min(login.at for login in server.refused)
    late = [login for login in server.refused if login.at > first_refused + 5]
    assert not late, (
        f"Outbound kept trying the old password after parking the mailbox ({len(late)} "
        "logins): a provider locks an account that keeps failing to log in"
    )
    assert {login.user for login in server.refused} == {CHANGED}

    # Each mailbox kept its limits: its day's count, and its slots at least the spacing
    # apart that spreads the daily limit (plus the minimum gap at the server).
    spacing = max(timedelta(seconds=MIN_GAP_SECONDS), timedelta(days=1) / DAILY_LIMIT)
    with DbSession(stack.engine) as session:
        rows = session.exec(
            select(Enrollment.mailbox_id, Message.scheduled_at, Message.sent_at)
            .join(Enrollment, col(Enrollment.id) == Message.enrollment_id)
            .where(Enrollment.campaign_id == campaign_id, Message.status == "Sent")
        ).all()
    assert len(rows) == len(everyone) * len(STEPS)
    slots: dict[int, list[Any]] = defaultdict(list)
    for mailbox_id, scheduled_at, sent_at in rows:
        assert mailbox_id is not None and scheduled_at is not None and sent_at is not None
        slots[mailbox_id].append(scheduled_at)
    for mailbox_id, times in slots.items():
        per_day = Counter(local_date(t, "Europe/Berlin") for t in times)
        assert max(per_day.values()) <= DAILY_LIMIT, f"{user_of[mailbox_id]} went over its limit"
        times.sort()
        closest = min(b - a for a, b in pairwise(times))
        assert closest >= spacing - timedelta(milliseconds=1), (
            f"{user_of[mailbox_id]}'s sends were bunched: two slots {closest} apart"
        )
    for user in USERS:
        at = sorted(a.at for a in server.arrivals if a.login.user == user)
        closest_at_server = min(b - a for a, b in pairwise(at))
        assert closest_at_server >= MIN_GAP_SECONDS - 0.05, (
            f"{user} sent two messages closer than its minimum gap"
        )
