"""Raw RFC 822 messages as they land in a user's inbox: replies, auto-replies, bounces."""

from __future__ import annotations


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


def bounce_of(message_id: str, recipient: str) -> bytes:
    """An RFC 3464 report from Postfix: 5.1.1 user unknown, with the original headers."""
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        "To: ada@hiring.example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Mon, 23 Nov 2026 10:05:00 +0000\r\n"
        f"Message-ID: <dsn-{abs(hash(recipient))}@mx.example.net>\r\n"
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
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: "
        "User unknown\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"Message-ID: {message_id}\r\n"
        f"To: {recipient}\r\n"
        "Subject: A role\r\n"
        "--B--\r\n"
    ).encode()


def out_of_office(message_id: str, sender: str) -> bytes:
    """An Exchange automatic reply to our message (RFC 3834 Auto-Submitted)."""
    return (
        f"From: {sender}\r\nTo: ada@hiring.example.com\r\nSubject: Automatic reply: A role\r\n"
        "Date: Mon, 23 Nov 2026 11:00:00 +0000\r\n"
        f"Message-ID: <ooo-{abs(hash(sender))}@mail.example.com>\r\n"
        f"In-Reply-To: {message_id}\r\nAuto-Submitted: auto-replied\r\n"
        f"X-MS-Exchange-Inbox-Rules-Loop: {sender}\r\n"
        "Content-Type: text/plain\r\n\r\nI am away until Monday.\r\n"
    ).encode()


def new_message_from(sender: str, text: str = "Yes, interested. Ann") -> bytes:
    """A reply written as a new message: no thread headers, a subject of its own."""
    return (
        f"From: {sender}\r\nTo: ada@hiring.example.com\r\nSubject: Your note about Acme\r\n"
        "Date: Mon, 23 Nov 2026 11:00:00 +0000\r\n"
        f"Message-ID: <new-{abs(hash(sender))}@mail.example.com>\r\n"
        f"Content-Type: text/plain\r\n\r\n{text}\r\n"
    ).encode()
