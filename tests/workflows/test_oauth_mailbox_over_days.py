"""A campaign on a Google mailbox over six days, under time skipping.

Everything is real (API, worker, store, the local OAuth provider, its SMTP server
checking every token) but the clock. Steps two days apart outlive every access
token, so each day's sends refresh it; a token endpoint outage only delays
sends; revoked consent parks the mailbox until the admin signs in again, and no
token ever reaches a workflow's history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, select
from temporalio.service import RPCError

from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.store.tables import Enrollment, Mailbox, Message
from outbound.workflows.inbox_sync import inbox_workflow_id
from outbound.workflows.launcher import launch_workflow_id
from tests.support import oauth_provider as provider_module
from tests.support.factories import CONSENT
from tests.support.oauth_flow import ALWAYS_OPEN, google_settings, sign_in
from tests.support.oauth_provider import OAuthTestProvider
from tests.support.oauth_smtp import OAuthSinkController, start_oauth_sink
from tests.support.polling import eventually
from tests.support.skipping_stack import SkippingStack, skipping_stack

oauth_provider = provider_module.oauth_provider

ADA = "ada@mail.example.com"
PEOPLE = [f"p{n}@corp{n}.example.com" for n in range(5)]
STEPS = [
    {"subject": "One", "body": "Hi {{ first_name }}"},
    {"subject": "Two", "body": "Again", "delay_days": 2},
    {"subject": "Three", "body": "Last", "delay_days": 2},
]


@pytest.fixture
def oauth_smtp(oauth_provider: OAuthTestProvider) -> Iterator[OAuthSinkController]:
    oauth_provider.add_account(ADA)
    controller = start_oauth_sink(oauth_provider, FaultSinkHandler())
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
async def stack(
    oauth_provider: OAuthTestProvider, oauth_smtp: OAuthSinkController, tmp_path: Path
) -> AsyncIterator[SkippingStack]:
    settings = google_settings(oauth_provider, oauth_smtp.port)
    async with skipping_stack(oauth_smtp.handler, tmp_path, **settings) as running:
        yield running


async def without_inbox_sync(stack: SkippingStack, connected: httpx.Response) -> None:
    """End the inbox sync the sign-in started, as removing the IMAP settings does: it polls
    every minute, 8,640 times in six skipped days, and this test is about sending
    (tests/e2e/test_oauth_mailboxes.py reads the inbox with the same tokens). Cancelling
    the workflow instead leaves the test server waiting for its poll, and time stops."""
    assert connected.status_code == 200, connected.text
    with Session(stack.engine) as session:
        mailbox = session.get_one(Mailbox, connected.json()["mailbox"]["id"])
        mailbox.imap_host = None
        session.add(mailbox)
        session.commit()
    sync = stack.env.client.get_workflow_handle(connected.json()["inbox_sync_workflow_id"])
    await sync.result()


async def advance(stack: SkippingStack, by: timedelta) -> None:
    """Move the test server's clock on. Its answer may time out (after 10 s of real time)
    while a send runs in real time, e.g. waiting out the seconds before a slot it was
    handed early: time has moved on all the same, and the caller looks again."""
    try:
        await stack.env.sleep(by)
    except RPCError as error:
        if "Timeout expired" not in str(error):
            raise


async def delivered(stack: SkippingStack, subject: str) -> None:
    """Time moves on until every prospect has ``subject``."""

    async def all_have_it() -> bool:
        await advance(stack, timedelta(minutes=30))
        return all(subject in stack.received(p) for p in PEOPLE)

    await eventually(all_have_it, seconds=90)


async def slot_of_step_two(stack: SkippingStack, campaign_id: int, address: str) -> datetime:
    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    (row,) = [p for p in view["prospects"] if p["email"] == address]
    detail = await stack.api.get(f"/campaigns/{campaign_id}/prospects/{row['prospect_id']}")
    return datetime.fromisoformat(detail.json()["steps"][1]["scheduled_at"])


async def test_tokens_refresh_each_day_an_outage_waits_and_revoked_consent_parks_until_sign_in(
    stack: SkippingStack, oauth_provider: OAuthTestProvider, oauth_smtp: OAuthSinkController
) -> None:
    connected = await sign_in(stack.api, login_hint=ADA, **ALWAYS_OPEN)
    await without_inbox_sync(stack, connected)
    mailbox_id = connected.json()["mailbox"]["id"]
    campaign = await stack.api.post(
        "/campaigns",
        json={"name": "Days", "mailbox_id": mailbox_id, "grace_seconds": 1, "steps": STEPS},
    )
    campaign_id = campaign.json()["id"]
    people = [{"first_name": p[:2], "addresses": [{"address": p}]} for p in PEOPLE]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success
    await delivered(stack, "One")
    refreshes_on_day_0 = oauth_provider.refresh_grants

    # Day 2: Google's token endpoint is down when the first step 2 is due. The send is
    # retried (30 s later); nothing parks.
    oauth_provider.token_endpoint_down = True
    first, *_ = sorted([await slot_of_step_two(stack, campaign_id, p) for p in PEOPLE])
    await advance(stack, first - await stack.env.get_current_time() + timedelta(seconds=5))

    async def a_send_failed_for_want_of_a_token() -> bool:
        with Session(stack.engine) as session:
            tried = session.exec(
                select(Message).where(Message.position == 2, col(Message.attempts) >= 1)
            ).all()
        return bool(tried)

    await eventually(a_send_failed_for_want_of_a_token)
    mailbox = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
    assert mailbox["connection_state"] == "connected"
    assert not any("Two" in stack.received(p) for p in PEOPLE)
    oauth_provider.token_endpoint_down = False
    await delivered(stack, "Two")
    assert oauth_provider.refresh_grants > refreshes_on_day_0  # the day-0 token had expired

    # Day 4: Ada has removed Outbound's access. Step 3 parks the mailbox; signing in again
    # resumes every sequence, and each gets step 3 once.
    oauth_provider.revoke_consent(ADA)

    async def parked() -> bool:
        await advance(stack, timedelta(hours=6))
        shown = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
        return bool(shown["connection_state"] == "needs_reauth")

    await eventually(parked, seconds=90)
    assert not any("Three" in stack.received(p) for p in PEOPLE)
    again = await sign_in(stack.api, mailbox_id=mailbox_id)
    await without_inbox_sync(stack, again)
    assert again.json()["sequences_resumed"] == len(PEOPLE)
    await delivered(stack, "Three")

    sent = Counter((r.envelope_to[0], str(r.message["Subject"])) for r in stack.sink.received)
    assert len(sent) == len(PEOPLE) * len(STEPS) and set(sent.values()) == {1}
    tokens = oauth_provider.issued_refresh_tokens() + oauth_provider.issued_access_tokens()
    with Session(stack.engine) as session:  # (the test server cannot list workflows)
        workflow_ids = [w for w in session.exec(select(Enrollment.workflow_id)) if w]
    workflow_ids += [launch_workflow_id(campaign_id), inbox_workflow_id(mailbox_id)]
    for workflow_id in workflow_ids:
        history = await stack.env.client.get_workflow_handle(workflow_id).fetch_history()
        assert not [t for t in tokens if t in history.to_json()], workflow_id
    assert len(workflow_ids) == len(PEOPLE) + 2
