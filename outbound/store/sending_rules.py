"""A workspace's sending rules in the store (columns of ``workspace``)."""

from __future__ import annotations

from sqlmodel import Session

from outbound.domain.sending_rules import DomainCap, DomainCaps, SendingRules
from outbound.settings import Settings
from outbound.store.tables import Workspace


def default_caps(settings: Settings) -> DomainCaps:
    """The deployment's per-domain caps (``OUTBOUND_DOMAIN_*``)."""
    return DomainCaps(
        default=DomainCap(hourly=settings.domain_hourly_cap, daily=settings.domain_daily_cap),
        named=dict(settings.domain_caps),
    )


def workspace_caps(workspace: Workspace, defaults: DomainCaps | None) -> DomainCaps | None:
    """The per-domain caps of a workspace: its own if it set them, else ``defaults``."""
    if workspace.domain_hourly_cap is None or workspace.domain_daily_cap is None:
        return defaults
    return DomainCaps(
        default=DomainCap(hourly=workspace.domain_hourly_cap, daily=workspace.domain_daily_cap),
        named={
            domain: DomainCap.model_validate(cap) for domain, cap in workspace.domain_caps.items()
        },
    )


def sending_rules(session: Session, workspace_id: int, settings: Settings) -> SendingRules:
    """The rules in force for a workspace."""
    workspace = session.get_one(Workspace, workspace_id)
    caps = workspace_caps(workspace, default_caps(settings))
    assert caps is not None
    return SendingRules(
        domain_cap=caps.default,
        domain_caps=caps.named,
        recontact_cooldown_days=workspace.recontact_cooldown_days,
    )


def save_sending_rules(session: Session, workspace_id: int, rules: SendingRules) -> None:
    """Store a workspace's own rules (commits)."""
    workspace = session.get_one(Workspace, workspace_id)
    workspace.domain_hourly_cap = rules.domain_cap.hourly
    workspace.domain_daily_cap = rules.domain_cap.daily
    workspace.domain_caps = {domain: cap.model_dump() for domain, cap in rules.domain_caps.items()}
    workspace.recontact_cooldown_days = rules.recontact_cooldown_days
    session.add(workspace)
    session.commit()
