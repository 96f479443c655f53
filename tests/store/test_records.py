"""The database mirror of workflow state, and prospect storage, on every backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from outbound.activities.records import RecordActivities, complete_campaign_if_done
from outbound.campaigns.views import campaign_public
from outbound.domain.prospects import ProspectCreate
from outbound.domain.sequence import EnrollmentState, StepState
from outbound.domain.statuses import CampaignStatus, ProspectStatus, StepStatus
from outbound.store.prospects import addresses_of, first_choice_address, upsert_prospects
from outbound.store.tables import Campaign, Enrollment, EnrollmentStep, Mailbox, Prospect
from tests.support.accounts import a_workspace

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def running_campaign(engine: Engine, prospects: int) -> list[int]:
    """A campaign InProgress with ``prospects`` enrollments; returns their ids."""
    with Session(engine) as session:
        ws, owner = a_workspace(session)
        mailbox = Mailbox(
            workspace_id=ws,
            smtp_host="h",
            smtp_port=25,
            tls_mode="none",
            from_address="a@example.com",
        )
        session.add(mailbox)
        session.flush()
        campaign = Campaign(
            workspace_id=ws,
            name="c",
            owner_user_id=owner,
            mailbox_id=mailbox.id or 0,
            status=CampaignStatus.IN_PROGRESS.value,
            grace_seconds=0,
        )
        session.add(campaign)
        session.flush()
        people = upsert_prospects(
            session,
            ws,
            [
                ProspectCreate(addresses=[{"address": f"p{i}@example.com"}])
                for i in range(prospects)
            ],  # type: ignore[list-item]
        )
        enrollments = [
            Enrollment(
                workspace_id=ws, campaign_id=campaign.id or 0, prospect_id=pid, status="NotStarted"
            )
            for pid in people
        ]
        session.add_all(enrollments)
        session.commit()
        return [e.id or 0 for e in enrollments]


def state(
    enrollment_id: int, status: ProspectStatus, at: datetime, *steps: StepStatus
) -> EnrollmentState:
    return EnrollmentState(
        enrollment_id=enrollment_id,
        status=status,
        updated_at=at,
        current_step=1,
        steps=[
            StepState(position=i + 1, status=s, sent_at=at if s is StepStatus.SENT else None)
            for i, s in enumerate(steps)
        ],
    )


async def test_state_is_mirrored_with_step_times(engine: Engine) -> None:
    [enrollment_id] = running_campaign(engine, 1)
    records = RecordActivities(engine)

    await records.record_state(
        state(enrollment_id, ProspectStatus.ACTIVE, T0, StepStatus.SENT, StepStatus.SCHEDULED)
    )

    with Session(engine) as session:
        enrollment = session.get_one(Enrollment, enrollment_id)
        steps = session.exec(select(EnrollmentStep).order_by(EnrollmentStep.position)).all()
        assert enrollment.status == "Active"
        assert [(s.status, s.sent_at) for s in steps] == [("Sent", T0), ("Scheduled", None)]


async def test_an_older_copy_never_overwrites_a_newer_one(engine: Engine) -> None:
    [enrollment_id] = running_campaign(engine, 1)
    records = RecordActivities(engine)
    newer = state(
        enrollment_id, ProspectStatus.STOPPED, T0 + timedelta(minutes=1), StepStatus.STOPPED
    )
    older = state(enrollment_id, ProspectStatus.ACTIVE, T0, StepStatus.SCHEDULED)

    await records.record_state(newer)
    await records.record_state(older)  # e.g. a delayed retry of an earlier activity

    with Session(engine) as session:
        assert session.get_one(Enrollment, enrollment_id).status == "Stopped"
        assert session.exec(select(EnrollmentStep.status)).all() == ["Stopped"]


async def test_the_campaign_completes_when_its_last_prospect_ends(engine: Engine) -> None:
    first, second = running_campaign(engine, 2)
    records = RecordActivities(engine)

    await records.record_state(state(first, ProspectStatus.COMPLETED, T0, StepStatus.SENT))
    with Session(engine) as session:
        assert session.exec(select(Campaign.status)).one() == "InProgress"

    await records.record_state(state(second, ProspectStatus.REPLIED, T0, StepStatus.STOPPED))
    with Session(engine) as session:
        assert session.exec(select(Campaign.status)).one() == "Completed"


async def test_a_prospect_waiting_for_a_retry_keeps_the_campaign_in_progress(
    engine: Engine,
) -> None:
    first, second = running_campaign(engine, 2)
    records = RecordActivities(engine)
    failed = state(second, ProspectStatus.FAILED, T0, StepStatus.FAILED)
    failed.awaiting_retry = True

    await records.record_state(failed)
    await records.record_state(state(first, ProspectStatus.COMPLETED, T0, StepStatus.SENT))

    with Session(engine) as session:
        assert session.exec(select(Campaign.status)).one() == "InProgress"
        campaign = session.exec(select(Campaign)).one()
        assert campaign_public(session, campaign).needs_attention == 1

    # Nobody retried within 30 days: the sequence ends Failed, and the campaign with it.
    given_up = state(second, ProspectStatus.FAILED, T0 + timedelta(days=30), StepStatus.FAILED)
    await records.record_state(given_up)

    with Session(engine) as session:
        assert session.exec(select(Campaign.status)).one() == "Completed"
        campaign = session.exec(select(Campaign)).one()
        assert campaign_public(session, campaign).needs_attention == 0


async def test_a_retry_wait_reopens_a_campaign_a_transient_copy_completed(
    engine: Engine,
) -> None:
    [enrollment_id] = running_campaign(engine, 1)
    records = RecordActivities(engine)
    await records.record_state(state(enrollment_id, ProspectStatus.FAILED, T0, StepStatus.FAILED))
    waiting = state(enrollment_id, ProspectStatus.FAILED, T0 + timedelta(1), StepStatus.FAILED)
    waiting.awaiting_retry = True

    await records.record_state(waiting)

    with Session(engine) as session:
        assert session.exec(select(Campaign.status)).one() == "InProgress"


async def test_a_reply_stored_by_the_inbox_survives_a_later_copy_without_it(
    engine: Engine,
) -> None:
    [enrollment_id] = running_campaign(engine, 1)
    records = RecordActivities(engine)
    replied = state(enrollment_id, ProspectStatus.REPLIED, T0, StepStatus.STOPPED)
    replied.replied_at, replied.reply_snippet = T0, "Sounds good, call me"
    later = state(enrollment_id, ProspectStatus.REPLIED, T0 + timedelta(1), StepStatus.STOPPED)

    await records.record_state(replied)
    await records.record_state(later)

    with Session(engine) as session:
        enrollment = session.get_one(Enrollment, enrollment_id)
        assert (enrollment.replied_at, enrollment.reply_snippet) == (T0, "Sounds good, call me")


async def test_remove_deletes_the_progress_and_a_late_bounce_reopens_the_campaign(
    engine: Engine,
) -> None:
    first, second = running_campaign(engine, 2)
    records = RecordActivities(engine)
    await records.record_state(state(first, ProspectStatus.COMPLETED, T0, StepStatus.SENT))
    await records.record_state(state(second, ProspectStatus.REMOVED, T0, StepStatus.STOPPED))
    with Session(engine) as session:
        assert session.exec(select(Campaign.status)).one() == "Completed"
        assert session.exec(select(EnrollmentStep.enrollment_id)).all() == [first]
        assert session.get_one(Enrollment, second).current_step == 0

    reopened = state(first, ProspectStatus.ACTIVE, T0 + timedelta(1), StepStatus.SCHEDULED)
    await records.record_state(reopened)  # a bounce sends step 1 again to another address

    with Session(engine) as session:
        assert session.exec(select(Campaign.status)).one() == "InProgress"
        assert session.exec(select(EnrollmentStep.status)).all() == ["Scheduled"]


async def test_the_last_two_prospects_ending_at_once_complete_the_campaign(
    engine: Engine,
) -> None:
    """Two mirrors in flight together: each ended its prospect before the other committed."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the two cannot overlap")
    first, second = running_campaign(engine, 2)
    with Session(engine) as session:
        campaign_id = session.exec(select(Campaign.id)).one()
    ended = {"status": ProspectStatus.COMPLETED.value}
    with engine.connect() as one, engine.connect() as other:
        one.execute(update(Enrollment).where(col(Enrollment.id) == first).values(**ended))
        other.execute(update(Enrollment).where(col(Enrollment.id) == second).values(**ended))
        await asyncio.to_thread(complete_campaign_if_done, one, campaign_id)
        other_checks = asyncio.create_task(
            asyncio.to_thread(complete_campaign_if_done, other, campaign_id)
        )
        await asyncio.sleep(0.5)  # the other check waits for the campaign's lock
        one.commit()
        await other_checks
        other.commit()

    with Session(engine) as session:
        assert session.exec(select(Campaign.status)).one() == "Completed"


