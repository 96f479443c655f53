"""Drill 3: a submission server that misbehaves, as real ones do under load.

The sink answers 421 or 451 to 20% of RCPT attempts, drops the connection at
5% of them, and refuses 5% of recipients for good (550 5.1.1). Some prospects
have a second address, so a refused first address must move the step to the
second; a prospect whose only address is refused ends Bounced.

PRODUCT.md rule 8 gives a transient failure three attempts, then the step is
Failed (TooManyRetries) and waits for the user's Retry; at a 25% fault rate
about 1.6% of sends fail three times running. The drill does what the user
would, watching the campaign: a bulk Retry of whatever shows Failed, every few
seconds while it runs and again at the end while any are left, and then checks
that every transient failure was delivered exactly once.
"""

from __future__ import annotations

import os
import random
import time

from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.stack import EmbeddedStack, embedded_stack, poll_until, say
from drills.campaign import DOMAIN, Check, Plan, counts, launch, settle, verdict
from outbound.devstack.fault_sink import FaultSinkHandler, _drop

TRANSIENT_SHARE = 0.20
DROPPED_SHARE = 0.05
REFUSED_SHARE = 0.05
TRANSIENT_ANSWERS = (
    "421 4.3.2 Service shutting down, closing transmission channel",
    "451 4.3.0 Temporary local problem, please retry",
)
REFUSED_ANSWER = "550 5.1.1 Recipient address rejected: User unknown"
RETRY_ROUNDS = 5
RETRY_EVERY = 5.0  # seconds between the watching user's looks
LAGGING = "only a Failed prospect can be retried"


class RandomFaultSink(FaultSinkHandler):
    """Faults drawn at random per RCPT attempt; refused recipients refused every time."""

    def __init__(self, seed: int, refused: set[str]) -> None:
        super().__init__()
        self._random = random.Random(seed)
        self.refused = {address.lower() for address in refused}
        self.faults = {"transient": 0, "dropped": 0, "refused": 0}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str | None:
        if address.lower() in self.refused:
            self.faults["refused"] += 1
            return REFUSED_ANSWER
        roll = self._random.random()
        if roll < DROPPED_SHARE:
            self.faults["dropped"] += 1
            _drop(server)
            return "421 4.4.2 Connection dropped"  # never arrives: the connection is gone
        if roll < DROPPED_SHARE + TRANSIENT_SHARE:
            self.faults["transient"] += 1
            return self._random.choice(TRANSIENT_ANSWERS)
        return await super().handle_RCPT(server, session, envelope, address, options)


def addresses_of(index: int) -> list[str]:
    """Every third prospect has a second address to fall back on."""
    first = f"p{index}@{DOMAIN}"
    return [first, f"p{index}.work@{DOMAIN}"] if index % 3 == 0 else [first]


async def smtp_faults(prospects: int, seed: int = 3) -> list[Check]:
    chooser = random.Random(seed)
    refused_prospects = set(chooser.sample(range(prospects), max(1, prospects * 5 // 100)))
    refused = {f"p{i}@{DOMAIN}" for i in refused_prospects}
    # Bounced for good: a refused first address and no second one.
    bounced = {i for i in refused_prospects if len(addresses_of(i)) == 1}
    plan = Plan(prospects=prospects, steps=2, addresses=addresses_of, slots_match_sends=False)
    handler = RandomFaultSink(seed, refused)
    # The sink refuses 5% of recipients for good: about the reputation guard's limit, so
    # the guard would pause the mailbox from the 100th send on, as it should (its tests:
    # tests/e2e/test_reputation_guard.py). This drill is about transient faults; its
    # mailbox gets a looser limit.
    loose_guard = {"reputation_max_hard_bounce_rate": 0.5}
    async with embedded_stack(handler, settings_update=loose_guard) as stack:
        campaign_id = await launch(stack, plan)
        within = 180 + prospects * 1.0
        retried = 0
        last_look = -RETRY_EVERY

        async def retry_what_failed(elapsed: float) -> None:
            """The user watching the campaign retries whatever shows Failed."""
            nonlocal retried, last_look
            if elapsed - last_look >= RETRY_EVERY:
                last_look = elapsed
                found = await counts(stack, campaign_id)
                if os.environ.get("OUTBOUND_DRILL_TRACE"):
                    say(f"{elapsed:5.0f} s {found} sink {len(handler.received)}")
                if found.get("Failed"):
                    retried += await retry_failed(stack, campaign_id)

        await settle(stack, campaign_id, plan, within, meanwhile=retry_what_failed)
        for _ in range(RETRY_ROUNDS):
            found = await counts(stack, campaign_id)
            if not found.get("Failed"):
                break
            retried += await retry_failed(stack, campaign_id)
            await mirrored_as_retried(stack, campaign_id)
            await settle(stack, campaign_id, plan, within)
        found = await counts(stack, campaign_id)
        checks = verdict(stack, campaign_id, plan, found, bounced)
        faults = handler.faults
        checks.append(
            Check(
                "faults injected",
                faults["transient"] > 0 and faults["dropped"] > 0 and faults["refused"] > 0,
                f"{faults['transient']} answered 421/451, {faults['dropped']} connections "
                f"dropped, {faults['refused']} refused for good (550 5.1.1); "
                f"{retried} Failed (TooManyRetries) sends retried by the user",
            )
        )
        return checks


async def mirrored_as_retried(stack: EmbeddedStack, campaign_id: int) -> None:
    """Until the database shows the retried prospects no longer Failed: the workflow mirrors
    its state by an activity, so a listing right after the Retry may still say Failed (a
    retried send fails again only after its three attempts, half a minute at least)."""

    async def failed() -> int:
        return (await counts(stack, campaign_id)).get("Failed", 0)

    await poll_until(time.perf_counter(), failed, lambda n: n == 0, "Retry mirrored", 60)


async def retry_failed(stack: EmbeddedStack, campaign_id: int) -> int:
    """The user's bulk Retry of every Failed prospect; how many it reached."""
    answer = await stack.api.post(
        f"/campaigns/{campaign_id}/bulk", json={"action": "retry", "status": "Failed"}
    )
    answer.raise_for_status()
    body = answer.json()
    # A prospect retried a moment ago may still be listed Failed (the mirror lags); its
    # workflow refuses the second Retry. Anything else is a finding.
    unexpected = [p for p in body["refused"] if LAGGING not in p["reason"]]
    if unexpected:
        raise RuntimeError(f"Retry refused: {unexpected[:3]}")
    return len(body["done"])
