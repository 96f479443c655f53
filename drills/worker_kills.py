"""Drill 1: kill -9 the worker at random moments during a 2-step campaign.

Each kill drops whatever the worker had in flight: workflow tasks, slot
reservations, SMTP sends half-way through. A new worker starts at once (as a
process supervisor would). The campaign must still end with every prospect
having each step exactly once and the daily limit held.
"""

from __future__ import annotations

import random

from bench.stack import embedded_stack
from drills.campaign import Check, Plan, counts, launch, settle_resolving_unconfirmed, verdict
from outbound.devstack.fault_sink import FaultSinkHandler


async def worker_kills(prospects: int, kills: int, seed: int = 1) -> list[Check]:
    """Kill the worker ``kills`` times, at random moments while sends are going out."""
    plan = Plan(prospects=prospects, steps=2)
    chooser = random.Random(seed)
    # Spread over the part of the run where messages are going out, by messages received.
    at_messages = sorted(chooser.sample(range(1, prospects * plan.steps), kills))
    handler = FaultSinkHandler()
    async with embedded_stack(handler) as stack:
        campaign_id = await launch(stack, plan)

        async def kill_on_schedule(_elapsed: float) -> None:
            while at_messages and len(handler.received) >= at_messages[0]:
                at_messages.pop(0)
                await stack.kill_worker()

        unconfirmed = await settle_resolving_unconfirmed(
            stack, campaign_id, plan, 120 + prospects * 1.0, meanwhile=kill_on_schedule
        )
        found = await counts(stack, campaign_id)
        checks = verdict(
            stack, campaign_id, plan, found, set(), retried_attempts=unconfirmed.missing_retried
        )
        checks.append(
            Check(
                "worker killed (kill -9) and restarted",
                stack.worker_kills == kills,
                f"{stack.worker_kills} times; {unconfirmed.describe()}",
            )
        )
        return checks
