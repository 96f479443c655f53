"""What Outbound needs of an SMS provider: send, check credentials, read its webhooks.

Plain types and a ``Protocol``, no provider library: ``twilio_provider.py`` implements it
with Twilio's SDK, and the tests and the dev stack run that against the local gateway
(``devstack/sms_gateway.py``). The methods are synchronous; callers in async code run
them in a thread (``asyncio.to_thread``).

Failures are sorted by what the caller should do next:

- ``SmsOptedOut``: the recipient unsubscribed (texted STOP); never retry, suppress them.
- ``SmsRejected``: this message can never go (bad number, landline, region not enabled).
- ``SmsTransient``: try again later (provider down, throttled, network trouble).
- ``SmsAuthFailed``: the workspace's credentials are wrong; nothing goes until fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ProviderCredentials:
    """A workspace's account at the provider, and what its messages are sent from.

    Exactly one of ``from_number`` (an E.164 number of the account) and
    ``messaging_service_sid`` (a pool of numbers the provider picks from) is set. The
    auth token is kept out of ``repr`` so that logging the credentials leaks nothing.

    >>> ProviderCredentials("AC123", "secret", from_number="+15550100")
    ProviderCredentials(account_sid='AC123', from_number='+15550100', messaging_service_sid=None)
    """

    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str | None = None
    messaging_service_sid: str | None = None

    def __post_init__(self) -> None:
        """Refuse credentials with both or neither sender."""
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of from_number and messaging_service_sid")


@dataclass(frozen=True)
class ProviderReceipt:
    """The provider accepted a message: its id there and its first status (``queued``)."""

    sid: str
    status: str


@dataclass(frozen=True)
class StatusReport:
    """One status callback: the message's new status, with the error of a failure."""

    sid: str
    status: str
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class InboundSms:
    """A text someone sent to one of the workspace's numbers."""

    sid: str
    from_number: str
    to_number: str
    body: str


class SmsError(Exception):
    """A send or a credentials check failed; ``reason`` is short, with the provider's code."""

    def __init__(self, reason: str) -> None:
        """Keep the reason (also the exception's text)."""
        super().__init__(reason)
        self.reason = reason


class SmsOptedOut(SmsError):
    """The recipient unsubscribed from this sender (Twilio 21610): never retry."""


class SmsRejected(SmsError):
    """The provider refused this message for good (invalid number, not a mobile, …)."""

    def __init__(self, code: int, reason: str) -> None:
        """``code`` is the provider's error code (the HTTP status where it gave none)."""
        super().__init__(reason)
        self.code = code


class SmsTransient(SmsError):
    """The provider could not be reached or asked us to slow down: retry later.

    A timeout after the request was sent leaves the outcome unknown: the message may
    have been accepted.
    """


class SmsAuthFailed(SmsError):
    """The provider refused the credentials (Twilio 20003, HTTP 401)."""


class MalformedWebhook(ValueError):
    """A webhook's form lacks a field every such webhook carries."""


class SmsProvider(Protocol):
    """An SMS provider as Outbound uses it (see ``TwilioProvider``)."""

    def send(
        self, credentials: ProviderCredentials, *, to: str, body: str, status_callback: str | None
    ) -> ProviderReceipt:
        """Hand one message to the provider; raises one of the ``SmsError`` kinds."""
        ...

    def check_credentials(self, credentials: ProviderCredentials) -> None:
        """Return if the provider accepts the credentials; else ``SmsAuthFailed`` (or
        ``SmsTransient`` when it cannot tell)."""
        ...

    def valid_signature(
        self, auth_token: str, url: str, params: Mapping[str, str], signature: str
    ) -> bool:
        """Whether a webhook to ``url`` with form ``params`` was signed by the provider."""
        ...

    def parse_status(self, params: Mapping[str, str]) -> StatusReport:
        """The status callback's form as a report; ``MalformedWebhook`` if it is not one."""
        ...

    def parse_inbound(self, params: Mapping[str, str]) -> InboundSms:
        """The inbound-message webhook's form; ``MalformedWebhook`` if it is not one."""
        ...

    def reply_body(self, text: str | None) -> tuple[str, str]:
        """Content type and body of the webhook answer that texts ``text`` back to the
        sender (``None``: answer without replying)."""
        ...


def required(params: Mapping[str, str], *names: str) -> str:
    """The first of ``names`` present (and not empty) in a webhook's form."""
    for name in names:
        value = params.get(name)
        if value:
            return value
    raise MalformedWebhook(f"the webhook has no {' or '.join(names)}")
