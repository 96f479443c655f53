"""Drill 2: restart the Temporal dev server in the middle of a campaign.

The server is stopped while messages are going out and started again on the
same database file a few seconds later; the worker and the API keep their
connections and retry. The campaign must complete as if nothing happened.
"""

from __future__ import annotations

from bench.stack import embedded_stack
from drills.campaign import Check, Plan, counts, launch, settle_resolving_unconfirmed, verdict
from outbound.devstack.fault_sink import FaultSinkHandler


async def server_restart(prospects: int) -> list[Check]:
    """One restart of the dev server, when about a third of the messages are out."""
    plan = Plan(prospects=prospects, steps=2)
    restart_at = max(1, prospects * plan.steps // 3)
    handler = FaultSinkHandler()
    async with embedded_stack(handler) as stack:
        campaign_id = await launch(stack, plan)

        async def restart_once(_elapsed: float) -> None:
            if stack.server_restarts == 0 and len(handler.received) >= restart_at:
                await stack.restart_server()

        unconfirmed = await settle_resolving_unconfirmed(
            stack, campaign_id, plan, 180 + prospects * 1.0, meanwhile=restart_once
        )
        found = await counts(stack, campaign_id)
        checks = verdict(
            stack, campaign_id, plan, found, set(), retried_attempts=unconfirmed.missing_retried
        )
        checks.append(
            Check(
                "dev server restarted mid-campaign (same database file)",
                stack.server_restarts == 1,
                f"after {restart_at:,} messages; {unconfirmed.describe()}",
            )
        )
        return checks
