"""A Google mailbox connected with OAuth, end to end: API → dev server → worker → XOAUTH2.

The provider, its SMTP server and dovecot are real local servers
(``tests/support/oauth_provider.py``, ``oauth_smtp.py``, ``imap_server.py``);
Outbound's code is not mocked anywhere. Access tokens live one second here, so
a campaign's sends cross their expiry many times; consent is revoked in the
middle of the campaign, and signing in again through the same flow resumes it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlmodel import Session as DbSession

from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.store.tables import Mailbox
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import campaign_view
from tests.support import imap_server as imap_module
from tests.support import oauth_provider as provider_module
from tests.support.factories import CONSENT
from tests.support.imap_server import ImapTestServer
from tests.support.inbound_mail import reply_to
from tests.support.oauth_flow import ALWAYS_OPEN, google_settings, sign_in
from tests.support.oauth_provider import OAuthTestProvider
from tests.support.oauth_smtp import OAuthSinkController, start_oauth_sink
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

oauth_provider = provider_module.oauth_provider
oauth_imap_server = imap_module.oauth_imap_server

ADA = "ada@mail.example.com"  # one of imap_server.OAUTH_ACCOUNTS
PROSPECTS = 12
REVOKE_AFTER = 8  # messages accepted before Ada removes Outbound's access
STEPS = [
    {"subject": "Role for {{ first_name }}", "body": "Hi {{ first_name }}"},
    {"subject": "Following up, {{ first_name }}", "body": "Again"},
]


class RevokingSink(FaultSinkHandler):
    """The sink that, once it has accepted ``revoke_after`` messages, has the account's
    owner revoke Outbound's consent at the provider (before the next send can log in)."""

    def __init__(self) -> None:
        super().__init__()
        self.provider: OAuthTestProvider | None = None
        self.revoke_after: int | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.provider is not None and len(self.received) == self.revoke_after:
            self.provider.revoke_consent(ADA)
        return str(answer)


@pytest.fixture
def oauth_smtp(oauth_provider: OAuthTestProvider) -> Iterator[OAuthSinkController]:
    controller = start_oauth_sink(oauth_provider, RevokingSink())
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def extra_settings(
    oauth_provider: OAuthTestProvider,
    oauth_smtp: OAuthSinkController,
    oauth_imap_server: ImapTestServer,
) -> dict[str, Any]:
    return google_settings(oauth_provider, oauth_smtp.port, oauth_imap_server.port)


