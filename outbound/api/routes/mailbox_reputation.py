"""A mailbox's reputation: resume one the reputation guard paused (``store/reputation.py``).

The figures themselves show on ``GET /mailboxes/{id}`` (``routes/mailboxes.py``).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.api.auth import ADMIN_ONLY
from outbound.api.deps import SettingsDep, TemporalDep
from outbound.api.routes.mailboxes import mailbox_public
from outbound.domain.mailboxes import MailboxPublic, ResumeResult
from outbound.domain.problems import conflict, not_found
from outbound.domain.statuses import MailboxConnection
from outbound.inbound.signals import signal_each
from outbound.store.mailboxes import sequences_to_resume
from outbound.store.reputation import ReputationLimits, figures, resume
from outbound.store.tables import Mailbox

router = APIRouter(prefix="/mailboxes", tags=["mailboxes"])


@router.post("/{mailbox_id}/resume", dependencies=[ADMIN_ONLY])
async def resume_mailbox(
    mailbox_id: int, request: Request, temporal: TemporalDep, settings: SettingsDep
) -> ResumeResult:
    """Let a mailbox the reputation guard paused send again, once the cause is fixed (a
    cleaned list, a warmed-up domain): its figures start afresh from now, and every
    sequence waiting on it goes on. 409 if the guard has not paused it."""
    engine: Engine = request.app.state.engine
    limits = ReputationLimits.from_settings(settings)

    def store() -> tuple[MailboxPublic, int, list[str]]:
        with Session(engine) as session:
            mailbox = session.exec(
                select(Mailbox).where(col(Mailbox.id) == mailbox_id).with_for_update()
            ).first()
            if mailbox is None:
                raise not_found("mailbox", mailbox_id)
            if mailbox.connection_state != MailboxConnection.PAUSED_REPUTATION:
                raise conflict(
                    "mailbox_id",
                    f"mailbox {mailbox_id} is {mailbox.connection_state}, not paused for its "
                    "sending reputation: there is nothing to resume",
                )
            version = resume(session, mailbox)
            shown = mailbox_public(mailbox, figures(session, mailbox, limits))
            return shown, version, sequences_to_resume(session, mailbox)

    shown, version, workflow_ids = await asyncio.to_thread(store)
    resumed = await signal_each(temporal, workflow_ids, "mailbox_reconnected", version)
    return ResumeResult(mailbox=shown, sequences_resumed=resumed)