def test_a_prospect_known_by_any_address_is_reused_not_duplicated(engine: Engine) -> None:
    with Session(engine) as session:
        ws, _ = a_workspace(session)
        [ann] = upsert_prospects(
            session,
            ws,
            [ProspectCreate(first_name="Ann", addresses=[{"address": "ann@example.com"}])],  # type: ignore[list-item]
        )
        again = upsert_prospects(
            session,
            ws,
            [
                ProspectCreate(
                    first_name="Ann B.",
                    addresses=[{"address": "ann@work.example.com"}, {"address": "ann@example.com"}],  # type: ignore[list-item]
                )
            ],
        )
        session.commit()

        assert again == [ann]
        assert session.get_one(Prospect, ann).first_name == "Ann"  # the profile stays


def test_use_first_overrides_relevance_order(engine: Engine) -> None:
    with Session(engine) as session:
        ws, _ = a_workspace(session)
        [plain, flagged] = upsert_prospects(
            session,
            ws,
            [
                ProspectCreate(
                    addresses=[{"address": "a1@example.com"}, {"address": "a2@example.com"}]
                ),  # type: ignore[list-item]
                ProspectCreate(
                    addresses=[
                        {"address": "b1@example.com"},  # type: ignore[list-item]
                        {"address": "b2@example.com", "use_first": True},  # type: ignore[list-item]
                    ]
                ),
            ],
        )
        session.commit()
        addresses = addresses_of(session, [plain, flagged])

        assert first_choice_address(addresses[plain]) == "a1@example.com"
        assert first_choice_address(addresses[flagged]) == "b2@example.com"
        assert first_choice_address([]) is None


