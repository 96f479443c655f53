"""Colleagues in a campaign, on every backend: who they are, what an ending stages for them,
whose turn it is, and when a sequence ended (the cooldown's ``ended_at``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from outbound.activities.records import RecordActivities
from outbound.domain.company_rules import CompanyRule
from outbound.domain.prospects import ProspectCreate
from outbound.domain.sequence import EnrollmentState
from outbound.domain.statuses import CampaignStatus, ProspectStatus
from outbound.store.colleagues import colleagues_of, company_turn, news_of_ending
from outbound.store.prospects import upsert_prospects
from outbound.store.tables import Campaign, Enrollment
from tests.support.accounts import a_workspace

PEOPLE = {  # name: (company field, addresses)
    "ann": ("Acme", ["ann@acme.example.com"]),
    "bob": ("", ["bob@gmail.com", "bob@acme.example.com"]),  # a work address at Acme
    "cid": ("  ACME ", ["cid@gmail.com"]),  # the same company field
    "dee": ("", ["dee@gmail.com"]),  # free mail, no company: nobody's colleague
    "eve": ("Other", ["eve@other.example.org"]),
    "fay": ("Acme", ["fay@acme.example.com"]),  # ended already
}


def campaign_of_people(engine: Engine, rule: CompanyRule | None) -> tuple[int, dict[str, int]]:
    """A running campaign with PEOPLE enrolled (Fay's sequence over; Ann, Bob, Cid, Dee and
    Eve started): (campaign id, enrollment id by name)."""
    with Session(engine) as session:
        ws, owner = a_workspace(session)
        campaign = Campaign(
            workspace_id=ws,
            name="c",
            owner_user_id=owner,
            status=CampaignStatus.IN_PROGRESS.value,
            grace_seconds=0,
            company_rule=rule.value if rule else None,
        )
        session.add(campaign)
        session.flush()
        people = [
            ProspectCreate(company=company, addresses=[{"address": a} for a in addresses])  # type: ignore[misc]
            for company, addresses in PEOPLE.values()
        ]
        ids = upsert_prospects(session, ws, people)
        enrollments = {
            name: Enrollment(
                workspace_id=ws,
                campaign_id=campaign.id or 0,
                prospect_id=pid,
                status="Completed" if name == "fay" else "Active",
                workflow_id=None if name == "cid" else f"wf-{name}",
                to_address=PEOPLE[name][1][0],
            )
            for name, pid in zip(PEOPLE, ids, strict=True)
        }
        session.add_all(enrollments.values())
        session.commit()
        return campaign.id or 0, {name: e.id or 0 for name, e in enrollments.items()}


def replied(enrollment_id: int) -> EnrollmentState:
    return EnrollmentState(
        enrollment_id=enrollment_id,
        status=ProspectStatus.REPLIED,
        updated_at=datetime.now(UTC),
    )


def test_colleagues_share_a_company_domain_or_the_company_field(engine: Engine) -> None:
    campaign_id, ids = campaign_of_people(engine, CompanyRule.STOP)
    names = {enrollment_id: name for name, enrollment_id in ids.items()}

    with Session(engine) as session:
        pids = {name: session.get_one(Enrollment, eid).prospect_id for name, eid in ids.items()}
    with engine.connect() as connection:
        of_ann = colleagues_of(connection, campaign_id, ids["ann"], pids["ann"])
        of_dee = colleagues_of(connection, campaign_id, ids["dee"], pids["dee"])
        of_cid = colleagues_of(connection, campaign_id, ids["cid"], pids["cid"])

    assert [names[e] for e, _, _ in of_ann] == ["bob", "cid"]  # Fay's sequence has ended
    assert of_dee == []
    assert [names[e] for e, _, _ in of_cid] == ["ann"]  # by the company field only


def test_a_reply_under_stop_halts_colleagues_and_settles_an_unstarted_one(engine: Engine) -> None:
    campaign_id, ids = campaign_of_people(engine, CompanyRule.STOP)
    with Session(engine) as session:
        ann = session.get_one(Enrollment, ids["ann"])

    with engine.begin() as connection:
        news = news_of_ending(connection, replied(ids["ann"]), campaign_id, ann.prospect_id)

    assert news is not None
    assert news.signal.rule is CompanyRule.STOP and news.signal.key == f"{ids['ann']}:Replied"
    assert len(news.workflow_ids) == 2  # Bob's and Cid's (whose may start meanwhile)
    with Session(engine) as session:
        bob, cid, eve = (session.get_one(Enrollment, ids[n]) for n in ("bob", "cid", "eve"))
    assert (bob.status, bob.halt_status) == ("Active", "Stopped")
    assert (cid.status, cid.reason, cid.halt_status) == ("Stopped", "ColleagueReplied", "Stopped")
    assert cid.ended_at is not None
    assert (eve.status, eve.halt_status) == ("Active", None)


def test_without_a_rule_nobody_is_told_and_a_stop_is_no_news(engine: Engine) -> None:
    campaign_id, ids = campaign_of_people(engine, None)
    with Session(engine) as session:
        ann = session.get_one(Enrollment, ids["ann"])
    stopped = replied(ids["ann"]).model_copy(update={"status": ProspectStatus.STOPPED})

    with engine.begin() as connection:
        assert news_of_ending(connection, replied(ids["ann"]), campaign_id, ann.prospect_id) is None
    campaign_id, ids = campaign_of_people(engine, CompanyRule.PAUSE)
    with engine.begin() as connection:
        assert news_of_ending(connection, stopped, campaign_id, ann.prospect_id) is None


def test_the_colleague_enrolled_first_has_the_turn(engine: Engine) -> None:
    _, ids = campaign_of_people(engine, None)

    with engine.connect() as connection:
        turns = {n: company_turn(connection, ids[n]) for n in ("ann", "bob", "cid", "dee", "eve")}

    assert turns == {
        "ann": True,
        "bob": False,  # Ann first
        "cid": False,
        "dee": True,  # nobody's colleague
        "eve": True,
    }


async def test_ended_at_is_set_once_at_the_end_and_cleared_when_it_reopens(
    engine: Engine,
) -> None:
    _, ids = campaign_of_people(engine, None)
    records = RecordActivities(engine)
    now = datetime.now(UTC)
    done = EnrollmentState(
        enrollment_id=ids["eve"], status=ProspectStatus.COMPLETED, updated_at=now
    )

    await records.record_state(done)
    with Session(engine) as session:
        first = session.get_one(Enrollment, ids["eve"]).ended_at
    await records.record_state(done.model_copy(update={"updated_at": now + timedelta(seconds=1)}))
    with Session(engine) as session:
        again = session.get_one(Enrollment, ids["eve"]).ended_at
    reopened = done.model_copy(
        update={"status": ProspectStatus.ACTIVE, "updated_at": now + timedelta(seconds=2)}
    )
    await records.record_state(reopened)  # a late bounce: the next address
    with Session(engine) as session:
        cleared = session.get_one(Enrollment, ids["eve"]).ended_at

    assert first is not None and abs(first - datetime.now(UTC)) < timedelta(minutes=1)
    assert again == first and cleared is None
