"""Complaints and providers' notifications: ARF reports, Hotmail's and Amazon SES's formats.

A complaint is a recipient pressing "this is spam" at their mailbox
provider, which tells the sender through a feedback loop. Three formats are
read here:

* ARF (RFC 5965): ``multipart/report; report-type=feedback-report`` with a
  ``message/feedback-report`` part (Feedback-Type, Original-Mail-From,
  Original-Rcpt-To …) and the reported message or its headers. Feedback types
  ``abuse``, ``fraud``, ``virus``, ``opt-out``, ``other`` are complaints;
  ``auth-failure`` (a DMARC/SPF failure report about our domain) and
  ``not-spam`` are not, and are kept as unrecognised notices for a person;
* Hotmail/Outlook.com's older feedback loop: the reported message attached
  with ``X-HmXmrOriginalRecipient`` naming who complained;
* Amazon SES notifications by mail (SNS JSON): ``Bounce``, ``Complaint`` and
  ``Delivery`` notifications.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from outbound.domain.inbound import BouncedRecipient, Complaint, InboundKind
from outbound.inbound.classify_dsn import MAX_REPORTED
from outbound.inbound.classify_text import part_text
from outbound.inbound.headers import addresses, header, message_ids
from outbound.mail.reasons import read_answer

_FEEDBACK = "message/feedback-report"
_RETURNED = frozenset({"message/rfc822", "message/global"})
_RETURNED_HEADERS = frozenset({"text/rfc822-headers", "message/global-headers"})
_NOT_COMPLAINTS = frozenset({"auth-failure", "not-spam", "dmarc"})
_SES_SENDERS = ("@sns.amazonaws.com", "@amazonses.com", "@email-abuse.amazonses.com")
_MAX_JSON = 256 * 1024


@dataclass
class Report:
    """What a complaint or a provider's notification says, in the classifier's terms."""

    kind: InboundKind
    why: str
    complaint: Complaint | None = None
    bounces: list[BouncedRecipient] = field(default_factory=list)
    original_message_ids: list[str] = field(default_factory=list)


def feedback_report(message: Message, own_id: str | None) -> Report | None:
    """An ARF report or Hotmail's feedback-loop message, else None."""
    parts = list(message.walk())
    feedback = next((p for p in parts if p.get_content_type() == _FEEDBACK), None)
    original = _original(parts)
    if feedback is None:
        return _hotmail(original, own_id)
    fields = _fields(feedback)
    feedback_type = (fields.get("feedback-type", "") or "abuse").split()[0].lower()
    rcpt = addresses([fields.get("original-rcpt-to", "")], limit=1)
    reported_to = rcpt or (addresses([header(original, "To")], limit=1) if original else [])
    mail_from = addresses([fields.get("original-mail-from", "")], limit=1) or (
        addresses([header(original, "Return-Path")], limit=1) if original else []
    )
    complaint = Complaint(
        feedback_type=feedback_type,
        address=reported_to[0] if reported_to else None,
        envelope_from=mail_from[0] if mail_from else None,
    )
    ids = _ids(original, parts, own_id)
    if feedback_type in _NOT_COMPLAINTS:
        why = f"ARF report of type {feedback_type}: about the sending domain, not a complaint"
        return Report(InboundKind.UNRECOGNISED_NOTICE, why, None, [], ids)
    why = f"ARF feedback report ({feedback_type}): the recipient complained"
    return Report(InboundKind.COMPLAINT, why, complaint, [], ids)


def provider_notification(message: Message, sender: str | None) -> Report | None:
    """An Amazon SES notification (SNS JSON by mail), else None."""
    if not sender or not sender.endswith(_SES_SENDERS):
        return None
    notice = _ses_json(message)
    if notice is None:
        return None
    kind = str(notice.get("notificationType") or notice.get("eventType") or "")
    mail = _object(notice.get("mail"))
    ids = _ses_ids(mail)
    if kind == "Complaint":
        body = _object(notice.get("complaint"))
        who = [_object(r).get("emailAddress", "") for r in body.get("complainedRecipients", [])]
        found = addresses([str(w) for w in who if isinstance(w, str)], limit=1)
        feedback_type = str(body.get("complaintFeedbackType") or "abuse")
        sources = addresses([str(mail.get("source", ""))], limit=1)
        complaint = Complaint(
            feedback_type=feedback_type,
            address=found[0] if found else None,
            envelope_from=sources[0] if sources else None,
        )
        return Report(
            InboundKind.COMPLAINT, "Amazon SES complaint notification", complaint, [], ids
        )
    if kind == "Bounce":
        body = _object(notice.get("bounce"))
        permanent = body.get("bounceType") == "Permanent"
        bounces = [
            _ses_recipient(r, permanent)
            for r in body.get("bouncedRecipients", [])[:MAX_REPORTED]
            if isinstance(r, dict) and "@" in str(r.get("emailAddress", ""))
        ]
        why = f"Amazon SES bounce notification ({body.get('bounceType', 'unknown type')})"
        return Report(InboundKind.BOUNCE, why, None, bounces, ids)
    if kind == "Delivery":
        return Report(InboundKind.DELIVERED, "Amazon SES delivery notification", None, [], ids)
    return None