def test_one_import_stores_each_person_once_however_often_listed(engine: Engine) -> None:
    with Session(engine) as session:
        ws, _ = a_workspace(session)
        [known] = upsert_prospects(
            session,
            ws,
            [ProspectCreate(addresses=[{"address": "kim@example.com"}])],  # type: ignore[list-item]
        )
        ids = upsert_prospects(
            session,
            ws,
            [
                ProspectCreate(first_name="Lee", addresses=[{"address": "lee@example.com"}]),  # type: ignore[list-item]
                ProspectCreate(
                    addresses=[{"address": "lee@work.example"}, {"address": "lee@example.com"}]  # type: ignore[list-item]
                ),
                ProspectCreate(
                    addresses=[{"address": "new@example.com"}, {"address": "new@example.com"}]  # type: ignore[list-item]
                ),
                ProspectCreate(addresses=[{"address": "kim@example.com"}]),  # type: ignore[list-item]
            ],
        )
        session.commit()
        lee, lee_again, new, kim = ids
        stored = addresses_of(session, [lee, new])

        assert lee == lee_again and kim == known and len({lee, new, kim}) == 3
        assert [a.address for a in stored[lee]] == ["lee@example.com"]  # the first listing's
        assert [a.address for a in stored[new]] == ["new@example.com"]
