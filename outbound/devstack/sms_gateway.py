"""A local SMS gateway: the part of Twilio's REST API that Outbound uses, on loopback.

``outbound dev`` and the tests point Twilio's own SDK at it (``TwilioProvider(api_base_url=
gateway.url)``), so they exercise the real SDK, real HTTP basic auth and real webhook
signatures without sending a text:

- ``POST /2010-04-01/Accounts/{sid}/Messages.json`` accepts a message (201, Twilio's JSON)
  or refuses it in Twilio's error JSON: 20003 (wrong credentials), 21211 (not a number),
  21610 (the recipient opted out), or what ``GatewayRules`` says for that number.
- ``GET /2010-04-01/Accounts/{sid}.json`` answers the account (a credentials check).
- Accepted messages get status callbacks, signed with ``X-Twilio-Signature`` as Twilio
  signs them: ``sent`` then ``delivered`` by default, each after ``delay`` seconds, or as
  the rules say (undelivered with 30003, silence, ``sent`` only, twice, in reverse order).
- ``GET /sink/sms`` lists every message, newest first, with its status history; with a
  folder, each message and status change is also appended to ``messages.jsonl`` there,
  which ``outbound sink --sms`` reads (``sms_sink.read_sms_sink``).
- ``POST /sink/sms/inbound`` ``{"from", "to", "body"}`` simulates a text to one of our
  numbers: a signed inbound webhook to ``inbound_url``; ``<Message>`` replies in its TwiML
  answer are recorded as messages sent.

``SmsGateway`` runs in the caller's event loop (``async with SmsGateway(...)``);
``start_sms_gateway`` runs it in a thread of its own, for the synchronous dev stack.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from outbound.devstack.loopback import LoopbackServer
from outbound.devstack.sms_sink import (
    SINK_FILE,
    PostedWebhook,
    SinkedSms,
    StatusChange,
    change_json,
    sms_sink_dir,
)
from outbound.sms.encoding import measure

_log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
E164 = re.compile(r"\+[0-9]{8,15}")
MAX_BODY = 1600  # characters; Twilio refuses longer bodies (21617)
CALLBACK_ATTEMPTS = 3  # a callback that meets a connection error is tried this often
SERVICE_NUMBER = "+15005550006"  # the number a messaging service "picks" for its messages
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})


class Behaviour(StrEnum):
    """What happens to a message for a number (see ``GatewayRules``)."""

    DELIVER = "deliver"  # callbacks sent, then delivered
    UNDELIVERED = "undelivered"  # sent, then undelivered with ErrorCode 30003
    SILENT = "silent"  # accepted, then no callback at all (the carrier never reports)
    SENT_ONLY = "sent_only"  # sent, and nothing after
    DUPLICATE = "duplicate"  # sent, delivered: each callback posted twice
    REVERSE = "reverse"  # both callbacks, delivered first
    SERVER_ERROR = "server_error"  # the API answers 500 (20500)
    THROTTLED = "throttled"  # the API answers 429 (20429)


@dataclass(frozen=True)
class Refusal:
    """A Twilio error: its code, message and HTTP status."""

    code: int
    message: str
    status: int = 400


UNREACHABLE = Refusal(30003, "Unreachable destination handset")
OPTED_OUT = Refusal(21610, "Attempt to send to unsubscribed recipient")
UNAUTHORIZED = Refusal(20003, "Authenticate", 401)
SERVER_ERROR = Refusal(20500, "Internal Server Error", 500)
THROTTLED = Refusal(20429, "Too Many Requests", 429)


@dataclass
class GatewayRules:
    """Per-destination behaviour, changed freely while the gateway runs.

    >>> rules = GatewayRules()
    >>> rules.behaviours["+15550100003"] = Behaviour.UNDELIVERED
    >>> rules.opted_out.add("+15550100004")
    >>> rules.refusals["+15550100005"] = Refusal(21614, "'To' number is not a valid mobile number")
    """

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    default: Behaviour = Behaviour.DELIVER
    opted_out: set[str] = field(default_factory=set)  # sends to them fail with 21610
    refusals: dict[str, Refusal] = field(default_factory=dict)  # sends to them fail so
    honour_stop: bool = True  # an inbound STOP opts its sender out, START back in

    def behaviour(self, to: str) -> Behaviour:
        """What happens to a message for ``to``."""
        return self.behaviours.get(to, self.default)

    @classmethod
    def twilio_test_numbers(cls) -> GatewayRules:
        """Twilio's magic test numbers, for ``outbound dev``: +15005550001 is invalid,
        …0002 cannot be routed, …0003 needs international permissions, …0004 opted out,
        …0009 cannot receive texts."""
        return cls(
            opted_out={"+15005550004"},
            refusals={
                "+15005550001": Refusal(21211, "The 'To' number is not a valid phone number."),
                "+15005550002": Refusal(21612, "The 'To' phone number is not reachable."),
                "+15005550003": Refusal(
                    21408, "Permission to send an SMS has not been enabled for the region"
                ),
                "+15005550009": Refusal(21614, "'To' number is not a valid mobile number"),
            },
        )


class SmsGateway:
    """The gateway: an app under uvicorn on a loopback port of the running event loop.

    >>> async def example() -> None:
    ...     async with SmsGateway({"AC" + "1" * 32: "token"}, delay=0.01) as gateway:
    ...         TwilioProvider(gateway.url)  # send through the real SDK (in a thread)
    """

    def __init__(
        self,
        accounts: Mapping[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.2,
        rules: GatewayRules | None = None,
        folder: Path | None = None,
        inbound_url: str | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``accounts`` maps account sids to auth tokens; ``port=0`` picks a free port;
        ``folder`` keeps ``messages.jsonl``; ``inbound_url`` receives inbound texts;
        ``webhook_transport`` carries the webhooks (default: the network; tests may hand
        them to an app in the same process, ``httpx.ASGITransport``), set before ``start``."""
        self.accounts = dict(accounts)
        self.webhook_transport = webhook_transport
        self.delay = delay
        self.rules = rules if rules is not None else GatewayRules()
        self.folder = folder
        self.inbound_url = inbound_url
        self.messages: list[SinkedSms] = []
        self.webhooks: list[PostedWebhook] = []
        self._server = LoopbackServer(self.app(), host, port)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """``http://host:port`` of the running gateway (the SDK's ``api_base_url``)."""
        return self._server.url

    async def start(self) -> None:
        """Listen; returns once requests are served."""
        self._http = httpx.AsyncClient(timeout=10, transport=self.webhook_transport)
        await self._server.start()

    async def stop(self) -> None:
        """Stop listening and drop the callbacks still waiting."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.stop()
        if self._http is not None:
            await self._http.aclose()

    async def settle(self) -> None:
        """Wait until every message's statuses and callbacks so far are done."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> SmsGateway:
        """Start; ``async with SmsGateway(...) as gateway``."""
        await self.start()
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        """Stop."""
        await self.stop()

    def app(self) -> Starlette:
        """The gateway's HTTP routes."""
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        return Starlette(
            routes=[
                Route(f"{base}/Messages.json", self._create_message, methods=["POST"]),
                Route(f"{base}.json", self._fetch_account, methods=["GET"]),
                Route("/sink/sms", self._list, methods=["GET"]),
                Route("/sink/sms/inbound", self._inbound, methods=["POST"]),
            ]
        )

    async def _create_message(self, request: Request) -> Response:
        """``client.messages.create``: accept the message or refuse it as Twilio would."""
        account_sid = request.path_params["account_sid"]
        if not self._authenticated(request, account_sid):
            return _error(UNAUTHORIZED)
        form = {key: str(value) for key, value in (await request.form()).items()}
        to = form.get("To", "")
        refusal = self._refusal(form)
        if refusal is not None:
            return _error(refusal)
        service = form.get("MessagingServiceSid") or None
        sender = form.get("From") or None
        first = "queued" if sender is not None else "accepted"  # a service picks a number first
        message = self._record(
            account_sid, to, sender, form["Body"], "outbound-api", service, first
        )
        callback = form.get("StatusCallback") or None
        self._spawn(self._lifecycle(message, callback, self.rules.behaviour(to)))
        return JSONResponse(_message_json(message), status_code=201)

    def _refusal(self, form: Mapping[str, str]) -> Refusal | None:
        """Why Twilio would refuse this message, or None."""
        to = form.get("To", "")
        if not to:
            return Refusal(21604, "A 'To' phone number is required.")
        if not E164.fullmatch(to):
            return Refusal(21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return Refusal(21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
        if form.get("From") and not E164.fullmatch(form["From"]):
            return Refusal(21212, f"The 'From' number {form['From']} is not a valid phone number.")
        if not form.get("Body"):
            return Refusal(21602, "Message body is required.")
        if len(form["Body"]) > MAX_BODY:
            return Refusal(21617, "The concatenated message body exceeds the 1600 character limit.")
        behaviour = self.rules.behaviour(to)
        if behaviour is Behaviour.SERVER_ERROR:
            return SERVER_ERROR
        if behaviour is Behaviour.THROTTLED:
            return THROTTLED
        if to in self.rules.opted_out:
            return OPTED_OUT
        return self.rules.refusals.get(to)

    async def _fetch_account(self, request: Request) -> Response:
        """``client.api.v2010.accounts(sid).fetch()``: the account, or 401."""
        account_sid = request.path_params["account_sid"]
        if not self._authenticated(request, account_sid):
            return _error(UNAUTHORIZED)
        created = format_datetime(datetime(2026, 1, 1, tzinfo=UTC), usegmt=True)
        return JSONResponse(
            {
                "sid": account_sid,
                "owner_account_sid": account_sid,
                "friendly_name": "Outbound local SMS gateway",
                "status": "active",
                "type": "Full",
                "date_created": created,
                "date_updated": created,
                "uri": f"/{API_VERSION}/Accounts/{account_sid}.json",
                "subresource_uris": {
                    "messages": f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
                },
            }
        )

    async def _list(self, _request: Request) -> Response:
        """Every message, newest first."""
        return JSONResponse([message.as_json() for message in reversed(self.messages)])

    async def _inbound(self, request: Request) -> Response:
        """Someone texts one of our numbers: post the signed webhook, record TwiML replies."""
        try:
            text = await request.json()
            sender, ours, body = str(text["from"]), str(text["to"]), str(text["body"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'give JSON {"from", "to", "body"}'}, status_code=400)
        account_sid = str(text.get("account_sid") or next(iter(self.accounts)))
        if account_sid not in self.accounts:
            return JSONResponse({"error": f"unknown account {account_sid}"}, status_code=400)
        if self.inbound_url is None:
            return JSONResponse({"error": "no inbound URL is configured"}, status_code=409)
        self._apply_keywords(sender, body)
        sid = _new_sid()
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": account_sid,
            "From": sender,
            "To": ours,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(measure(body).segments),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        answer = await self._post(self.inbound_url, params, self.accounts[account_sid])
        replies: list[SinkedSms] = []
        if answer is not None and answer.is_success:
            for reply in _twiml_messages(answer.text):
                replies.append(self._reply(account_sid, reply, to=sender, sender=ours))
        return JSONResponse(
            {
                "message_sid": sid,
                "webhook_status": answer.status_code if answer is not None else None,
                "replies": [reply.as_json() for reply in replies],
            }
        )

    def _apply_keywords(self, sender: str, body: str) -> None:
        """Twilio's default opt-out handling: STOP opts the sender out, START back in."""
        word = body.strip().upper()
        if not self.rules.honour_stop:
            return
        if word in STOP_WORDS:
            self.rules.opted_out.add(sender)
        elif word in START_WORDS:
            self.rules.opted_out.discard(sender)

    def _reply(self, account_sid: str, body: str, *, to: str, sender: str) -> SinkedSms:
        """Record a TwiML ``<Message>`` answer as a message sent (failed if opted out)."""
        if to in self.rules.opted_out:
            return self._record(
                account_sid, to, sender, body, "outbound-reply", None, "failed", OPTED_OUT.code
            )
        message = self._record(account_sid, to, sender, body, "outbound-reply", None, "queued")
        self._spawn(self._lifecycle(message, None, self.rules.behaviour(to)))
        return message

    def _record(
        self,
        account_sid: str,
        to: str,
        sender: str | None,
        body: str,
        direction: str,
        service: str | None,
        status: str,
        error_code: int | None = None,
    ) -> SinkedSms:
        """Keep a new message in memory and in the folder."""
        now = datetime.now(UTC)
        message = SinkedSms(
            sid=_new_sid(),
            account_sid=account_sid,
            to_number=to,
            from_number=sender,
            body=body,
            segments=measure(body).segments,
            direction=direction,
            messaging_service_sid=service,
            created_at=now,
            history=[StatusChange(status, now, error_code)],
        )
        self.messages.append(message)
        self._append({"event": "message", **message.as_json()})
        return message

    async def _lifecycle(
        self, message: SinkedSms, callback: str | None, behaviour: Behaviour
    ) -> None:
        """Move the message on, one status per ``delay``, and post the callbacks."""
        steps: list[tuple[str, Refusal | None]] = [("sent", None)]
        if behaviour is Behaviour.UNDELIVERED:
            steps.append(("undelivered", UNREACHABLE))
        elif behaviour not in (Behaviour.SILENT, Behaviour.SENT_ONLY):
            steps.append(("delivered", None))
        posts: list[dict[str, str]] = []
        for status, failure in steps:
            await asyncio.sleep(self.delay)
            change = StatusChange(status, datetime.now(UTC), failure.code if failure else None)
            message.history.append(change)
            self._append({"event": "status", "sid": message.sid, **change_json(change)})
            params = _callback_params(message, status, failure)
            if behaviour is Behaviour.REVERSE:
                posts.insert(0, params)
            elif behaviour is not Behaviour.SILENT and callback is not None:
                await self._post_callback(callback, params, message, behaviour)
        if callback is not None:
            for params in posts:
                await self._post_callback(callback, params, message, behaviour)

    async def _post_callback(
        self, url: str, params: dict[str, str], message: SinkedSms, behaviour: Behaviour
    ) -> None:
        """One status callback (two with ``DUPLICATE``)."""
        token = self.accounts[message.account_sid]
        for _ in range(2 if behaviour is Behaviour.DUPLICATE else 1):
            await self._post(url, params, token)

    async def _post(self, url: str, params: dict[str, str], token: str) -> httpx.Response | None:
        """Post a signed webhook; a connection error is retried, then given up (None)."""
        assert self._http is not None, "the gateway is not started"
        signature = RequestValidator(token).compute_signature(url, params)
        headers = {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
            "User-Agent": "TwilioProxy/1.1",
        }
        answer: httpx.Response | None = None
        for attempt in range(CALLBACK_ATTEMPTS):
            try:
                answer = await self._http.post(url, data=params, headers=headers)
                break
            except httpx.TransportError as error:
                _log.info("webhook %s: %s (attempt %s)", url, error, attempt + 1)
                await asyncio.sleep(0.05 * 2**attempt)
        status = answer.status_code if answer is not None else None
        self.webhooks.append(PostedWebhook(url, params, signature, status))
        return answer

    def _authenticated(self, request: Request, account_sid: str) -> bool:
        """HTTP basic auth with this account's sid and auth token."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        token = self.accounts.get(user)
        return (
            user == account_sid
            and token is not None
            and secrets.compare_digest(password.encode(), token.encode())
        )

    def _spawn(self, work: Any) -> None:
        """Run ``work`` off the request path, keeping a reference until it ends."""
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _append(self, event: dict[str, Any]) -> None:
        """One line of ``messages.jsonl`` (a few bytes: written on the loop)."""
        if self.folder is not None:
            with (self.folder / SINK_FILE).open("a", encoding="utf-8") as file:
                file.write(json.dumps(event) + "\n")


class GatewayThread:
    """A gateway on an event loop of its own, in a daemon thread (for synchronous code)."""

    def __init__(self, gateway: SmsGateway) -> None:
        """Run ``gateway`` once ``start`` is called."""
        self.gateway = gateway
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sms-gateway", daemon=True)

    def start(self, timeout: float = 10) -> None:
        """Start the thread; returns once the gateway serves (or raises why it cannot)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the SMS gateway did not start in time")
        if self._failure is not None:
            raise self._failure

    def stop(self, timeout: float = 10) -> None:
        """Stop the gateway and its thread."""
        if not self._loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self.gateway.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def _run(self) -> None:
        """The thread: start the gateway, then serve until stopped."""
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.gateway.start())
        except BaseException as failure:  # handed to the starting thread
            self._failure = failure
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()


def start_sms_gateway(
    accounts: Mapping[str, str],
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8026,
    delay: float = 0.2,
    inbound_url: str | None = None,
    rules: GatewayRules | None = None,
) -> GatewayThread:
    """The dev stack's gateway, started: messages kept in ``sms_sink_dir(data_dir)``,
    Twilio's magic test numbers failing as at Twilio unless ``rules`` say otherwise.
    Stop it with ``.stop()``."""
    gateway = SmsGateway(
        accounts,
        host=host,
        port=port,
        delay=delay,
        rules=rules if rules is not None else GatewayRules.twilio_test_numbers(),
        folder=sms_sink_dir(data_dir),
        inbound_url=inbound_url,
    )
    running = GatewayThread(gateway)
    running.start()
    return running


def _twiml_messages(text: str) -> list[str]:
    """The texts of a TwiML answer's ``<Message>`` elements (``<Message>hi</Message>`` or
    ``<Message><Body>hi</Body></Message>``); nothing if it is not TwiML."""
    try:
        # Our own app's answer, on loopback: no entity tricks to fear.
        root = ElementTree.fromstring(text)  # noqa: S314
    except ElementTree.ParseError:
        return []
    if root.tag != "Response":
        return []
    found = []
    for element in root.iter("Message"):
        body = element.find("Body")
        found.append((body.text if body is not None else element.text) or "")
    return found


def _callback_params(message: SinkedSms, status: str, failure: Refusal | None) -> dict[str, str]:
    """A status callback's form, as Twilio posts it."""
    params = {
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": message.to_number,
        "From": message.from_number or SERVICE_NUMBER,
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
    }
    if message.messaging_service_sid is not None:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if failure is not None:
        params["ErrorCode"] = str(failure.code)
        params["ErrorMessage"] = failure.message
    return params


def _message_json(message: SinkedSms) -> dict[str, Any]:
    """Twilio's JSON of a message just created."""
    created = format_datetime(message.created_at, usegmt=True)
    uri = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": created,
        "date_sent": None,
        "date_updated": created,
        "direction": message.direction,
        "error_code": None,
        "error_message": None,
        "from": message.from_number,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": "0",
        "num_segments": str(message.segments),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": message.to_number,
        "uri": f"{uri}.json",
    }


def _error(refusal: Refusal) -> JSONResponse:
    """Twilio's error JSON."""
    return JSONResponse(
        {
            "code": refusal.code,
            "message": refusal.message,
            "more_info": f"https://www.twilio.com/docs/errors/{refusal.code}",
            "status": refusal.status,
        },
        status_code=refusal.status,
    )


def _new_sid() -> str:
    """A Twilio message sid: ``SM`` and 32 hex digits."""
    return "SM" + secrets.token_hex(16)