async def test_tokens_expire_consent_is_revoked_mid_campaign_and_signing_in_again_resumes_it(
    stack: Stack,
    oauth_provider: OAuthTestProvider,
    oauth_smtp: OAuthSinkController,
    oauth_imap_server: ImapTestServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    oauth_provider.access_token_seconds = 1
    sink: RevokingSink = oauth_smtp.handler

    connected = await sign_in(stack.api, login_hint=ADA, from_name="Ada", **ALWAYS_OPEN)

    assert connected.status_code == 200, connected.text
    mailbox = connected.json()["mailbox"]
    assert connected.json()["created"] is True
    assert (mailbox["auth_method"], mailbox["oauth_provider"]) == ("oauth2", "google")
    assert (mailbox["from_address"], mailbox["smtp_port"]) == (ADA, oauth_smtp.port)
    assert mailbox["has_password"] is False
    with_password = await stack.api.post(
        f"/mailboxes/{mailbox['id']}/reconnect", json={"password": "an-app-password"}
    )
    assert with_password.status_code == 422
    assert "/mailboxes/oauth/google/start" in with_password.json()["detail"][0]["reason"]
    campaign = await stack.api.post(
        "/campaigns",
        json={"name": "OAuth", "mailbox_id": mailbox["id"], "grace_seconds": 1, "steps": STEPS},
    )
    campaign_id = campaign.json()["id"]
    people = [
        {"first_name": f"P{n}", "addresses": [{"address": f"p{n}@corp{n}.example"}]}
        for n in range(PROSPECTS)
    ]
    added = await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)
    assert added.status_code == 201, added.text
    sink.provider, sink.revoke_after = oauth_provider, REVOKE_AFTER
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def parked() -> bool:
        shown = (await stack.api.get(f"/mailboxes/{mailbox['id']}")).json()
        return bool(shown["connection_state"] == "needs_reauth")

    await eventually(parked)
    shown = (await stack.api.get(f"/mailboxes/{mailbox['id']}")).json()
    assert "invalid_grant: Token has been expired or revoked." in shown["connection_problem"]
    assert (
        "/mailboxes/oauth/google/start"
        in (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).text
    )

    again = await sign_in(stack.api, mailbox_id=mailbox["id"])

    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    assert again.json()["mailbox"]["connection_state"] == "connected"
    assert again.json()["sequences_resumed"] >= 1

    async def completed() -> bool:
        return (await campaign_view(stack, campaign_id))["campaign"]["status"] == "Completed"

    await eventually(completed, seconds=90)
    sent = Counter((r.envelope_to[0], str(r.message["Subject"])) for r in sink.received)
    assert len(sent) == PROSPECTS * len(STEPS) and set(sent.values()) == {1}
    tokens_used = {a.token for a in oauth_smtp.oauth_log if a.accepted}
    assert len(tokens_used) >= 3 and oauth_provider.refresh_grants >= 2
    assert {a.user for a in oauth_smtp.oauth_log} == {ADA}

    # Inbox sync signs in to dovecot with the same tokens: a reply is read and recorded.
    first = sink.received[0]
    oauth_imap_server.append(
        reply_to(str(first.message["Message-ID"]), first.envelope_to[0]), user=ADA
    )

    async def reply_recorded() -> bool:
        await stack.api.post(f"/mailboxes/{mailbox['id']}/imap/poll")
        view = (await campaign_view(stack, campaign_id))["prospects"]
        return any(p.get("replied_at") for p in view) or await _any_reply(stack, campaign_id)

    await eventually(reply_recorded, seconds=60)

    secrets = oauth_provider.issued_refresh_tokens()
    with DbSession(stack.engine) as session:
        stored = session.get_one(Mailbox, mailbox["id"]).oauth_refresh_token_encrypted or ""
    assert secrets and not any(s in stored for s in secrets)
    ours = "\n".join(
        f"{r.name}: {r.getMessage()}" for r in caplog.records if not _the_providers(r.name)
    )
    for text in (connected.text, again.text, ours):
        assert not [s for s in secrets if s in text], text[:2000]
    assert not [t for t in tokens_used if t in ours]
    histories = 0
    async for workflow in stack.api_temporal.list_workflows():
        history = await stack.api_temporal.get_workflow_handle(workflow.id).fetch_history()
        assert not [t for t in secrets + list(tokens_used) if t in history.to_json()]
        histories += 1
    assert histories >= PROSPECTS + 2  # the sequences, the fan-out, the inbox sync


async def test_start_signs_in_with_a_token_and_refuses_when_consent_is_gone(
    stack: Stack, oauth_provider: OAuthTestProvider, oauth_smtp: OAuthSinkController
) -> None:
    connected = await sign_in(stack.api, login_hint=ADA, **ALWAYS_OPEN)
    mailbox_id = connected.json()["mailbox"]["id"]
    campaign = await stack.api.post(
        "/campaigns",
        json={"name": "Gone", "mailbox_id": mailbox_id, "grace_seconds": 1, "steps": STEPS},
    )
    campaign_id = campaign.json()["id"]
    people = [{"first_name": "Pat", "addresses": [{"address": "pat@corp.example.com"}]}]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    oauth_provider.revoke_consent(ADA)

    answer = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)

    assert answer.status_code == 409, answer.text
    reason = answer.json()["detail"][0]["reason"]
    assert "invalid_grant" in reason and "/mailboxes/oauth/google/start" in reason
    shown = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
    assert shown["connection_state"] == "needs_reauth"
    assert (await campaign_view(stack, campaign_id))["campaign"]["status"] != "InProgress"
    assert oauth_smtp.handler.received == []


def _the_providers(logger: str) -> bool:
    """Log records of the local provider's server side (Google's logs, not Outbound's)."""
    return logger.startswith(("authlib.oauth2.rfc", "authlib.oidc", "werkzeug"))


async def _any_reply(stack: Stack, campaign_id: int) -> bool:
    view = (await campaign_view(stack, campaign_id))["prospects"]
    for row in view:
        detail = await stack.api.get(f"/campaigns/{campaign_id}/prospects/{row['prospect_id']}")
        if detail.json().get("replied_at"):
            return True
    return False
