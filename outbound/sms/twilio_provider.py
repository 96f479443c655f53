"""``SmsProvider`` on Twilio, with Twilio's own SDK.

The SDK builds every request; only the host changes: ``api_base_url`` replaces
``https://api.twilio.com`` (the local gateway in ``outbound dev`` and the tests).
Errors come back as ``TwilioRestException`` (``code``, ``status``, ``msg``) or, from a
newer API, ``TwilioServiceException``; both become the provider interface's exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from outbound.sms.provider import (
    InboundSms,
    ProviderCredentials,
    ProviderReceipt,
    SmsAuthFailed,
    SmsError,
    SmsOptedOut,
    SmsRejected,
    SmsTransient,
    StatusReport,
    required,
)

TWILIO_API = "https://api.twilio.com"
TWIML_CONTENT_TYPE = "text/xml"

_SDK_ERRORS = (TwilioRestException, TwilioServiceException, requests.RequestException)

OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
AUTHENTICATION_FAILED = 20003
TOO_MANY_REQUESTS = 20429


class _RedirectedHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, sending what it would send to api.twilio.com to another host."""

    def __init__(self, api_base_url: str, timeout: float) -> None:
        """Every request goes to ``api_base_url`` and gives up after ``timeout`` seconds."""
        super().__init__(timeout=timeout)
        self.api_base_url = api_base_url.rstrip("/")

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """The SDK's request, to the configured host."""
        if url.startswith(TWILIO_API):
            url = self.api_base_url + url[len(TWILIO_API) :]
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


class TwilioProvider:
    """Twilio's Programmable Messaging as an ``SmsProvider``.

    >>> provider = TwilioProvider("http://127.0.0.1:8026")  # the local gateway
    >>> provider.reply_body("Reply STOP to opt out.")[0]
    'text/xml'
    """

    def __init__(self, api_base_url: str = TWILIO_API, timeout: float = 10) -> None:
        """Talk to ``api_base_url`` (Twilio's API or a stand-in), ``timeout`` s per request."""
        self.api_base_url = api_base_url
        self.timeout = timeout

    def send(
        self, credentials: ProviderCredentials, *, to: str, body: str, status_callback: str | None
    ) -> ProviderReceipt:
        """Create the message at Twilio; it is ``queued`` there when this returns."""
        sender: dict[str, Any] = (
            {"from_": credentials.from_number}
            if credentials.from_number is not None
            else {"messaging_service_sid": credentials.messaging_service_sid}
        )
        if status_callback is not None:
            sender["status_callback"] = status_callback
        client = self._client(credentials)
        try:
            message = client.messages.create(to=to, body=body, **sender)
        except _SDK_ERRORS as error:
            raise _translated(error) from error
        return ProviderReceipt(sid=str(message.sid), status=str(message.status or "queued"))

    def check_credentials(self, credentials: ProviderCredentials) -> None:
        """Fetch the account: Twilio answers 401 (20003) to a wrong sid or token."""
        client = self._client(credentials)
        try:
            client.api.v2010.accounts(credentials.account_sid).fetch()
        except _SDK_ERRORS as error:
            translated = _translated(error)
            if isinstance(translated, SmsTransient | SmsAuthFailed):
                raise translated from error
            # 404 and the like: this sid is no account the token opens.
            raise SmsAuthFailed(translated.reason) from error

    def valid_signature(
        self, auth_token: str, url: str, params: Mapping[str, str], signature: str
    ) -> bool:
        """Check ``X-Twilio-Signature`` (HMAC-SHA1 of the URL and sorted form, by the token)."""
        return bool(RequestValidator(auth_token).validate(url, dict(params), signature))

    def parse_status(self, params: Mapping[str, str]) -> StatusReport:
        """A status callback's ``MessageSid``, ``MessageStatus`` and error, if any."""
        return StatusReport(
            sid=required(params, "MessageSid", "SmsSid"),
            status=required(params, "MessageStatus", "SmsStatus"),
            error_code=params.get("ErrorCode") or None,
            error_message=params.get("ErrorMessage") or None,
        )

    def parse_inbound(self, params: Mapping[str, str]) -> InboundSms:
        """An inbound message's sid, sender, our number it was sent to, and text."""
        return InboundSms(
            sid=required(params, "MessageSid", "SmsMessageSid", "SmsSid"),
            from_number=required(params, "From"),
            to_number=required(params, "To"),
            body=params.get("Body", ""),
        )

    def reply_body(self, text: str | None) -> tuple[str, str]:
        """TwiML: ``<Response><Message>text</Message></Response>``, or an empty response."""
        response = MessagingResponse()
        if text is not None:
            response.message(text)
        return TWIML_CONTENT_TYPE, str(response.to_xml(xml_declaration=True))

    def _client(self, credentials: ProviderCredentials) -> Client:
        """A client of the SDK for these credentials, on our host and timeout."""
        client = Client(
            credentials.account_sid,
            credentials.auth_token,
            http_client=_RedirectedHttpClient(self.api_base_url, self.timeout),
        )
        # The host is api_base_url's alone: TWILIO_REGION / TWILIO_EDGE in the environment
        # would make the SDK ask another host, past the redirection (e.g. from a dev stack).
        client.region = client.edge = None
        return client


def _translated(
    error: TwilioRestException | TwilioServiceException | requests.RequestException,
) -> SmsError:
    """The provider interface's exception for what the SDK (or requests) raised."""
    if isinstance(error, TwilioRestException):
        return _by_code(error.status, error.code, _message(error.msg))
    if isinstance(error, TwilioServiceException):
        return _by_code(error.status, error.code, error.detail or error.title)
    if isinstance(error, requests.Timeout):
        return SmsTransient(f"timeout: no answer from the SMS provider ({type(error).__name__})")
    return SmsTransient(f"connection: the SMS provider is unreachable ({type(error).__name__})")


def _by_code(status: int, code: int | None, message: str) -> SmsError:
    """Sort a Twilio error by its code, then by its HTTP status."""
    number = int(code) if code is not None else status
    reason = f"{number}: {message}"
    if number == OPTED_OUT:
        return SmsOptedOut(reason)
    if number == AUTHENTICATION_FAILED or status == 401:
        return SmsAuthFailed(reason)
    if number == TOO_MANY_REQUESTS or status == 429 or status >= 500:
        return SmsTransient(reason)
    return SmsRejected(number, reason)


def _message(msg: str) -> str:
    """The API's own message: the SDK prefixes it with ``Unable to create record: ``."""
    prefix, separator, rest = msg.partition(": ")
    if separator and prefix.startswith("Unable to "):
        return rest
    return msg
