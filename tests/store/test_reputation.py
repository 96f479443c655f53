"""The reputation guard in the store: a mailbox's figures over its last sends, the verdict,
the pause in the caller's transaction, and a resume that starts the figures afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, func, select

from outbound.domain.prospects import ProspectCreate
from outbound.domain.schedule import window_from
from outbound.domain.sequence import ReserveSlotRequest
from outbound.domain.statuses import MailboxConnection, MessageStatus, SuppressionSource
from outbound.store.encryption import Keyring, new_key
from outbound.store.mailbox_slots import reserve_slot
from outbound.store.mailboxes import reconnect
from outbound.store.prospects import upsert_prospects
from outbound.store.reputation import (
    HARD_BOUNCE_REASON,
    ReputationLimits,
    check,
    figures,
    resume,
    verdict,
)
from outbound.store.tables import Campaign, Enrollment, Mailbox, Message, TrackingEvent
from outbound.tracking.optout import record_opt_out
from tests.support.accounts import a_workspace

LIMITS = ReputationLimits()  # the defaults: 200 sends, at least 100, 5%, 0.3%
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Log:
    """A mailbox with one sequence, whose message log a test writes send by send."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with Session(engine) as session:
            workspace, owner = a_workspace(session)
            mailbox = Mailbox(
                workspace_id=workspace,
                smtp_host="h",
                smtp_port=25,
                tls_mode="none",
                from_address="ada@example.com",
            )
            session.add(mailbox)
            session.flush()
            campaign = Campaign(
                workspace_id=workspace,
                name="c",
                owner_user_id=owner,
                mailbox_id=mailbox.id or 0,
                status="InProgress",
                grace_seconds=0,
            )
            session.add(campaign)
            session.flush()
            (prospect,) = upsert_prospects(
                session,
                workspace,
                [ProspectCreate(addresses=[{"address": "p@example.com"}])],  # type: ignore[list-item]
            )
            enrollment = Enrollment(
                workspace_id=workspace,
                campaign_id=campaign.id or 0,
                prospect_id=prospect,
                status="Active",
            )
            session.add(enrollment)
            session.commit()
            self.mailbox_id, self.enrollment_id = mailbox.id or 0, enrollment.id or 0
        self.sends = 0

    def add(self, kind: str, count: int = 1, *, channel: str = "email") -> None:
        """``count`` messages: ``sent``, ``hard`` (bounced for good at RCPT), ``late`` (sent,
        then a hard bounce report), ``soft``, ``complaint`` (sent, then an abuse report),
        ``waiting`` (not sent yet); each a minute after the last."""
        with Session(self.engine) as session:
            for _ in range(count):
                self.sends += 1
                at = START + timedelta(minutes=self.sends)
                reached = kind in ("sent", "late", "complaint")
                message = Message(
                    enrollment_id=self.enrollment_id,
                    position=self.sends,
                    to_address=f"p{self.sends}@example.com",
                    message_id=f"<{self.sends}@example.com>",
                    status={
                        "hard": MessageStatus.BOUNCED,
                        "late": MessageStatus.BOUNCED,
                        "soft": MessageStatus.FAILED,
                        "waiting": MessageStatus.WAITING,
                    }.get(kind, MessageStatus.SENT).value,
                    scheduled_at=at,
                    sent_at=at if reached else None,
                    failure_reason={
                        "hard": f"{HARD_BOUNCE_REASON}550 5.1.1 user unknown",
                        "late": f"{HARD_BOUNCE_REASON}5.1.1 (bounce report)",
                        "soft": "soft_bounce: 452 try later",
                    }.get(kind),
                    channel=channel,
                )
                session.add(message)
                session.flush()
                if kind == "complaint":
                    session.add(TrackingEvent(message_row_id=message.id or 0, kind="complaint"))
            session.commit()

    def mailbox(self, session: Session) -> Mailbox:
        return session.get_one(Mailbox, self.mailbox_id)

    def check(self, limits: ReputationLimits = LIMITS) -> str | None:
        with Session(self.engine) as session:
            paused = check(session, self.mailbox_id, limits)
            session.commit()
            return paused


def test_six_hard_bounces_in_the_first_hundred_sends_pause_the_mailbox(engine: Engine) -> None:
    log = Log(engine)
    log.add("sent", 20)
    log.add("hard", 5)
    assert log.check() is None  # 5 of (at least) 100: 5%, not over

    log.add("hard")
    paused = log.check()

    assert paused == "hard bounces: 6 of the last 26 sends, counted over at least 100 (6%, over 5%)"
    with Session(engine) as session:
        mailbox = log.mailbox(session)
        assert mailbox.connection_state == MailboxConnection.PAUSED_REPUTATION
        assert mailbox.paused_reason == paused
        shown = figures(session, mailbox, LIMITS)
    assert (shown.sends, shown.hard_bounces, shown.complaints) == (26, 6, 0)
    assert shown.hard_bounce_rate == 0.06
    assert log.check() is None  # already paused: nothing more to do


