"""All configuration in one validated place, read from ``OUTBOUND_*`` environment variables.

docker-compose.yml sets only variables named here (a test checks that), so a typo
in deployment configuration fails loudly instead of being silently ignored.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from outbound.domain.sending_rules import BIG_MAILBOX_PROVIDERS, DomainCap
from outbound.oauth.provider_settings import GoogleOAuthSettings, MicrosoftOAuthSettings


class Settings(BaseSettings):
    """Process-wide settings for the API, the worker and the embedded dev stack."""

    model_config = SettingsConfigDict(
        env_prefix="OUTBOUND_",
        env_file=".env",
        extra="ignore",
        env_nested_delimiter="__",  # OUTBOUND_OAUTH_GOOGLE__CLIENT_ID
    )

    database_url: str = Field(
        default="sqlite:///var/outbound.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user:pw@host/db",
    )
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "outbound"
    public_base_url: str = Field(
        default="http://localhost:8001",
        description="Base URL where recipients reach the public app (links in messages).",
    )
    signing_secret: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "HMAC key of the unsubscribe, open and click links (at least 16 characters; "
            "changing it breaks the links of messages already sent)."
        ),
    )
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description=(
            "Keys that encrypt stored secrets (mailbox passwords, provider credentials), "
            "newest first, as a JSON list or separated by commas. New values use the first; "
            "stored values are read with any (`outbound admin rotate-secrets` re-encrypts "
            "them with the first). `outbound admin new-encryption-key` makes one."
        ),
    )
    migrate_on_start: bool = Field(
        default=False,
        description="The API upgrades the database schema as it starts (else `outbound db "
        "upgrade` does, and the API refuses to start on an older schema).",
    )
    default_grace_seconds: int = Field(default=20 * 60, ge=0)
    check_address_dns: bool = Field(
        default=True, description="Look up each recipient domain's mail servers before sending."
    )
    dns_nameservers: list[str] = Field(
        default_factory=list,
        description="DNS servers for the address check and mail hosts (default: system's).",
    )
    dns_port: int = 53
    dns_timeout_seconds: float = Field(default=3.0, gt=0)
    domain_hourly_cap: int = Field(
        default=20,
        ge=1,
        description="Sending rules' default: most messages one mailbox sends to one recipient "
        "domain per clock hour (a workspace may set its own: PUT /workspace/sending-rules).",
    )
    domain_daily_cap: int = Field(default=100, ge=1, description="…and per mailbox-local day.")
    domain_caps: dict[str, DomainCap] = Field(
        default_factory=lambda: {
            domain: DomainCap(hourly=10, daily=60) for domain in BIG_MAILBOX_PROVIDERS
        },
        description="Default caps of named domains (JSON), tighter for the big mailbox "
        "providers, whose filters watch one sender's volume most closely.",
    )
    reputation_window_sends: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="The reputation guard judges a mailbox over its last this many sends.",
    )
    reputation_min_sends: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Rates are counted over at least this many sends: a young mailbox is not "
        "paused by its first bounce, yet 6 hard bounces in its first 100 sends are 6%.",
    )
    reputation_max_hard_bounce_rate: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="A hard-bounce rate above this pauses the mailbox (paused_reputation).",
    )
    reputation_max_complaint_rate: float = Field(
        default=0.003,
        gt=0,
        le=1,
        description="A complaint rate above this pauses the mailbox (paused_reputation).",
    )
    webhook_allow_loopback: bool = Field(
        default=False,
        description="Let webhook URLs resolve to loopback addresses (the tests' receiver).",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description=(
            "Let webhook URLs resolve to private, link-local or other non-global addresses. "
            "Off, such URLs are refused at create and at every delivery."
        ),
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="A webhook receiver must answer within this."
    )
    webhook_retry_initial_seconds: float = Field(
        default=10.0, gt=0, description="First wait before a failed delivery is tried again."
    )
    webhook_retry_max_interval_seconds: float = Field(
        default=3600.0, gt=0, description="The waits double up to this."
    )
    webhook_give_up_hours: float = Field(
        default=72.0,
        gt=0,
        description="A delivery failing this long disables its subscription (flagged).",
    )
    webhook_max_subscriptions: int = Field(
        default=20, ge=1, le=1000, description="Webhook subscriptions per workspace."
    )
    allow_private_mail_hosts: bool = Field(
        default=False,
        description=(
            "Let mailboxes use SMTP/IMAP hosts on loopback, private, link-local or other "
            "non-global addresses (outbound dev and the tests turn it on for the local sink "
            "and dovecot). Off, such hosts are refused before connecting."
        ),
    )
    allow_any_mail_port: bool = Field(
        default=False,
        description="Let mailboxes use ports other than 25, 465, 587, 2525, 143 and 993.",
    )
    default_phone_region: str | None = Field(
        default="US",
        description=(
            "Region (ISO 3166 code, e.g. US, GB) of prospects' phone numbers written without "
            "a leading +; empty: every number must start with + and its country code."
        ),
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    sink_dir: Path | None = Field(
        default=None,
        description="Folder of the local SMTP sink's .eml files; enables GET /sink/messages.",
    )
    sink_host: str = "127.0.0.1"
    sink_port: int = 1025
    temporal_ui_port: int = 8233
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description=(
            "json: one JSON object per log line (time, level, logger, message, and the "
            "workspace, campaign, prospect and workflow ids where known); never secrets or "
            "message bodies."
        ),
    )
    worker_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65_535,
        description="Port of a worker's Prometheus metrics (outbound_*); 0: not served.",
    )
    temporal_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65_535,
        description=(
            "Port of a worker's Temporal SDK metrics (Prometheus, named outbound_temporal_*: "
            "task slots, polls, latencies); 0: not served."
        ),
    )
    metrics_host: str = Field(
        default="0.0.0.0",  # noqa: S104 - a scraper on the container network reaches it
        description="Address the workers' metrics ports listen on.",
    )
    worker_max_cached_workflows: int = Field(
        default=1_000,
        ge=0,
        description=(
            "Workflows a worker keeps in memory between their tasks. One evicted from "
            "the cache is replayed from its history at its next task (a timer firing, a "
            "signal), so set this to the number of sequences a worker holds open. Each "
            "cached sequence takes about 80 KB of the worker's memory."
        ),
    )
    workflow_module_isolation: bool = Field(
        default=False,
        description=(
            "Re-import the workflow modules in Temporal's sandbox for every workflow, so "
            "that it checks each call they make for nondeterminism (the test suite always "
            "runs so). Off, Outbound's modules are imported once per worker: about a fifth "
            "less worker CPU per send (bench/send_throughput.py)."
        ),
    )

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _keys_from_text(cls, value: Any) -> Any:
        """``["k1", "k2"]`` or ``k1,k2``."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("default_phone_region", mode="before")
    @classmethod
    def _phone_region(cls, value: Any) -> Any:
        """``gb`` → ``GB``; empty → None; a region ``phonenumbers`` does not know is refused."""
        if isinstance(value, str):
            value = value.strip().upper() or None
            if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"unknown phone region {value!r}; use a code like US or GB")
        return value

    def as_environment(self) -> dict[str, str]:
        """The ``OUTBOUND_*`` variables that give another process these settings
        (secrets unmasked: a worker started with them must sign the same links)."""
        dumped = self.model_dump(mode="json", exclude_none=True)
        dumped["signing_secret"] = self.signing_secret.get_secret_value()
        dumped["encryption_keys"] = [key.get_secret_value() for key in self.encryption_keys]
        dumped["default_phone_region"] = self.default_phone_region or ""  # None: empty
        dumped["oauth_google"]["client_secret"] = self.oauth_google.client_secret.get_secret_value()
        dumped["oauth_microsoft"]["client_secret"] = (
            self.oauth_microsoft.client_secret.get_secret_value()
        )
        return {
            f"OUTBOUND_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
            for name, value in dumped.items()
        }

    # --- SMS (issue 27): the provider's REST API and the local gateway of `outbound dev` ---
    sms_api_base_url: str = Field(
        default="https://api.twilio.com",
        description=(
            "Base URL of the SMS provider's REST API (Twilio's). The tests and `outbound dev` "
            "point it at the local SMS gateway (devstack/sms_gateway.py), which speaks it."
        ),
    )
    sms_gateway_port: int = Field(
        default=8026, description="Port of the local SMS gateway that `outbound dev` runs."
    )
    sms_gateway_delay_seconds: float = Field(
        default=0.2,
        ge=0,
        description="Seconds before each status callback of the local SMS gateway.",
    )

    # --- OAuth mailboxes (issue 28): Google and Microsoft apps, endpoints, the callback ---
    oauth_google: GoogleOAuthSettings = Field(
        default_factory=GoogleOAuthSettings,
        description="Google's app and endpoints: OUTBOUND_OAUTH_GOOGLE__CLIENT_ID and so on.",
    )
    oauth_microsoft: MicrosoftOAuthSettings = Field(
        default_factory=MicrosoftOAuthSettings,
        description="Microsoft's app and endpoints: OUTBOUND_OAUTH_MICROSOFT__CLIENT_ID and so on.",
    )
    oauth_redirect_url: str = Field(
        default="http://localhost:8000/mailboxes/oauth/callback",
        description=(
            "Where the provider sends the admin's browser back after consent: this API's "
            "GET /mailboxes/oauth/callback, as registered with each provider."
        ),
    )


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
