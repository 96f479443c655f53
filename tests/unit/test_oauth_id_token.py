"""Who signed in: the address in a provider's ID token, and what makes one untrustworthy.

Tokens are signed here with a key of the test's own (joserfc), as the provider
signs them; Microsoft's issuer names the tenant, so the setting's ``{tenantid}``
is filled from the token's ``tid``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from outbound.oauth.connect import ConnectRefused, verified_email
from outbound.oauth.provider_settings import MicrosoftOAuthSettings
from outbound.oauth.providers import Provider

KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
CONFIG = MicrosoftOAuthSettings(client_id="app-1", client_secret="s")  # type: ignore[arg-type]


def id_token(key: RSAKey = KEY, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        "aud": "app-1",
        "tid": TENANT,
        "nonce": "n-1",
        "iat": now,
        "exp": now + 3600,
        "preferred_username": "Ada@Contoso.example.com",
        **claims,
    }
    return jwt.encode({"alg": "RS256", "kid": "k1"}, body, key)


def keys() -> dict[str, Any]:
    return {"keys": [KEY.as_dict(private=False)]}


def test_a_microsoft_token_names_its_tenant_and_the_signed_in_address() -> None:
    assert verified_email(Provider.MICROSOFT, CONFIG, id_token(), keys(), "n-1") == (
        "ada@contoso.example.com"
    )
    assert verified_email(
        Provider.MICROSOFT, CONFIG, id_token(email="ada@fabrikam.example.com"), keys(), "n-1"
    ) == ("ada@fabrikam.example.com")


@pytest.mark.parametrize(
    ("token", "nonce"),
    [
        (id_token(OTHER_KEY), "n-1"),  # not the provider's signature
        (id_token(aud="another-app"), "n-1"),  # issued to another app
        (id_token(iss="https://evil.example.com/v2.0"), "n-1"),
        (id_token(exp=int(time.time()) - 10), "n-1"),  # expired
        (id_token(), "n-2"),  # from another sign-in
        (id_token(email_verified=False, email="x@y.example.com"), "n-1"),
        (id_token(preferred_username="not an address"), "n-1"),
        ("", "n-1"),
    ],
    ids=["key", "audience", "issuer", "expired", "nonce", "unverified", "no-address", "none"],
)
def test_a_token_that_proves_nothing_is_refused(token: str, nonce: str) -> None:
    with pytest.raises(ConnectRefused):
        verified_email(Provider.MICROSOFT, CONFIG, token, keys(), nonce)
