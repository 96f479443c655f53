"""Whose webhook this is: the SMS sender a provider's webhook is about, and its signature.

A provider signs each webhook with the auth token of the account it belongs to
(Twilio: ``X-Twilio-Signature``, an HMAC of the URL it requested and the form).
So the sender comes first, from what the request names, and its token (decrypted
here, used for the check, never kept, logged or returned) decides:

- a status callback names one of our messages in its URL (``/sms/status/{message_id}``);
  the message's sender is the one whose slot it took (the sender that sent it), else its
  campaign's (``Campaign.sms_sender_id``), else the workspace's sender the form says
  sent it (``AccountSid`` and ``From`` or ``MessagingServiceSid``);
- an inbound text names the account (``AccountSid``) and the number it was sent to
  (``To``) or the messaging service (``MessagingServiceSid``).

Anything that does not resolve, or does not verify, is refused the same way by
the caller (403): the answer tells nobody which messages or numbers exist.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, or_, select

from outbound.sms.provider import SmsProvider
from outbound.store.encryption import Keyring, SecretUnreadable
from outbound.store.tables import Campaign, Enrollment, Message, SmsSender, SmsSlotReservation

_log = logging.getLogger(__name__)

MAX_SENDERS_PER_NUMBER = 5  # senders of one account and number tried (several workspaces)
STATUS_PATH = "/sms/status/{message_id}"
INBOUND_PATH = "/sms/inbound"


@dataclass(frozen=True)
class SenderRef:
    """The sender a verified webhook belongs to (no credentials)."""

    id: int
    workspace_id: int
    help_text: str


def status_callback_url(public_base_url: str, message_id: str) -> str:
    """The status callback URL to give the provider for the message ``message_id``.

    The provider signs exactly this URL, and the route checks the signature over
    ``public_base_url`` and the path it was reached at: build it here, nowhere else.
    """
    return public_base_url.rstrip("/") + STATUS_PATH.format(message_id=quote(message_id, safe=""))


def sender_of_message(
    session: Session, message: Message, enrollment: Enrollment, params: Mapping[str, str]
) -> SmsSender | None:
    """The sender that sent ``message`` (one of its workspace's; see the module docstring)."""
    workspace_id = enrollment.workspace_id
    chosen = session.exec(
        select(SmsSlotReservation.sender_id)
        .where(
            SmsSlotReservation.enrollment_id == message.enrollment_id,
            SmsSlotReservation.position == message.position,
        )
        .order_by(col(SmsSlotReservation.id).desc())
    ).first()
    if chosen is None:
        campaign = session.get(Campaign, enrollment.campaign_id)
        chosen = getattr(campaign, "sms_sender_id", None)  # Campaign gains it in migration 0008
    if chosen is not None:
        sender = session.get(SmsSender, chosen)
        return sender if sender is not None and sender.workspace_id == workspace_id else None
    found = _named_senders(session, params, "From", workspace_id)  # a callback: ours is From
    return found[0] if found else None


def senders_named(session: Session, params: Mapping[str, str]) -> list[SmsSender]:
    """The senders an inbound webhook's ``AccountSid`` and ``To`` / ``MessagingServiceSid``
    name (usually one; a number shared by workspaces names each)."""
    return _named_senders(session, params, "To", None)


def signature_valid(
    keyring: Keyring,
    provider: SmsProvider,
    sender: SmsSender,
    url: str,
    params: Mapping[str, str],
    signature: str | None,
) -> bool:
    """Whether ``signature`` is the provider's, made with the sender's auth token."""
    if not signature:
        return False
    try:
        token = keyring.decrypt(sender.auth_token_encrypted)
    except SecretUnreadable:
        _log.warning("SMS sender %s: its auth token cannot be decrypted", sender.id)
        return False
    return provider.valid_signature(token, url, params, signature)


def reference(sender: SmsSender) -> SenderRef:
    """What the caller keeps of a verified sender."""
    assert sender.id is not None
    return SenderRef(id=sender.id, workspace_id=sender.workspace_id, help_text=sender.help_text)


def _named_senders(
    session: Session, params: Mapping[str, str], our_number: str, workspace_id: int | None
) -> list[SmsSender]:
    """Senders of the form's account whose number is its ``our_number`` field (``To`` of an
    inbound text, ``From`` of a status callback) or whose messaging service it names."""
    account = params.get("AccountSid") or ""
    ours: list[ColumnElement[bool]] = []
    if params.get(our_number):
        ours.append(col(SmsSender.from_number) == params[our_number])
    if params.get("MessagingServiceSid"):
        ours.append(col(SmsSender.messaging_service_sid) == params["MessagingServiceSid"])
    if not account or not ours:
        return []
    query = select(SmsSender).where(SmsSender.account_sid == account, or_(*ours))
    if workspace_id is not None:
        query = query.where(SmsSender.workspace_id == workspace_id)
    return list(session.exec(query.order_by(col(SmsSender.id)).limit(MAX_SENDERS_PER_NUMBER)))
