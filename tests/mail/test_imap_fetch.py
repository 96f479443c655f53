"""Inbox sync's IMAP client against a real dovecot: new mail once each, in order, byte for byte."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from outbound.mail.imap import (
    RESYNC_DAYS,
    ImapAccount,
    ImapFolderMissing,
    ImapLoginFailed,
    ImapUnavailable,
    InboxPosition,
    _imap_date,
    _parse_fetch,
    _uid_set,
    _utf7_folder,
    check_imap_login,
    fetch_new,
)
from tests.support.factories import LOCAL_MAIL_HOSTS
from tests.support.imap_server import ImapTestServer


@pytest.fixture
def server(imap_server: ImapTestServer) -> Iterator[ImapTestServer]:
    """The shared dovecot with an empty mailbox."""
    imap_server.reset()
    yield imap_server


def account_for(server: ImapTestServer, **changes: object) -> ImapAccount:
    fields: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "tls": False,
        "username": server.user,
        "password": server.password,
        "timeout_seconds": 5.0,
        "hosts": LOCAL_MAIL_HOSTS,
    }
    fields.update(changes)
    return ImapAccount.model_validate(fields)


def raw_message(number: int, body: bytes = b"") -> bytes:
    """A reply as a server stores it: CRLF lines, 8-bit text, IMAP-looking tricky content."""
    return (
        b"From: Bob <bob@example.org>\r\n"
        b"To: Ada <ada@example.com>\r\n"
        b"Subject: Re: Hello " + str(number).encode() + b"\r\n"
        b"Message-ID: <reply-" + str(number).encode() + b"@example.org>\r\n"
        b"In-Reply-To: <m" + str(number).encode() + b"@example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"Merci, \xc3\xa7a m'int\xc3\xa9resse (vraiment) {5}\r\n"
        b".\r\n"
        b") UID 999 BODY[] {3}\r\n" + body
    )


async def test_a_first_call_only_marks_the_current_end(server: ImapTestServer) -> None:
    account = account_for(server)
    server.append(raw_message(1))
    old = server.append(raw_message(2))

    first = await fetch_new(account, None)

    assert first.messages == []
    assert first.position == InboxPosition(uidvalidity=server.uidvalidity(), last_uid=old)
    new = server.append(raw_message(3))
    after = await fetch_new(account, first.position)
    assert [message.uid for message in after.messages] == [new]


async def test_new_mail_is_returned_once_in_order_with_its_exact_bytes(
    server: ImapTestServer,
) -> None:
    account = account_for(server)
    start = (await fetch_new(account, None)).position
    raws = [raw_message(n, body=b"x" * (n * 5000) + b"\r\n") for n in range(1, 4)]
    uids = [server.append(raw) for raw in raws]

    batch = await fetch_new(account, start)

    assert [(message.uid, message.raw) for message in batch.messages] == list(
        zip(uids, raws, strict=True)
    )
    assert batch.position == InboxPosition(uidvalidity=start.uidvalidity, last_uid=uids[-1])
    assert not batch.has_more
    again = await fetch_new(account, batch.position)
    assert again.messages == []
    assert again.position == batch.position


async def test_limit_pages_through_the_backlog_in_uid_order(server: ImapTestServer) -> None:
    account = account_for(server)
    position = (await fetch_new(account, None)).position
    uids = [server.append(raw_message(n)) for n in range(5)]

    pages: list[list[int]] = []
    more: list[bool] = []
    for _ in range(4):
        batch = await fetch_new(account, position, limit=2)
        pages.append([message.uid for message in batch.messages])
        more.append(batch.has_more)
        position = batch.position

    assert pages == [uids[0:2], uids[2:4], uids[4:5], []]
    assert more == [True, True, False, False]


async def test_a_position_past_the_highest_uid_returns_nothing(server: ImapTestServer) -> None:
    """``UID n:*`` names the highest UID even when it is below n; it must not come back."""
    account = account_for(server)
    last = server.append(raw_message(1))
    position = InboxPosition(uidvalidity=server.uidvalidity(), last_uid=last + 10)

    batch = await fetch_new(account, position)

    assert batch.messages == []
    assert batch.position == position


async def test_flags_are_left_alone_and_mail_already_read_still_counts(
    server: ImapTestServer,
) -> None:
    account = account_for(server)
    start = (await fetch_new(account, None)).position
    unread = server.append(raw_message(1))
    read_in_mail_client = server.append(raw_message(2), flags="\\Seen")

    batch = await fetch_new(account, start)

    assert [message.uid for message in batch.messages] == [unread, read_in_mail_client]
    assert "\\Seen" not in server.flags(unread)
    assert "\\Seen" in server.flags(read_in_mail_client)


async def test_a_recreated_folder_falls_back_to_recent_mail(server: ImapTestServer) -> None:
    folder = "Replies"
    server.append(raw_message(0), folder)
    account = account_for(server, folder=folder)
    stored = (await fetch_new(account, None)).position
    server.recreate_folder(folder)
    assert server.uidvalidity(folder) != stored.uidvalidity
    month_old = datetime.now(UTC) - timedelta(days=30)
    server.append(raw_message(1), folder, internal_date=month_old)
    recent = [server.append(raw_message(n), folder) for n in (2, 3)]

    batch = await fetch_new(account, stored)

    assert [message.uid for message in batch.messages] == recent
    assert batch.position == InboxPosition(
        uidvalidity=server.uidvalidity(folder), last_uid=recent[-1]
    )
    assert (await fetch_new(account, batch.position)).messages == []


async def test_a_stale_uidvalidity_with_nothing_recent_restarts_at_the_end(
    server: ImapTestServer,
) -> None:
    account = account_for(server)
    old = server.append(
        raw_message(1), internal_date=datetime.now(UTC) - timedelta(days=RESYNC_DAYS + 3)
    )
    stale = InboxPosition(uidvalidity=server.uidvalidity() + 1, last_uid=123_456)

    batch = await fetch_new(account, stale)

    assert batch.messages == []
    assert batch.position == InboxPosition(uidvalidity=server.uidvalidity(), last_uid=old)


async def test_a_folder_name_with_accents_and_spaces(server: ImapTestServer) -> None:
    server.append(raw_message(0), "R&AOk-ponses clients")  # the folder "Réponses clients"
    account = account_for(server, folder="Réponses clients")
    start = (await fetch_new(account, None)).position
    uid = server.append(raw_message(1), "R&AOk-ponses clients")

    batch = await fetch_new(account, start)

    assert [message.uid for message in batch.messages] == [uid]


async def test_a_refused_login_never_shows_the_password(
    refusing_imap_server: ImapTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aioimaplib")
    wrong = 'not-"the\\-password'  # quoted on the wire, so aioimaplib's own masking misses it
    account = account_for(refusing_imap_server, password=wrong)

    with pytest.raises(ImapLoginFailed) as refused:
        await fetch_new(account, None)

    assert str(refused.value) == "login refused"  # the server's words are in the log only
    for text in (str(refused.value), repr(refused.value), repr(account)):
        assert wrong not in text
        assert "the\\\\-password" not in text
    assert any("Sending" in record.getMessage() for record in caplog.records)
    assert not any("-password" in record.getMessage() for record in caplog.records)


async def test_check_imap_login_refused(refusing_imap_server: ImapTestServer) -> None:
    with pytest.raises(ImapLoginFailed):
        await check_imap_login(account_for(refusing_imap_server, password="wrong"))


async def test_check_imap_login(server: ImapTestServer) -> None:
    await check_imap_login(account_for(server))
    with pytest.raises(ImapFolderMissing):
        await check_imap_login(account_for(server, folder="No such folder"))


async def test_an_unreachable_server_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    account = ImapAccount(
        host="127.0.0.1", port=port, tls=False, username="u", password="p", hosts=LOCAL_MAIL_HOSTS
    )

    with pytest.raises(ImapUnavailable):
        await fetch_new(account, None)


async def test_a_server_that_never_greets_times_out_as_unavailable() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        account = ImapAccount(
            hosts=LOCAL_MAIL_HOSTS,
            host="127.0.0.1",
            port=silent.getsockname()[1],
            tls=False,
            username="u",
            password="p",
            timeout_seconds=0.3,
        )
        with pytest.raises(ImapUnavailable):
            await fetch_new(account, None)


def test_uid_sets_are_compact() -> None:
    assert _uid_set([3]) == "3"
    assert _uid_set([3, 4, 5, 9, 11, 12]) == "3:5,9,11:12"


def test_folder_names_use_modified_utf7() -> None:
    assert _utf7_folder("INBOX") == "INBOX"
    assert _utf7_folder("Entrée") == "Entr&AOk-e"
    assert _utf7_folder("A&B") == "A&-B"
    assert _utf7_folder("台北") == "&U,BTFw-"


def test_search_dates_are_english_whatever_the_locale() -> None:
    assert _imap_date(date(2025, 3, 7)) == "7-Mar-2025"


def test_fetch_answers_without_a_body_are_ignored() -> None:
    lines: list[bytes | bytearray] = [
        b"1 FETCH (FLAGS (\\Seen))",
        b"2 FETCH (UID 8 BODY[] {5}",
        bytearray(b"hello"),
        b")",
        b"3 FETCH (BODY[] {2}",
        bytearray(b"hi"),
        b" UID 9)",
        b"Fetch completed.",
    ]
    assert _parse_fetch(lines) == {8: b"hello", 9: b"hi"}
