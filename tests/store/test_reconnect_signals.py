"""Which sequences hear of a mailbox's reconnect: those that send through it, and not a
pool campaign's prospect who has no mailbox yet (the workflow keeps one connection
version; another mailbox's version would let it pass a later wait on a mailbox of the
pool whose version is lower)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from outbound.domain.prospects import ProspectCreate
from outbound.store.mailboxes import running_workflow_ids
from outbound.store.prospects import upsert_prospects
from outbound.store.tables import Campaign, Enrollment, Mailbox
from tests.support.accounts import a_workspace


def test_a_reconnect_reaches_the_mailbox_s_own_sequences_only(engine: Engine) -> None:
    with Session(engine) as session:
        workspace, owner = a_workspace(session)
        ada, bea = (
            Mailbox(
                workspace_id=workspace,
                smtp_host="h",
                smtp_port=25,
                tls_mode="none",
                from_address=f"{name}@example.com",
            )
            for name in ("ada", "bea")
        )
        session.add_all([ada, bea])
        session.flush()
        assert ada.id is not None and bea.id is not None

        def campaign(pool: list[int]) -> int:
            row = Campaign(
                workspace_id=workspace,
                name="c",
                owner_user_id=owner,
                mailbox_id=ada.id or 0,
                mailbox_pool=pool,
                status="InProgress",
                grace_seconds=0,
            )
            session.add(row)
            session.flush()
            return row.id or 0

        pooled, single = campaign([ada.id, bea.id]), campaign([])
        people = upsert_prospects(
            session,
            workspace,
            [ProspectCreate(addresses=[{"address": f"p{i}@example.com"}]) for i in range(5)],  # type: ignore[list-item]
        )
        for name, campaign_id, prospect, mailbox_id, status in (
            ("on-ada", pooled, people[0], ada.id, "Active"),
            ("on-bea", pooled, people[1], bea.id, "Active"),
            ("no-mailbox-yet", pooled, people[2], None, "NotStarted"),
            ("single", single, people[3], None, "Active"),
            ("ended", single, people[4], ada.id, "Completed"),
        ):
            session.add(
                Enrollment(
                    workspace_id=workspace,
                    campaign_id=campaign_id,
                    prospect_id=prospect,
                    mailbox_id=mailbox_id,
                    status=status,
                    workflow_id=name,
                )
            )
        session.commit()

        assert sorted(running_workflow_ids(session, ada.id)) == ["on-ada", "single"]
        assert running_workflow_ids(session, bea.id) == ["on-bea"]
