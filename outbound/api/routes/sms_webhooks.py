"""The SMS provider's webhooks: status callbacks and inbound texts (public routes).

* ``POST /sms/status/{message_id}``: a message's new status (Twilio's status
  callback, to the URL the send gave: ``sms.webhook_auth.status_callback_url``).
  Answers 204; applied once, in any order (``sms.status_callbacks``).
* ``POST /sms/inbound``: a text to one of our numbers (Twilio's incoming-message
  webhook: set the number's "A message comes in" URL to ``<public base URL>/sms/inbound``).
  Answers TwiML: empty, or the HELP text (``sms.inbound``).

Each request carries its own proof, the provider's signature (``X-Twilio-Signature``)
over ``OUTBOUND_PUBLIC_BASE_URL`` + the path and the form, made with the sender's auth
token. A missing or wrong signature, and a message or number that is not ours, all
answer the same 403 and change nothing. Bodies are form fields only, at most 64 KiB
(``api.limits``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from outbound.api.deps import KeyringDep, SettingsDep, SmsProviderDep, TemporalDep
from outbound.domain.problems import Problem, ProblemError
from outbound.sms.inbound import handle_inbound_sms
from outbound.sms.provider import MalformedWebhook, SmsProvider
from outbound.sms.status_callbacks import apply_status, authenticate_status
from outbound.sms.webhook_auth import SenderRef, reference, senders_named, signature_valid
from outbound.store.encryption import Keyring

router = APIRouter(prefix="/sms", tags=["SMS webhooks"])

MAX_FIELDS = 100  # Twilio posts about 20
_FORM = "application/x-www-form-urlencoded"

SignatureHeader = Annotated[str | None, Header(alias="X-Twilio-Signature")]


@router.post("/status/{message_id}", status_code=204, response_class=Response)
async def status_callback(
    message_id: str,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    provider: SmsProviderDep,
    signature: SignatureHeader = None,
) -> Response:
    """Apply a verified status callback to the message; answers 204 (nothing to say)."""
    engine: Engine = request.app.state.engine
    params = await _form(request)
    url = signed_url(settings.public_base_url, request)
    target = await asyncio.to_thread(
        authenticate_status, engine, keyring, provider, message_id, url, params, signature
    )
    if target is None:
        raise _refused()
    try:
        report = provider.parse_status(params)
    except MalformedWebhook as malformed:
        raise ProblemError(400, [Problem(field="body", reason=str(malformed))]) from None
    await apply_status(engine, temporal, target, report)
    return Response(status_code=204)


@router.post("/inbound", response_class=Response)
async def inbound_text(
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    provider: SmsProviderDep,
    signature: SignatureHeader = None,
) -> Response:
    """Act on a verified inbound text (STOP, START, HELP, or a reply); answers TwiML."""
    engine: Engine = request.app.state.engine
    params = await _form(request)
    url = signed_url(settings.public_base_url, request)
    sender = await asyncio.to_thread(
        _verified_sender, engine, keyring, provider, url, params, signature
    )
    if sender is None:
        raise _refused()
    try:
        text = provider.parse_inbound(params)
    except MalformedWebhook as malformed:
        raise ProblemError(400, [Problem(field="body", reason=str(malformed))]) from None
    answer = await handle_inbound_sms(engine, temporal, sender, text)
    content_type, body = provider.reply_body(answer)
    return Response(content=body, media_type=content_type)


def signed_url(public_base_url: str, request: Request) -> str:
    """The URL the provider requested (and signed): the public base URL, then the path
    and query exactly as they came (percent-escapes kept)."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    path = path.partition("?")[0]  # some servers' raw_path carries the query too
    query = request.scope.get("query_string", b"").decode("latin-1")
    return public_base_url.rstrip("/") + path + (f"?{query}" if query else "")


def _verified_sender(
    engine: Engine,
    keyring: Keyring,
    provider: SmsProvider,
    url: str,
    params: dict[str, str],
    signature: str | None,
) -> SenderRef | None:
    """The sender the inbound text was sent to, if the signature is made with its token."""
    if not signature:
        return None
    with Session(engine) as session:
        for sender in senders_named(session, params):
            if signature_valid(keyring, provider, sender, url, params, signature):
                return reference(sender)
    return None


async def _form(request: Request) -> dict[str, str]:
    """The webhook's form: text fields only, a bounded number of them."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != _FORM:
        raise ProblemError(
            415, [Problem(field="content-type", reason=f"a webhook is a form ({_FORM})")]
        )
    try:
        form = await request.form(max_fields=MAX_FIELDS, max_files=0)
    except HTTPException as refused:
        raise ProblemError(400, [Problem(field="body", reason=str(refused.detail))]) from None
    params: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            raise ProblemError(400, [Problem(field=name, reason="a webhook has no files")])
        params[name] = value
    return params


def _refused() -> ProblemError:
    """One answer for a forged or missing signature and for what is not ours: no oracle."""
    return ProblemError(
        403,
        [
            Problem(
                field="X-Twilio-Signature",
                reason="missing, or not the provider's signature of this request",
            )
        ],
    )
