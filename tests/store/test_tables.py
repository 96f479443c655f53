"""Table behaviour that must be the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session

from outbound.store.tables import Campaign, Enrollment, Mailbox, Message, Prospect
from tests.support.accounts import a_workspace


def campaign_with_prospect(session: Session) -> tuple[int, int]:
    ws, owner = a_workspace(session)
    mailbox = Mailbox(
        workspace_id=ws, smtp_host="h", smtp_port=25, tls_mode="none", from_address="a@example.com"
    )
    session.add(mailbox)
    session.flush()
    campaign = Campaign(
        workspace_id=ws,
        name="c",
        owner_user_id=owner,
        mailbox_id=mailbox.id or 0,
        status="Draft",
        grace_seconds=0,
    )
    prospect = Prospect(workspace_id=ws, fields={"role": "CTO", "city": "Zürich"})
    session.add_all([campaign, prospect])
    session.commit()
    return campaign.id or 0, prospect.id or 0


def _workspace(session: Session, campaign_id: int) -> int:
    return session.get_one(Campaign, campaign_id).workspace_id


def test_timestamps_come_back_as_the_same_aware_utc_instant(engine: Engine) -> None:
    berlin_noon = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    with Session(engine) as session:
        campaign_id, prospect_id = campaign_with_prospect(session)
        enrollment = Enrollment(
            workspace_id=_workspace(session, campaign_id),
            campaign_id=campaign_id,
            prospect_id=prospect_id,
            status="Active",
        )
        session.add(enrollment)
        session.flush()
        session.add(
            Message(
                enrollment_id=enrollment.id or 0,
                position=1,
                to_address="x@example.com",
                message_id="<m@x>",
                status="Sent",
                sent_at=berlin_noon,
            )
        )
        session.commit()

    with Session(engine) as session:
        stored = session.get_one(Message, 1)
        assert stored.sent_at == berlin_noon
        assert stored.sent_at is not None and stored.sent_at.utcoffset() == timedelta(0)


def test_a_naive_timestamp_is_refused(engine: Engine) -> None:
    with Session(engine) as session:
        campaign_id, _ = campaign_with_prospect(session)
        campaign = session.get_one(Campaign, campaign_id)
        campaign.started_at = datetime(2026, 11, 23, 12, 0)
        session.add(campaign)
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_prospect_fields_round_trip(engine: Engine) -> None:
    with Session(engine) as session:
        _, prospect_id = campaign_with_prospect(session)
    with Session(engine) as session:
        assert session.get_one(Prospect, prospect_id).fields == {"role": "CTO", "city": "Zürich"}


def test_a_prospect_is_enrolled_in_a_campaign_once(engine: Engine) -> None:
    with Session(engine) as session:
        campaign_id, prospect_id = campaign_with_prospect(session)
        session.add(
            Enrollment(
                workspace_id=_workspace(session, campaign_id),
                campaign_id=campaign_id,
                prospect_id=prospect_id,
                status="NotStarted",
            )
        )
        session.commit()
        session.add(
            Enrollment(
                workspace_id=_workspace(session, campaign_id),
                campaign_id=campaign_id,
                prospect_id=prospect_id,
                status="NotStarted",
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_one_message_per_enrollment_step(engine: Engine) -> None:
    with Session(engine) as session:
        campaign_id, prospect_id = campaign_with_prospect(session)
        enrollment = Enrollment(
            workspace_id=_workspace(session, campaign_id),
            campaign_id=campaign_id,
            prospect_id=prospect_id,
            status="Active",
        )
        session.add(enrollment)
        session.flush()
        for _ in range(2):
            session.add(
                Message(
                    enrollment_id=enrollment.id or 0,
                    position=1,
                    to_address="x@example.com",
                    message_id="<m@x>",
                    status="Waiting",
                    created_at=datetime.now(UTC),
                )
            )
        with pytest.raises(IntegrityError):
            session.commit()


def test_schema_creation_from_many_processes_at_once_does_not_race(database_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from outbound.store.engine import make_engine
    from outbound.store.migrate import upgrade_schema

    engines = [make_engine(database_url) for _ in range(6)]
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(upgrade_schema, engines))  # API and workers starting together
    finally:
        for engine in engines:
            engine.dispose()
