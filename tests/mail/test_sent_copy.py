"""Finding a message's copy in the mailbox's Sent folder (IMAP), which settles an unknown
SMTP outcome: the real dovecot for the lookup, LIST answers for the folder choice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outbound.mail.imap import find_sent_copy, sent_folder
from tests.mail.test_imap_fetch import account_for
from tests.support.imap_server import ImapTestServer


@pytest.fixture
def server(imap_server: ImapTestServer) -> Iterator[ImapTestServer]:
    imap_server.reset()
    yield imap_server


def sent_message(message_id: str) -> bytes:
    return (
        "From: Ada <ada@hiring.example.com>\r\nTo: ann@example.org\r\nSubject: A role\r\n"
        f"Message-ID: {message_id}\r\n\r\nHi Ann\r\n"
    ).encode()


async def test_a_copy_in_the_folder_marked_sent_is_found_by_its_message_id(
    server: ImapTestServer,
) -> None:
    server.append(sent_message("<7.1.a1b2@hiring.example.com>"), folder="Sent Items")
    server.append(sent_message("<7.2.c3d4@hiring.example.com>"))  # in INBOX: not a sent copy
    account = account_for(server)

    assert await find_sent_copy(account, "<7.1.a1b2@hiring.example.com>") is True
    assert await find_sent_copy(account, "<7.2.c3d4@hiring.example.com>") is False
    assert await find_sent_copy(account, "<8.1.e5f6@hiring.example.com>") is False


async def test_a_mailbox_without_a_sent_folder_proves_nothing(server: ImapTestServer) -> None:
    server.append(sent_message("<7.1.a1b2@hiring.example.com>"), folder="Archive")

    assert await find_sent_copy(account_for(server), "<7.1.a1b2@hiring.example.com>") is False


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        # SPECIAL-USE (RFC 6154) wins over a folder merely named Sent
        (
            [b'(\\HasNoChildren) "/" Sent', b'(\\HasNoChildren \\Sent) "/" "Sent Items"'],
            "Sent Items",
        ),
        # localised names arrive in modified UTF-7
        ([b'(\\Sent) "/" "&AMk-l&AOk-ments envoy&AOk-s"'], "Éléments envoyés"),
        ([b'(\\Sent) "/" "[Gmail]/Sent Mail"', b'(\\Noselect) "/" "[Gmail]"'], "[Gmail]/Sent Mail"),
        # without SPECIAL-USE: the usual names, in any case
        ([b'(\\HasNoChildren) "." INBOX', b'(\\HasNoChildren) "." "INBOX.Sent"'], "INBOX.Sent"),
        ([b'(\\HasNoChildren) "/" "sent messages"'], "sent messages"),
        ([b'(\\Noselect \\Sent) "/" Sent', b'(\\HasNoChildren) "/" INBOX'], None),
        ([b'(\\HasNoChildren) "/" INBOX', b'(\\HasNoChildren) "/" Drafts'], None),
        ([b"LIST completed (0.001 + 0.000 secs)."], None),
    ],
)
def test_the_sent_folder_is_chosen_from_the_listing(
    listing: list[bytes], expected: str | None
) -> None:
    assert sent_folder(listing) == expected
