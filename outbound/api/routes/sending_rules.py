"""A workspace's sending rules (an admin's): per-recipient-domain caps and the
re-contact cooldown."""

from __future__ import annotations

from fastapi import APIRouter

from outbound.api.auth import ADMIN_ONLY, CallerDep
from outbound.api.deps import SessionDep, SettingsDep
from outbound.domain.sending_rules import SendingRules
from outbound.store.sending_rules import save_sending_rules, sending_rules

router = APIRouter(prefix="/workspace", tags=["workspace"])


@router.get("/sending-rules")
def get_sending_rules(
    session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> SendingRules:
    """The rules in force: the workspace's own, else the deployment's defaults."""
    return sending_rules(session, caller.workspace_id, settings)


@router.put("/sending-rules", dependencies=[ADMIN_ONLY])
def put_sending_rules(body: SendingRules, session: SessionDep, caller: CallerDep) -> SendingRules:
    """Replace the rules. Caps apply to slots reserved from now on (held slots stay);
    the cooldown to enrollments from now on."""
    save_sending_rules(session, caller.workspace_id, body)
    return body
