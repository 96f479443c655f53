"""Request and response shapes of an SMS sender: a number (or messaging service) and its limits.

The provider's auth token is write-only, like a mailbox password: requests may
set or replace it, answers only say whether one is stored (``has_auth_token``).

Usage::

    SmsSenderCreate(
        name="Recruiting line",
        account_sid="AC" + "0" * 32,
        auth_token="…",
        from_number="+1 415 555 0100",  # stored and shown as +14155550100
    )
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from outbound.domain.accounts import Name
from outbound.domain.phones import MAX_PHONE_LENGTH, parse_phone
from outbound.domain.problems import FieldProblem
from outbound.domain.schedule import WORKDAYS, ClockTime, SendDays, check_window
from outbound.domain.statuses import MailboxConnection
from outbound.domain.validators import TimeZoneName

DEFAULT_HELP_TEXT = "Reply STOP to opt out."
MAX_PER_SECOND = 100.0


class SmsProvider(StrEnum):
    """Who carries a sender's messages."""

    TWILIO = "twilio"


def e164_number(value: str) -> str:
    """A sender's number: international form only (``+`` and the country code), as E.164."""
    return parse_phone(value, default_region=None)


def _sid(prefix: str, what: str) -> AfterValidator:
    pattern = re.compile(rf"{prefix}[0-9a-fA-F]{{32}}")

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"not a {what}: {prefix} followed by 32 hexadecimal digits")
        return value

    return AfterValidator(check)


E164Number = Annotated[str, Field(max_length=MAX_PHONE_LENGTH), AfterValidator(e164_number)]
AccountSid = Annotated[str, Field(max_length=34), _sid("AC", "Twilio account SID")]
MessagingServiceSid = Annotated[str, Field(max_length=34), _sid("MG", "messaging service SID")]
AuthToken = Annotated[SecretStr, Field(min_length=1, max_length=128)]
HelpText = Annotated[str, Field(min_length=1, max_length=320)]
DailyLimit = Annotated[int, Field(ge=1, le=100_000)]
PerSecond = Annotated[float, Field(gt=0, le=MAX_PER_SECOND)]


def _one_origin(from_number: str | None, messaging_service_sid: str | None) -> None:
    """Exactly one of the two says where messages come from."""
    if from_number is None and messaging_service_sid is None:
        raise FieldProblem("from_number", "give from_number or messaging_service_sid")
    if from_number is not None and messaging_service_sid is not None:
        raise FieldProblem("from_number", "give from_number or messaging_service_sid, not both")


class SmsSenderCreate(BaseModel):
    """A new SMS sender; the auth token is write-only and never returned."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Recruiting line",
                    "account_sid": "AC0123456789abcdef0123456789abcdef",
                    "auth_token": "your-auth-token",
                    "from_number": "+14155550100",
                    "time_zone": "America/Los_Angeles",
                    "daily_limit": 200,
                    "per_second": 1.0,
                    "send_days": ["mon", "tue", "wed", "thu", "fri"],
                    "send_start": "09:00",
                    "send_end": "17:00",
                }
            ]
        }
    )

    name: Annotated[Name, Field(min_length=1)]
    provider: SmsProvider = SmsProvider.TWILIO
    account_sid: AccountSid
    auth_token: AuthToken
    from_number: E164Number | None = None
    messaging_service_sid: MessagingServiceSid | None = None
    time_zone: TimeZoneName = "UTC"
    daily_limit: DailyLimit = Field(
        default=200, description="Most messages per calendar day (sender time zone), all campaigns."
    )
    per_second: PerSecond = Field(
        default=1.0, description="Most messages per second (carriers limit each number)."
    )
    send_days: SendDays = Field(default_factory=lambda: list(WORKDAYS))
    send_start: ClockTime = "09:00"
    send_end: ClockTime = "17:00"
    help_text: HelpText = Field(
        default=DEFAULT_HELP_TEXT, description="The answer to a HELP keyword."
    )

    @model_validator(mode="after")
    def _checked_together(self) -> SmsSenderCreate:
        _one_origin(self.from_number, self.messaging_service_sid)
        check_window(self.send_start, self.send_end)
        return self


# Fields of an update that may be set but never to null.
_NOT_NULL = (
    "name",
    "account_sid",
    "auth_token",
    "time_zone",
    "daily_limit",
    "per_second",
    "send_days",
    "send_start",
    "send_end",
    "help_text",
)


class SmsSenderUpdate(BaseModel):
    """Changes to a sender: only the fields given change.

    To move from a number to a messaging service, give the service and
    ``"from_number": null`` (the result must still have exactly one). A new
    ``auth_token`` or ``account_sid`` clears a "needs re-authentication" state.
    """

    name: Annotated[Name, Field(min_length=1)] | None = None
    account_sid: AccountSid | None = None
    auth_token: AuthToken | None = None
    from_number: E164Number | None = None
    messaging_service_sid: MessagingServiceSid | None = None
    time_zone: TimeZoneName | None = None
    daily_limit: DailyLimit | None = None
    per_second: PerSecond | None = None
    send_days: SendDays | None = None
    send_start: ClockTime | None = None
    send_end: ClockTime | None = None
    help_text: HelpText | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> SmsSenderUpdate:
        for name in _NOT_NULL:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise FieldProblem(name, "may be changed but not removed (null)")
        return self


def check_sender(
    from_number: str | None, messaging_service_sid: str | None, send_start: str, send_end: str
) -> None:
    """The rules that join several fields, for a sender after an update (FieldProblem)."""
    _one_origin(from_number, messaging_service_sid)
    check_window(send_start, send_end)


class SmsSenderView(BaseModel):
    """A sender as the API shows it: whether an auth token is set, never the token."""

    id: int
    name: str
    provider: SmsProvider
    account_sid: str
    has_auth_token: bool
    from_number: str | None
    messaging_service_sid: str | None
    time_zone: str
    daily_limit: int
    per_second: float
    send_days: SendDays
    send_start: str
    send_end: str
    help_text: str
    connection_state: MailboxConnection
    connection_problem: str | None = Field(
        default=None, description="Why the provider refused the credentials (its answer)."
    )
    throttled_until: datetime | None = Field(
        default=None, description="The provider rate-limited it: no send before this time."
    )
    created_at: datetime


class SmsGrantView(BaseModel):
    """A member who may send through the sender."""

    sender_id: int
    user_id: int
    granted_at: datetime
