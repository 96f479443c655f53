"""Request and response shapes of connecting a mailbox by signing in with its provider."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from outbound.domain.mailboxes import MailboxPublic
from outbound.domain.schedule import WORKDAYS, ClockTime, SendDays, check_window
from outbound.domain.validators import EmailAddress, SingleLine, TimeZoneName


class OAuthStart(BaseModel):
    """Start signing in. With ``mailbox_id``, the sign-in reconnects that mailbox (which
    may be a password mailbox moving to OAuth); else it connects a new mailbox with the
    settings below (the servers are the provider's)."""

    mailbox_id: int | None = Field(default=None, description="The mailbox to reconnect.")
    login_hint: EmailAddress | None = Field(
        default=None, description="The address to sign in as (prefills the provider's page)."
    )
    from_name: Annotated[SingleLine, Field(max_length=200)] = ""
    time_zone: TimeZoneName = "UTC"
    daily_limit: Annotated[int, Field(ge=1, le=1_000_000)] = 50
    min_gap_seconds: Annotated[int, Field(ge=0, le=86_400)] = 300
    send_days: SendDays = Field(default_factory=lambda: list(WORKDAYS))
    send_start: ClockTime = "09:00"
    send_end: ClockTime = "17:00"

    @model_validator(mode="after")
    def _window_opens_before_it_closes(self) -> OAuthStart:
        check_window(self.send_start, self.send_end)
        return self


class OAuthStartAnswer(BaseModel):
    """Where to send the admin's browser: the provider's consent page."""

    authorization_url: str
    expires_at: datetime = Field(description="Sign in before this; then start again.")


class OAuthConnected(BaseModel):
    """The mailbox the sign-in connected or reconnected."""

    mailbox: MailboxPublic
    created: bool = Field(description="A new mailbox (else an existing one was reconnected).")
    sequences_resumed: int = Field(description="Sequences that waited for it and now go on.")
    inbox_sync_workflow_id: str
