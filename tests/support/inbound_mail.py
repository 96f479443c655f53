"""Raw RFC 822 messages as they land in a user's inbox: replies, auto-replies, bounces."""

from __future__ import annotations

import re
from pathlib import Path


def reply_to(message_id: str, sender: str, subject: str = "Different subject") -> bytes:
    """A plain reply from a mail client, referencing our message and quoting it."""
    return (
        f"From: Ann <{sender}>\r\n"
        "To: Ada Recruiter <ada@hiring.example.com>\r\n"
        f"Subject: {subject}\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <reply-{abs(hash(message_id))}@mail.example.com>\r\n"
        f"In-Reply-To: {message_id}\r\n"
        f"References: {message_id}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Happy to talk on Thursday.\r\n"
        "\r\n"
        "On Mon, 23 Nov 2026, Ada Recruiter wrote:\r\n"
        "> Hi Ann\r\n"
    ).encode()


def bounce_of(
    message_id: str,
    recipient: str,
    action: str = "failed",
    status: str = "5.1.1",
    answer: str = "550 5.1.1 <{recipient}>: Recipient address rejected: User unknown",
) -> bytes:
    """An RFC 3464 report from Postfix (by default 5.1.1 user unknown), with the original
    headers."""
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        "To: ada@hiring.example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Mon, 23 Nov 2026 10:05:00 +0000\r\n"
        f"Message-ID: <dsn-{abs(hash((recipient, action, status)))}@mx.example.net>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; {answer.format(recipient=recipient)}\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"Message-ID: {message_id}\r\n"
        f"To: {recipient}\r\n"
        "Subject: A role\r\n"
        "--B--\r\n"
    ).encode()


def out_of_office(
    message_id: str,
    sender: str,
    text: str = "I am out of the office with limited access to email.",
    date: str = "Mon, 23 Nov 2026 11:00:00 +0000",
) -> bytes:
    """An Exchange automatic reply to our message (RFC 3834 Auto-Submitted); by default it
    states no return date."""
    return (
        f"From: {sender}\r\nTo: ada@hiring.example.com\r\nSubject: Automatic reply: A role\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: <ooo-{abs(hash((sender, text)))}@mail.example.com>\r\n"
        f"In-Reply-To: {message_id}\r\nAuto-Submitted: auto-replied\r\n"
        f"X-MS-Exchange-Inbox-Rules-Loop: {sender}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    ).encode()


def new_message_from(sender: str, text: str = "Yes, interested. Ann") -> bytes:
    """A reply written as a new message: no thread headers, a subject of its own."""
    return (
        f"From: {sender}\r\nTo: ada@hiring.example.com\r\nSubject: Your note about Acme\r\n"
        "Date: Mon, 23 Nov 2026 11:00:00 +0000\r\n"
        f"Message-ID: <new-{abs(hash(sender))}@mail.example.com>\r\n"
        f"Content-Type: text/plain\r\n\r\n{text}\r\n"
    ).encode()


CORPUS = Path(__file__).resolve().parents[1] / "inbound" / "corpus"


def complaint_about(message_id: str, recipient: str) -> bytes:
    """A real ARF abuse report (Yahoo's feedback loop, from the corpus: sisimai/arf-14.eml)
    made to report our message: the reported message's Message-ID and recipient replaced."""
    raw = (CORPUS / "sisimai" / "arf-14.eml").read_bytes()
    raw = re.sub(rb"(?m)^Original-Rcpt-To: .*$", b"Original-Rcpt-To: " + recipient.encode(), raw)
    reported = b"Message-ID: <2222222222222222-00000000-eeee-eeee-ffff-222222222222-111111@"
    start = raw.index(reported)
    end = raw.index(b"\n", start)
    raw = raw[:start] + b"Message-ID: " + message_id.encode() + raw[end:]
    return raw.replace(b"To: kijitora@yahoo.com", b"To: " + recipient.encode())


def unreadable_notice_to(envelope: str) -> bytes:
    """A real notice no classifier can read (a Sendmail report that lost all its parts, from
    the corpus: bounceparser/no-message-collected.eml), sent to our VERP address."""
    raw = (CORPUS / "bounceparser" / "no-message-collected.eml").read_bytes()
    verp = b"automated-bounces+e4c44af6-2220-11e0-b356-66b7dd31f8f5@email.example.com"
    return raw.replace(verp, envelope.encode())


def nested_multipart(depth: int, leaf: bytes = b"Content-Type: text/plain\n\nHello\n") -> bytes:
    """A message whose multipart is nested ``depth`` levels deep, as an attacker writes it."""
    body = leaf
    for level in range(depth):
        body = (
            f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n'.encode()
            + body
            + f"\n--b{level}--\n".encode()
        )
    return b"From: a@b.example\nMessage-ID: <deep@b.example>\n" + body
