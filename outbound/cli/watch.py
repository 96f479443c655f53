"""``outbound campaigns watch``: a campaign's prospects per status and each step's counts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table

from outbound.cli.api_client import ApiClient
from outbound.cli.output import console, print_json, table
from outbound.domain.statuses import CampaignStatus

DONE = {CampaignStatus.COMPLETED.value, CampaignStatus.STOPPED.value}
EMAIL_COUNTS = ("sent", "delivered", "bounced", "opened", "clicked", "replied", "opted_out")
SMS_COUNTS = ("sent", "delivered", "failed", "replied", "opted_out")


@dataclass(frozen=True)
class Snapshot:
    """What one refresh read: the campaign (one page of one prospect: counts only) and its
    metrics."""

    detail: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.detail["campaign"]["status"])

    @property
    def done(self) -> bool:
        return self.status in DONE

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign_id": self.detail["campaign"]["id"],
            "status": self.status,
            "total_prospects": self.detail["total_prospects"],
            "workflows_started": self.detail["workflows_started"],
            "counts": self.detail["counts"],
            "steps": self.metrics.get("steps", []),
            "sms_steps": self.metrics.get("sms_steps", []),
        }


def read(api: ApiClient, campaign_id: int) -> Snapshot:
    """Two cheap requests: counts by status (limit=1 prospect) and the step metrics."""
    return Snapshot(
        api.get(f"/campaigns/{campaign_id}", limit=1),
        api.get(f"/campaigns/{campaign_id}/metrics"),
    )


def render(snapshot: Snapshot) -> Group:
    """The two tables: prospects per status, then each step's counts."""
    campaign = snapshot.detail["campaign"]
    counts = snapshot.detail["counts"]
    title = (
        f"campaign {campaign['id']} {campaign['name']!r}: {snapshot.status}, "
        f"{snapshot.detail['workflows_started']}/{snapshot.detail['total_prospects']} started"
    )
    statuses = table(title, ("status", "prospects"), sorted(counts.items()))
    steps = Table(title="steps")
    for column in ("step", "kind", *EMAIL_COUNTS):
        steps.add_column(column)
    for step in snapshot.metrics.get("steps", []):
        steps.add_row(str(step["position"]), "email", *(str(step.get(n, 0)) for n in EMAIL_COUNTS))
    for step in snapshot.metrics.get("sms_steps", []):
        steps.add_row(
            str(step["position"]),
            "sms",
            *(str(step.get(n, "")) if n in SMS_COUNTS else "" for n in EMAIL_COUNTS),
        )
    return Group(statuses, steps)


def watch(
    api: ApiClient, campaign_id: int, interval: float, until_done: bool, as_json: bool
) -> None:
    """Refresh every ``interval`` seconds until Ctrl-C or, ``until_done``, the campaign ends.
    ``as_json``: one JSON document per refresh instead of the live table."""
    snapshot = read(api, campaign_id)
    if as_json:
        while True:
            print_json(snapshot.as_json())
            if until_done and snapshot.done:
                return
            time.sleep(interval)
            snapshot = read(api, campaign_id)
    with Live(render(snapshot), console=console, auto_refresh=False) as live:
        while not (until_done and snapshot.done):
            time.sleep(interval)
            snapshot = read(api, campaign_id)
            live.update(render(snapshot), refresh=True)
