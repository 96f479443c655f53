"""Workspace-wide settings: the legal hours of texts (an admin's)."""

from __future__ import annotations

from fastapi import APIRouter

from outbound.api.auth import ADMIN_ONLY, CallerDep
from outbound.api.deps import SessionDep
from outbound.domain.sms_hours import SmsQuietHours
from outbound.store.tables import Workspace

router = APIRouter(prefix="/workspace", tags=["workspace"])


@router.get("/sms-quiet-hours", dependencies=[ADMIN_ONLY])
def sms_quiet_hours(session: SessionDep, caller: CallerDep) -> SmsQuietHours:
    """When texts may reach recipients, in their local time (08:00–21:00 unless narrowed)."""
    workspace = session.get_one(Workspace, caller.workspace_id)
    return SmsQuietHours(
        sms_quiet_start=workspace.sms_quiet_start, sms_quiet_end=workspace.sms_quiet_end
    )


@router.put("/sms-quiet-hours", dependencies=[ADMIN_ONLY])
def set_sms_quiet_hours(
    body: SmsQuietHours, session: SessionDep, caller: CallerDep
) -> SmsQuietHours:
    """Narrow (or restore) the hours: start at 08:00 or later, end at 21:00 or earlier.
    Campaigns started from now on follow them; running sequences keep the hours they
    started with."""
    workspace = session.get_one(Workspace, caller.workspace_id)
    workspace.sms_quiet_start, workspace.sms_quiet_end = body.sms_quiet_start, body.sms_quiet_end
    session.add(workspace)
    session.commit()
    return body
