"""The OAuth providers a mailbox can sign in with, and what Outbound asks each of them for."""

from __future__ import annotations

from enum import StrEnum

from outbound.oauth.provider_settings import OAuthProviderSettings
from outbound.settings import Settings


class Provider(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"

    @property
    def label(self) -> str:
        return "Google" if self is Provider.GOOGLE else "Microsoft"


SCOPES: dict[Provider, tuple[str, ...]] = {
    # Full mail access is the only Google scope that allows SMTP and IMAP; openid and
    # email let the ID token name the account that consented.
    Provider.GOOGLE: ("https://mail.google.com/", "openid", "email"),
    Provider.MICROSOFT: (
        "https://outlook.office.com/SMTP.Send",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "offline_access",
        "openid",
        "email",
    ),
}

AUTHORIZE_PARAMS: dict[Provider, dict[str, str]] = {
    # Google hands out a refresh token only for offline access, and again on a
    # reconnect only when asked to show the consent screen.
    Provider.GOOGLE: {"access_type": "offline", "prompt": "consent"},
    Provider.MICROSOFT: {"prompt": "select_account"},
}


def provider_settings(settings: Settings, provider: Provider) -> OAuthProviderSettings:
    return settings.oauth_google if provider is Provider.GOOGLE else settings.oauth_microsoft
