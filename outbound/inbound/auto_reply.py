"""Out-of-office and other automatic answers: they do not stop a sequence.

Recognised by RFC 3834 ``Auto-Submitted`` (other than ``no``), the de-facto
autoresponder headers (``X-Autoreply``, ``X-Autorespond``, …), Exchange's
``X-MS-Exchange-Inbox-Rules-Loop``, ``Precedence: auto_reply``, and
out-of-office subjects in many languages. Subjects are matched at their start
only (an "[EXTERNAL]"-style tag may precede them), so a person answering one
("Re: Automatic reply: …") or writing "I was out of office" is still a reply.

``X-Auto-Response-Suppress`` is deliberately ignored: Outlook sets it on
ordinary messages too (it asks others not to auto-answer; it says nothing
about the message itself).
"""

from __future__ import annotations

import re
from email.message import Message

from outbound.inbound.headers import header

_AUTORESPONDER_HEADERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponse",
    "X-AutoReply-From",
    "X-Mail-Autoreply",
    "X-MS-Exchange-Inbox-Rules-Loop",  # Exchange: sent by an inbox rule (OOO, auto-forward)
)
VACATION_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*)*(?:"
    r"auto(?:matic|matische)?[ -]?(?:reply|response|antwort|respond)"
    r"|auto:\s"
    r"|out of (?:the )?office\s*(?::|$|-|–|\(|auto[- ]?reply|reply|until|notice|notification)"
    r"|(?:i am|i'm|i’m) (?:currently )?"
    r"(?:out of (?:the )?office|away from|on (?:vacation|holiday|leave))"
    r"|abwesenheitsnotiz|abwesenheit\s*:|abwesend\s*:|automatische antwort"
    r"|r[ée]ponse automatique|absence du bureau|message d'absence"
    r"|respuesta autom[áa]tica|fuera de la oficina"
    r"|risposta automatica|fuori ufficio"
    r"|automatisch antwoord|afwezigheidsbericht"
    r"|resposta autom[áa]tica|ausente do escrit[óo]rio"
    r"|automatyczna odpowied[zź]|automatick[áa] odpov[eě]d|automatikus v[áa]lasz"
    r"|autom[āa]tisk[āa] atbilde|[āa]rpus biroja"  # Latvian (Exchange: "Ārpus biroja …")
    r"|autosvar|automaattinen vastaus|otomatik yan[ıi]t"
    r"|автоматический ответ|автоответ|自動応答|自動返信|自动回复"
    r"|vacation reply|on vacation\s*:|away from (?:the )?office"
    r")",
    re.IGNORECASE,
)
_PERSON_OUT_OF_OFFICE = re.compile(
    r"\bis out of (?:the )?office\b|\((?:automatic|auto) (?:response|reply)\)\s*$", re.I
)


def auto_reply_header(message: Message) -> str | None:
    """The header that marks the message as automatic, as ``Name: value``, or None."""
    submitted = header(message, "Auto-Submitted").strip()
    if submitted and submitted.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {submitted.split(';')[0].strip()}"
    for name in _AUTORESPONDER_HEADERS:
        if name in message:
            value = header(message, name).strip()
            return f"{name}: {value}"[:120] if value else name
    precedence = header(message, "Precedence").strip()
    if precedence.lower() in ("auto_reply", "auto-reply"):
        return f"Precedence: {precedence}"
    if "autoresponder" in header(message, "X-POST-MessageClass").lower():
        return "X-POST-MessageClass: Autoresponder"
    return None


def vacation_subject(subject: str) -> bool:
    """An out-of-office subject (never a person's "Re: …" about one)."""
    return bool(VACATION_SUBJECT.match(subject) or _PERSON_OUT_OF_OFFICE.search(subject))
