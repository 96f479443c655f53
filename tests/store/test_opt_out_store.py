"""Opt-out and the suppression list on every backend (SQLite and a real PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from outbound.domain.statuses import ProspectStatus
from outbound.store.suppressions import find_suppression, lift_suppression, suppress
from outbound.store.tables import Enrollment, Message, MessageLink, Suppression, TrackingEvent
from outbound.tracking.optout import record_opt_out
from outbound.tracking.tokens import LinkTarget
from tests.store.test_records import running_campaign


def addressed(engine: Engine, enrollment_ids: list[int], addresses: list[str]) -> int:
    """Give each enrollment its address and a workflow; a sent message for the first one,
    whose links name it by the link key ``key-<row id>``."""
    with Session(engine) as session:
        for enrollment_id, address in zip(enrollment_ids, addresses, strict=True):
            row = session.get_one(Enrollment, enrollment_id)
            row.to_address, row.workflow_id, row.status = address, f"wf-{enrollment_id}", "Active"
            session.add(row)
        message = Message(
            enrollment_id=enrollment_ids[0],
            position=1,
            to_address=addresses[0],
            message_id="<m1@example.com>",
            status="Sent",
        )
        session.add(message)
        session.flush()
        session.add(MessageLink(key=f"key-{message.id}", message_row_id=message.id or 0))
        session.commit()
        return message.id or 0


def link(message_row: int) -> LinkTarget:
    return LinkTarget(link_key=f"key-{message_row}")


def test_an_opt_out_halts_every_spelling_once_and_is_lifted_with_a_reason(engine: Engine) -> None:
    ids = running_campaign(engine, 4)
    message_row = addressed(
        engine,
        ids,
        ["Ann.Lee+jobs@gmail.com", "annlee@googlemail.com", "ann@acme.example", "bob@x.example"],
    )

    first = record_opt_out(engine, link(message_row), "one-click")
    again = record_opt_out(engine, link(message_row), "one-click")

    assert first is not None and again is not None
    assert (first.first_time, again.first_time) == (True, False)
    assert sorted(first.workflow_ids) == [f"wf-{ids[0]}", f"wf-{ids[1]}"]
    with Session(engine) as session:
        halts = {e.id: e.halt_status for e in session.exec(select(Enrollment))}
        hits = [(h.message_row_id, h.kind) for h in session.exec(select(TrackingEvent))]
        ws = session.get_one(Enrollment, ids[0]).workspace_id
        assert find_suppression(session, ws, "a.n.n.l.e.e@gmail.com") is not None
        assert find_suppression(session, ws, "ann@acme.example") is None
        assert find_suppression(session, ws + 1, "annlee@gmail.com") is None
        assert lift_suppression(session, ws, "ANN.LEE@gmail.com", "asked to hear again") == 2
        assert find_suppression(session, ws, "annlee@gmail.com") is None
    assert halts == {
        ids[0]: ProspectStatus.OPTED_OUT,
        ids[1]: ProspectStatus.OPTED_OUT,
        ids[2]: None,
        ids[3]: None,
    }
    assert hits == [(message_row, "unsubscribe")]
    assert record_opt_out(engine, link(message_row + 1000), "one-click") is None


def test_two_opt_outs_at_once_both_succeed_and_list_the_address_once(engine: Engine) -> None:
    ids = running_campaign(engine, 1)
    message_row = addressed(engine, ids, ["cem@cogs.example"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda _: record_opt_out(engine, link(message_row), "one-click"), range(4))
        )

    assert all(r is not None for r in results)
    with Session(engine) as session:
        listed = session.exec(select(Suppression.address)).all()
        halted = session.get_one(Enrollment, ids[0]).halt_status
    assert (listed, halted) == (["cem@cogs.example"], ProspectStatus.OPTED_OUT)


def test_a_token_from_before_link_keys_works_until_it_ages_out(engine: Engine) -> None:
    """Links sent before link keys named the row id; they keep working for the same
    lifetime as new ones, counted from the message's creation."""
    ids = running_campaign(engine, 2)
    fresh = addressed(engine, ids[:1], ["ann@acme.example"])
    old = addressed(engine, ids[1:], ["bob@bolt.example"])
    with Session(engine) as session:
        aged = session.get_one(Message, old)
        aged.created_at = datetime.now(UTC) - timedelta(days=6 * 365)
        session.add(aged)
        session.commit()

    assert record_opt_out(engine, LinkTarget(row_id=fresh), "one-click") is not None
    assert record_opt_out(engine, LinkTarget(row_id=old), "one-click") is None
    with Session(engine) as session:
        ws = session.get_one(Enrollment, ids[1]).workspace_id
        assert find_suppression(session, ws, "bob@bolt.example") is None


def test_a_phone_number_is_listed_and_lifted_as_itself(engine: Engine) -> None:
    ids = running_campaign(engine, 1)
    with Session(engine) as session:
        ws = session.get_one(Enrollment, ids[0]).workspace_id
        suppress(session, ws, "+14155550123", "sms_stop", "texted STOP")
        assert find_suppression(session, ws, "+14155550123") is not None
        assert lift_suppression(session, ws, "+14155550199", "another number") == 0
        assert lift_suppression(session, ws, "+14155550123", "texted START") == 1
        assert find_suppression(session, ws, "+14155550123") is None
        assert lift_suppression(session, ws, "+14155550123", "again") == 0
