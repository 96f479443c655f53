"""A provider's status callback, verified, applied once, and told to the sequence.

``POST /sms/status/{message_id}`` (``api.routes.sms_webhooks``) hands the form
here. The message's status changes only if the report advances it
(``store.sms_messages.apply_sms_status``): the same callback twice, or a late
``sent`` after ``delivered``, changes nothing and signals nothing. Twilio's
error 21610 (the recipient texted STOP to the provider) makes the message
``OptedOut`` and lists the number for the workspace. The workflow hears of a
change by the ``sms_status`` signal, keyed by the provider's sid and the status.

Usage::

    target = await asyncio.to_thread(authenticate_status, engine, keyring, provider, ...)
    if target is not None:
        await apply_status(engine, temporal, target, provider.parse_status(params))
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from outbound.domain.sms_sequence import SmsStatusUpdate
from outbound.domain.statuses import MessageStatus, SuppressionSource
from outbound.inbound.signals import signal_each
from outbound.sms.lifecycle import from_provider
from outbound.sms.provider import SmsProvider, StatusReport
from outbound.sms.twilio_provider import OPTED_OUT
from outbound.sms.webhook_auth import sender_of_message, signature_valid
from outbound.store.encryption import Keyring
from outbound.store.sms_messages import apply_sms_status, find_sms
from outbound.store.suppressions import suppress
from outbound.store.tables import Enrollment

SMS_STATUS_SIGNAL = "sms_status"
MAX_MESSAGE_ID_LENGTH = 255


@dataclass(frozen=True)
class CallbackTarget:
    """The message a verified status callback is about."""

    message_id: str
    workspace_id: int
    workflow_id: str | None
    to_number: str


def authenticate_status(
    engine: Engine,
    keyring: Keyring,
    provider: SmsProvider,
    message_id: str,
    url: str,
    params: Mapping[str, str],
    signature: str | None,
) -> CallbackTarget | None:
    """The message, if it exists and the callback carries its sender's signature; else None
    (an unknown message and a forged signature are alike to the caller)."""
    if not signature or len(message_id) > MAX_MESSAGE_ID_LENGTH:
        return None
    with Session(engine) as session:
        message = find_sms(session, message_id)
        enrollment = session.get(Enrollment, message.enrollment_id) if message else None
        if message is None or enrollment is None:
            return None
        sender = sender_of_message(session, message, enrollment, params)
        if sender is None or not signature_valid(keyring, provider, sender, url, params, signature):
            return None
        return CallbackTarget(
            message_id=message.message_id,
            workspace_id=enrollment.workspace_id,
            workflow_id=enrollment.workflow_id,
            to_number=message.to_address,
        )


def reported_status(report: StatusReport) -> tuple[MessageStatus, str | None] | None:
    """Our status and reason for a report; None for a provider status we do not track."""
    status = from_provider(report.status)
    if status is None:
        return None
    error = None
    if report.error_code or report.error_message:
        error = ": ".join(part for part in (report.error_code, report.error_message) if part)
        error = error[:500]
    if report.error_code == str(OPTED_OUT):
        return MessageStatus.OPTED_OUT, error
    return status, error if status is MessageStatus.FAILED else None


def record_status(
    engine: Engine, target: CallbackTarget, report: StatusReport
) -> SmsStatusUpdate | None:
    """Apply the report to the message (and list an opted-out number); the signal to send
    when the message's status advanced, else None."""
    judged = reported_status(report)
    if judged is None:
        return None
    status, reason = judged
    if status is MessageStatus.OPTED_OUT:
        with Session(engine) as session:
            detail = f"the provider refused a message as opted out ({reason})"[:500]
            suppress(
                session, target.workspace_id, target.to_number, SuppressionSource.SMS_STOP, detail
            )
    row = apply_sms_status(engine, target.message_id, status, reason, provider_sid=report.sid)
    if row is None or not row.changed or row.status is not status:
        return None
    return SmsStatusUpdate(
        key=f"{report.sid}:{status.value}", position=row.position, status=status, reason=reason
    )


async def apply_status(
    engine: Engine, temporal: Client, target: CallbackTarget, report: StatusReport
) -> SmsStatusUpdate | None:
    """Record the report, then signal the sequence if it changed anything (a sequence that
    has ended refuses the signal: fine, the message log has it)."""
    update = await asyncio.to_thread(record_status, engine, target, report)
    if update is not None and target.workflow_id is not None:
        await signal_each(temporal, [target.workflow_id], SMS_STATUS_SIGNAL, update)
    return update