def test_the_window_is_the_last_sends_that_reached_a_server(engine: Engine) -> None:
    log = Log(engine)
    log.add("hard", 8)  # long ago: 8 of the first 100 would be over
    log.add("sent", 200)
    log.add("soft", 3)  # refused for now, not bounced: no send
    log.add("waiting", 3)
    log.add("sent", 2, channel="sms")
    log.add("late", 2)  # sent, then reported bounced: counted in the window

    with Session(engine) as session:
        shown = figures(session, log.mailbox(session), LIMITS)

    assert (shown.sends, shown.hard_bounces) == (200, 2)
    assert verdict(shown) is None


def test_one_complaint_in_a_hundred_sends_is_over_the_complaint_limit(engine: Engine) -> None:
    log = Log(engine)
    log.add("sent", 99)
    log.add("complaint")

    paused = log.check()

    assert paused == "complaints: 1 of the last 100 sends (1%, over 0.3%)"


def test_a_resume_starts_the_figures_afresh_and_a_reconnect_does_not_resume(
    engine: Engine,
) -> None:
    log = Log(engine)
    log.add("hard", 6)
    assert log.check() is not None
    with Session(engine) as session:
        mailbox = log.mailbox(session)
        version = reconnect(session, mailbox, Keyring.from_keys([new_key()]), "ada", "new-pass")
        assert mailbox.connection_state == MailboxConnection.PAUSED_REPUTATION

        assert resume(session, mailbox, now=START) > version
        assert mailbox.connection_state == MailboxConnection.CONNECTED
        assert mailbox.paused_reason is None
        # The window starts after the last send counted, even with a clock behind it.
        assert mailbox.reputation_since == START + timedelta(minutes=6)
        shown = figures(session, mailbox, LIMITS)
    assert (shown.sends, shown.hard_bounces) == (0, 0)

    log.add("hard")
    assert log.check() is None  # one bounce since the resume: 1%


def test_a_mailbox_parked_before_its_pause_waits_for_new_credentials_after_a_resume(
    engine: Engine,
) -> None:
    log = Log(engine)
    with Session(engine) as session:
        mailbox = log.mailbox(session)
        mailbox.connection_state = MailboxConnection.NEEDS_REAUTH.value
        mailbox.connection_problem = "535 authentication failed"
        session.add(mailbox)
        session.commit()
    log.add("hard", 6)
    assert log.check() is not None

    with Session(engine) as session:
        mailbox = log.mailbox(session)
        resume(session, mailbox)
        assert mailbox.connection_state == MailboxConnection.NEEDS_REAUTH
        assert mailbox.connection_problem == "535 authentication failed"


def test_a_complaint_recorded_as_an_opt_out_is_judged_in_the_same_transaction(
    engine: Engine,
) -> None:
    log = Log(engine)
    log.add("sent", 100)
    with Session(engine) as session:
        last = session.exec(select(func.max(Message.id))).one()

    recorded = record_opt_out(
        engine, last or 0, "complaint by mail", SuppressionSource.COMPLAINT, reputation=LIMITS
    )

    assert recorded is not None
    with Session(engine) as session:
        mailbox = log.mailbox(session)
        assert mailbox.connection_state == MailboxConnection.PAUSED_REPUTATION
        assert mailbox.paused_reason == "complaints: 1 of the last 100 sends (1%, over 0.3%)"


def test_a_pool_gives_no_new_prospect_to_a_paused_mailbox(engine: Engine) -> None:
    log = Log(engine)
    log.add("hard", 6)
    assert log.check() is not None
    with Session(engine) as session:
        paused = log.mailbox(session)
        other = Mailbox(
            workspace_id=paused.workspace_id,
            smtp_host="h",
            smtp_port=25,
            tls_mode="none",
            from_address="bea@example.com",
        )
        session.add(other)
        session.flush()
        enrollment = session.get_one(Enrollment, log.enrollment_id)
        campaign = session.get_one(Campaign, enrollment.campaign_id)
        campaign.mailbox_pool = [paused.id, other.id]
        session.add(campaign)
        session.commit()
        other_id = other.id

    reserve_slot(
        engine,
        ReserveSlotRequest(
            key=f"{log.enrollment_id}:99:1",
            enrollment_id=log.enrollment_id,
            position=99,
            mailbox_id=log.mailbox_id,
            to_address="new@example.com",
            not_before=START,
            window=window_from(list(range(7)), "00:00", "24:00", "UTC"),
        ),
    )

    with Session(engine) as session:
        assert session.get_one(Enrollment, log.enrollment_id).mailbox_id == other_id
