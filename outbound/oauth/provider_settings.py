"""Where each OAuth provider lives: its app registration and endpoints, all settings.

Every endpoint is a setting so that a test (a local authorization server) or a
sovereign cloud can point elsewhere. Each provider has its own class because
its defaults differ: ``OUTBOUND_OAUTH_GOOGLE__CLIENT_ID=…`` sets one field and
keeps Google's defaults for the rest.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from outbound.domain.statuses import TlsMode


class OAuthProviderSettings(BaseModel):
    """One provider: the app registered with it, its OAuth endpoints, its mail servers."""

    client_id: str = Field(default="", description="The app's client id (empty: not offered).")
    client_secret: SecretStr = Field(default=SecretStr(""), description="The app's secret.")
    authorize_url: str
    token_url: str
    jwks_url: str = Field(description="Keys that sign the provider's ID tokens.")
    issuer: str = Field(
        description="The ID tokens' issuer; {tenantid} stands for the token's tid claim."
    )
    smtp_host: str
    smtp_port: int = 587
    smtp_tls: TlsMode = TlsMode.STARTTLS
    imap_host: str
    imap_port: int = 993
    imap_tls: bool = True

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret.get_secret_value())


class GoogleOAuthSettings(OAuthProviderSettings):
    """Google Workspace and Gmail (https://developers.google.com/identity/protocols/oauth2)."""

    authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    issuer: str = "https://accounts.google.com"
    smtp_host: str = "smtp.gmail.com"
    imap_host: str = "imap.gmail.com"


class MicrosoftOAuthSettings(OAuthProviderSettings):
    """Microsoft 365 / Exchange Online, any organisation's tenant (``organizations``)."""

    authorize_url: str = "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
    token_url: str = "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"  # noqa: S105
    jwks_url: str = "https://login.microsoftonline.com/organizations/discovery/v2.0/keys"
    issuer: str = "https://login.microsoftonline.com/{tenantid}/v2.0"
    smtp_host: str = "smtp.office365.com"
    imap_host: str = "outlook.office365.com"
