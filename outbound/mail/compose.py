"""Compose the exact message a prospect receives, headers included.

Threading follows RFC 5322 §3.6.4: a same-thread follow-up carries
``In-Reply-To`` (the previous message) and ``References`` (the whole chain), and
its subject is the thread's subject with one "Re: " in front.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from outbound.mail.wire_headers import OUTGOING_POLICY


@dataclass(frozen=True)
class OutgoingMessage:
    """Everything needed to build one message."""

    from_name: str
    from_address: str
    to_address: str
    subject: str
    body: str
    message_id: str
    date: datetime
    unsubscribe_url: str
    unsubscribe_mailto: str | None = None
    html_body: str | None = None
    references: Sequence[str] = field(default_factory=tuple)


def make_message_id(enrollment_id: int, position: int, from_address: str, to_address: str) -> str:
    """A Message-ID fixed by (enrollment, step, recipient), so a retried send reuses it.

    Mail providers drop a second message with a Message-ID they already hold,
    which makes a retry after an unknown outcome harmless for the recipient.
    """
    domain = from_address.rpartition("@")[2] or "outbound.invalid"
    identity = f"{enrollment_id}:{position}:{from_address}:{to_address.lower()}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"<outbound.{enrollment_id}.{position}.{digest}@{domain}>"


def envelope_sender(from_address: str, message_id: str, plus_addressing: bool) -> str:
    """The Return-Path for one message: ``ada+b-<token>@…`` where the mailbox takes
    plus-addresses, so a bounce names the message it is about (VERP); else the From."""
    if not plus_addressing:
        return from_address
    local, _, domain = from_address.rpartition("@")
    token = hashlib.sha256(message_id.encode()).hexdigest()[:12]
    return f"{local}+b-{token}@{domain}"


def reply_subject(subject: str) -> str:
    """The subject of a reply in the thread: exactly one leading "Re: "."""
    stripped = subject.strip()
    if stripped.lower().startswith("re:"):
        return stripped
    return f"Re: {stripped}"


def compose(message: OutgoingMessage) -> EmailMessage:
    """Build the RFC 5322 message."""
    email = EmailMessage(policy=OUTGOING_POLICY)
    local, _, domain = message.from_address.rpartition("@")
    email["From"] = Address(display_name=message.from_name, username=local, domain=domain)
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.date)
    email["Message-ID"] = message.message_id
    if message.references:
        email["In-Reply-To"] = message.references[-1]
        email["References"] = " ".join(message.references)
    # RFC 2369 / RFC 8058: the HTTPS one-click URL first, then a mailto the mailbox reads;
    # written as URLs, folded between them, never encoded (outbound.mail.wire_headers).
    targets = [message.unsubscribe_url, message.unsubscribe_mailto]
    email["List-Unsubscribe"] = ", ".join(f"<{target}>" for target in targets if target)
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.body)
    if message.html_body is not None:
        email.add_alternative(message.html_body, subtype="html")
    return email