def _ses_recipient(entry: dict[str, Any], permanent: bool) -> BouncedRecipient:
    diagnostic = " ".join(str(entry.get("diagnosticCode") or "").split())
    if ";" in diagnostic[:12]:
        diagnostic = diagnostic.partition(";")[2].strip()
    status = str(entry.get("status") or "") or None
    reading = read_answer(diagnostic, status=status)
    return BouncedRecipient(
        address=str(entry["emailAddress"]).strip().lower(),
        status=reading.enhanced or status,
        diagnostic=diagnostic or None,
        permanent=permanent,
        reason=reading.reason.value,
        hard=reading.address_gone(final=permanent),
    )


def _ses_json(message: Message) -> dict[str, Any] | None:
    """The notification object of an SNS message (its "Message" may hold it as text)."""
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        text = part_text(part)[:_MAX_JSON].strip()
        start = text.find("{")
        if start < 0:
            continue
        try:
            data, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            return _ses_fields(text[start:])  # cut short (a mailer's line limit): its fields
        if isinstance(data, dict) and isinstance(data.get("Message"), str):
            try:
                data = json.loads(data["Message"])
            except ValueError:
                return None
        return data if isinstance(data, dict) else None
    return None


_SES_FIELD = re.compile(
    r'"(notificationType|bounceType|complaintFeedbackType|source)"\s*:\s*"([^"]*)"'
)
_SES_ENTRY = re.compile(
    r'\{"emailAddress"\s*:\s*"([^"]+)"(?:,"action"\s*:\s*"([^"]*)")?'
    r'(?:,"status"\s*:\s*"([^"]*)")?(?:,"diagnosticCode"\s*:\s*"([^"]*)")?'
)


def _ses_fields(text: str) -> dict[str, Any] | None:
    """The fields of a notification whose JSON was cut short, read one by one."""
    fields = dict(_SES_FIELD.findall(text.replace('\\"', '"')))
    kind = fields.get("notificationType")
    if not kind:
        return None
    entries = [
        {"emailAddress": a, "action": b, "status": c, "diagnosticCode": d}
        for a, b, c, d in _SES_ENTRY.findall(text.replace('\\"', '"'))
    ]
    return {
        "notificationType": kind,
        "mail": {"source": fields.get("source", "")},
        "bounce": {"bounceType": fields.get("bounceType"), "bouncedRecipients": entries},
        "complaint": {
            "complaintFeedbackType": fields.get("complaintFeedbackType"),
            "complainedRecipients": entries[:1],
        },
    }


def _object(value: object) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def _ses_ids(mail: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for item in mail.get("headers", []) if isinstance(mail.get("headers"), list) else []:
        if isinstance(item, dict) and str(item.get("name", "")).lower() == "message-id":
            found += message_ids(str(item.get("value", "")))
    common = _object(mail.get("commonHeaders"))
    found += message_ids(str(common.get("messageId", "")))
    return list(dict.fromkeys(found))


def _hotmail(original: Message | None, own_id: str | None) -> Report | None:
    """Hotmail's feedback loop attaches the reported message, naming who complained."""
    if original is None or "X-HmXmrOriginalRecipient" not in original:
        return None
    who = addresses([header(original, "X-HmXmrOriginalRecipient")], limit=1)
    complaint = Complaint(feedback_type="abuse", address=who[0] if who else None)
    ids = [i for i in message_ids(header(original, "Message-ID")) if i != own_id]
    why = "Hotmail feedback-loop report: the recipient complained"
    return Report(InboundKind.COMPLAINT, why, complaint, [], ids)


def _original(parts: list[Message]) -> Message | None:
    """The reported message (or a message of its headers) attached to the report."""
    for part in parts:
        content_type = part.get_content_type()
        if content_type in _RETURNED:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if content_type in _RETURNED_HEADERS:
            from email import message_from_string

            return message_from_string(part_text(part)[:65536])
    return None


def _fields(part: Message) -> dict[str, str]:
    """The fields of a feedback-report part, names lower-cased, first value kept."""
    fields: dict[str, str] = {}
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else []
    for block in blocks:
        if isinstance(block, Message):
            for name in block:
                fields.setdefault(name.lower(), header(block, name))
    if not blocks:
        text = payload if isinstance(payload, str) else part_text(part)
        for line in text.splitlines():
            name, colon, value = line.partition(":")
            if colon and name.strip():
                fields.setdefault(name.strip().lower(), value.strip())
    return fields


def _ids(original: Message | None, parts: list[Message], own_id: str | None) -> list[str]:
    found = message_ids(header(original, "Message-ID")) if original is not None else []
    return [i for i in dict.fromkeys(found) if i != own_id]
