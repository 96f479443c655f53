"""Signing a mailbox in with OAuth: what the start and the callback refuse, and why.

Against the local provider and its SMTP server (no Temporal: every request here is
refused before a mailbox is stored). The callback has no API key; its state is
its proof, so a forged, replayed or expired one must connect nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from outbound.devstack.sink import SinkHandler
from outbound.settings import Settings
from outbound.store.tables import Mailbox, OAuthConnect
from tests.support import oauth_provider as provider_module
from tests.support.oauth_flow import consent, google_settings, sign_in
from tests.support.oauth_provider import OAuthTestProvider
from tests.support.oauth_smtp import OAuthSinkController, start_oauth_sink

oauth_provider = provider_module.oauth_provider

ADA = "ada@mail.example.com"


@pytest.fixture
def oauth_smtp(oauth_provider: OAuthTestProvider) -> Iterator[OAuthSinkController]:
    oauth_provider.add_account(ADA)
    controller = start_oauth_sink(oauth_provider, SinkHandler())
    try:
        yield controller
    finally:
        if controller._thread is not None:  # a test may have stopped it
            controller.stop()


@pytest.fixture
def api_settings(
    tmp_path: Path, oauth_provider: OAuthTestProvider, oauth_smtp: OAuthSinkController
) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/api.db",
        **google_settings(oauth_provider, oauth_smtp.port),  # type: ignore[arg-type]
    )


async def callback(api: httpx.AsyncClient, path_and_query: str) -> httpx.Response:
    """The provider's redirect followed by a browser: no API key."""
    async with httpx.AsyncClient(transport=api._transport, base_url=api.base_url) as browser:
        return await browser.get(path_and_query)


def problem(answer: httpx.Response) -> tuple[int, str, str]:
    (first,) = answer.json()["detail"]
    return answer.status_code, first["field"], first["reason"]


def nothing_stored(engine: Engine) -> bool:
    with Session(engine) as session:
        return session.exec(select(Mailbox)).first() is None


async def test_the_consent_url_asks_for_mail_offline_access_and_pkce(
    api: httpx.AsyncClient, oauth_provider: OAuthTestProvider
) -> None:
    started = await api.post("/mailboxes/oauth/google/start", json={"login_hint": ADA})

    assert started.status_code == 200, started.text
    url = urlsplit(started.json()["authorization_url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == oauth_provider.authorize_url
    assert query["scope"].split() == ["https://mail.google.com/", "openid", "email"]
    assert (query["access_type"], query["prompt"], query["login_hint"]) == (
        "offline",
        "consent",
        ADA,
    )
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == "http://api.local/mailboxes/oauth/callback"
    assert query["client_id"] == oauth_provider.client_id and "client_secret" not in url.query


async def test_a_provider_without_an_app_is_a_422_naming_the_settings(
    api: httpx.AsyncClient,
) -> None:
    answer = await api.post("/mailboxes/oauth/microsoft/start", json={})
    unknown = await api.post("/mailboxes/oauth/yahoo/start", json={})

    status, field, reason = problem(answer)
    assert (status, field) == (422, "provider")
    assert "OUTBOUND_OAUTH_MICROSOFT__CLIENT_ID" in reason
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "provider"


async def test_a_forged_a_replayed_and_an_expired_state_connect_nothing(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    back = await consent(await api.post("/mailboxes/oauth/google/start", json={"login_hint": ADA}))
    state = parse_qs(urlsplit(back).query)["state"][0]
    forged = await callback(api, back.replace(state, state[:-2] + "xx"))
    other_deployment = await callback(api, back.replace(state, "WzEsMSwxXQ.axTUzQ.forged"))

    assert problem(forged)[:2] == (400, "state")
    assert problem(other_deployment)[:2] == (400, "state")

    back_late = await consent(await api.post("/mailboxes/oauth/google/start", json={}))
    with Session(api_engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(OAuthConnect)
            .where(col(OAuthConnect.id) == 2)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    expired = await callback(api, back_late)
    first = await callback(api, back.replace("code=", "error=access_denied&code="))
    replayed = await callback(api, back)

    assert problem(expired)[:2] == (400, "state")
    assert problem(first)[:2] == (400, "consent")
    status, field, reason = problem(replayed)
    assert (status, field) == (400, "state") and "already used" in reason
    assert nothing_stored(api_engine)


async def test_declined_consent_and_a_token_endpoint_that_is_down_store_nothing(
    api: httpx.AsyncClient, api_engine: Engine, oauth_provider: OAuthTestProvider
) -> None:
    oauth_provider.deny_consent = True
    declined = await sign_in(api, login_hint=ADA)
    oauth_provider.deny_consent = False
    oauth_provider.token_endpoint_down = True
    down = await sign_in(api, login_hint=ADA)

    status, field, reason = problem(declined)
    assert (status, field) == (400, "consent") and "access_denied" in reason
    assert problem(down)[:2] == (503, "provider")
    assert nothing_stored(api_engine)


async def test_the_smtp_server_refusing_the_new_token_stores_nothing(
    api: httpx.AsyncClient, api_engine: Engine, oauth_smtp: OAuthSinkController
) -> None:
    oauth_smtp.stop()  # Google's SMTP server cannot be reached: the sign-in is not kept

    answer = await sign_in(api, login_hint=ADA)

    status, field, reason = problem(answer)
    assert (status, field) == (422, "smtp") and "nothing stored" in reason
    assert nothing_stored(api_engine)


async def test_reconnecting_a_mailbox_as_another_account_changes_nothing(
    api: httpx.AsyncClient, api_engine: Engine, oauth_provider: OAuthTestProvider
) -> None:
    made = await api.post(
        "/mailboxes",
        json={"smtp_host": "smtp.example.com", "from_address": "bob@example.com", "password": "p"},
    )
    mailbox_id = made.json()["id"]
    with Session(api_engine) as session:
        before = session.get_one(Mailbox, mailbox_id).model_dump()

    answer = await sign_in(api, mailbox_id=mailbox_id, login_hint=ADA)

    status, field, reason = problem(answer)
    assert (status, field) == (422, "account")
    assert ADA in reason and "bob@example.com" in reason
    with Session(api_engine) as session:
        assert session.get_one(Mailbox, mailbox_id).model_dump() == before
    assert not [t for t in oauth_provider.issued_refresh_tokens() if t in answer.text]


async def test_a_sign_in_started_by_an_admin_who_is_one_no_more_is_refused(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    me = (await api.get("/me")).json()
    colleague = await api.post("/users", json={"email": "eve@example.com", "role": "admin"})
    assert colleague.status_code == 201, colleague.text
    back = await consent(await api.post("/mailboxes/oauth/google/start", json={"login_hint": ADA}))
    demoted = await api.patch(f"/users/{me['user_id']}", json={"role": "member"})
    assert demoted.status_code == 200, demoted.text

    answer = await callback(api, back)

    assert problem(answer)[:2] == (403, "authorization")
    assert nothing_stored(api_engine)
