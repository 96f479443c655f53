"""aiosmtplib against a scripted aiosmtpd server: each failure class arrives classified."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from outbound.devstack.fault_sink import Answer, Drop, DropAfterAccepting, FaultSinkHandler, Slow
from outbound.devstack.sink import start_sink
from outbound.domain.statuses import TlsMode
from outbound.mail import smtp
from outbound.mail.compose import OutgoingMessage, compose
from outbound.mail.outcomes import Outcome
from outbound.mail.smtp import SendFailed, SmtpAccount, check_login, send_message
from tests.support.factories import LOCAL_MAIL_HOSTS
from tests.support.polling import eventually

TO = "bob@example.org"


@pytest.fixture
def server() -> Iterator[tuple[FaultSinkHandler, SmtpAccount]]:
    handler = FaultSinkHandler()
    controller = start_sink(handler, authenticator=handler.authenticate)
    account = SmtpAccount(
        "127.0.0.1",
        controller.port,
        TlsMode.NONE,
        "ada",
        "pw",
        timeout_seconds=2,
        hosts=LOCAL_MAIL_HOSTS,
    )
    try:
        yield handler, account
    finally:
        controller.stop()


def message(number: int = 1) -> OutgoingMessage:
    return OutgoingMessage(
        from_name="Ada",
        from_address="ada@example.com",
        to_address=TO,
        subject="Hi",
        body="Hello\n.\n",
        message_id=f"<m{number}@example.com>",
        date=datetime.now(UTC),
        unsubscribe_url="https://u/x",
    )


async def outcome_of(account: SmtpAccount) -> Outcome:
    try:
        return (await send_message(account, compose(message()))).outcome
    except SendFailed as failed:
        return failed.classified.outcome


async def test_success_is_received_once_with_the_envelope(
    server: tuple[FaultSinkHandler, SmtpAccount],
) -> None:
    handler, account = server

    accepted = await send_message(
        account, compose(message()), envelope_from="bounces+m1@example.com"
    )

    assert accepted.outcome is Outcome.SENT
    [received] = handler.received
    assert (received.envelope_from, received.envelope_to) == ("bounces+m1@example.com", [TO])
    assert received.message.get_content() == "Hello\n.\n"  # dot-stuffing round-trips


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (
            Answer(550, "5.1.1 <bob@example.org>: Recipient address rejected: User unknown"),
            Outcome.HARD_BOUNCE,
        ),
        (Answer(452, "4.2.2 Mailbox full"), Outcome.MAILBOX_FULL),
        (Answer(550, "5.4.5 Daily user sending limit exceeded."), Outcome.RATE_LIMITED),
        (Answer(421, "4.7.0 Try again later, closing connection."), Outcome.RATE_LIMITED),
        (Answer(451, "4.3.0 Error: queue file write error"), Outcome.TRANSIENT),
        (Drop(), Outcome.TRANSIENT),
    ],
)
async def test_failures_at_rcpt(
    server: tuple[FaultSinkHandler, SmtpAccount], action: object, expected: Outcome
) -> None:
    handler, account = server
    handler.at_rcpt(TO, action)  # type: ignore[arg-type]

    assert await outcome_of(account) is expected
    assert handler.received == []


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (Answer(550, "5.7.1 Message rejected as spam"), Outcome.SPAM),
        (Answer(550, "5.7.26 This mail is unauthenticated"), Outcome.SENDER_POLICY),
        (Answer(451, "4.3.0 Temporary System Problem"), Outcome.TRANSIENT),
    ],
)
async def test_failures_at_the_end_of_data(
    server: tuple[FaultSinkHandler, SmtpAccount], action: object, expected: Outcome
) -> None:
    handler, account = server
    handler.at_data(TO, action)  # type: ignore[arg-type]

    assert await outcome_of(account) is expected
    assert handler.received == []


async def test_a_connection_lost_after_the_message_was_accepted_is_unknown(
    server: tuple[FaultSinkHandler, SmtpAccount],
) -> None:
    handler, account = server
    handler.at_data(TO, DropAfterAccepting())

    assert await outcome_of(account) is Outcome.UNKNOWN
    assert len(handler.received) == 1  # it did arrive: resending blindly would duplicate it


async def test_a_refused_login_is_an_authentication_failure(
    server: tuple[FaultSinkHandler, SmtpAccount],
) -> None:
    handler, account = server
    handler.refuse_logins = True
    assert await outcome_of(account) is Outcome.AUTH_FAILED
    assert handler.received == []

    handler.refuse_logins = False  # the user reconnected the mailbox
    assert await outcome_of(account) is Outcome.SENT


async def test_a_slow_answer_within_the_timeout_still_succeeds(
    server: tuple[FaultSinkHandler, SmtpAccount],
) -> None:
    handler, account = server
    handler.at_rcpt(TO, Slow(0.5))

    assert await outcome_of(account) is Outcome.SENT


async def test_a_message_held_at_data_shows_until_its_sender_hangs_up_and_is_not_kept(
    server: tuple[FaultSinkHandler, SmtpAccount],
) -> None:
    """How a test cuts a send off after the message was handed over (tests/e2e)."""
    handler, account = server
    handler.at_data(TO, Slow(30))
    sending = asyncio.create_task(outcome_of(account))

    async def held() -> bool:
        return TO in handler.holding

    async def let_go() -> bool:
        return not handler.holding

    await eventually(held, seconds=5)
    sending.cancel()  # the sender dies waiting for the answer: its connection closes
    await eventually(let_go, seconds=5)

    assert handler.received == []


async def test_nothing_listening_is_transient() -> None:
    closed = SmtpAccount("127.0.0.1", 9, TlsMode.NONE, timeout_seconds=2, hosts=LOCAL_MAIL_HOSTS)

    assert await outcome_of(closed) is Outcome.TRANSIENT


async def test_scripted_actions_are_consumed_one_per_attempt(
    server: tuple[FaultSinkHandler, SmtpAccount],
) -> None:
    handler, account = server
    handler.at_rcpt(TO, Answer(451, "4.3.0 busy"), Answer(451, "4.3.0 busy"))

    outcomes = [await outcome_of(account) for _ in range(3)]

    assert outcomes == [Outcome.TRANSIENT, Outcome.TRANSIENT, Outcome.SENT]
    assert handler.attempts[TO] == 3 and len(handler.received) == 1


async def test_the_login_check_sends_nothing_and_names_a_refused_login(
    server: tuple[FaultSinkHandler, SmtpAccount],
) -> None:
    handler, account = server
    await check_login(account)

    handler.refuse_logins = True
    with pytest.raises(SendFailed) as refused:
        await check_login(account)

    assert refused.value.classified.outcome is Outcome.AUTH_FAILED
    assert "535" in refused.value.classified.reason
    assert handler.received == []


async def test_the_login_check_of_an_unreachable_server_is_transient() -> None:
    nowhere = SmtpAccount(
        "127.0.0.1", 9, TlsMode.NONE, "ada", "pw", timeout_seconds=2, hosts=LOCAL_MAIL_HOSTS
    )
    with pytest.raises(SendFailed) as failed:
        await check_login(nowhere)
    assert failed.value.classified.outcome is Outcome.TRANSIENT


async def test_the_ehlo_name_is_this_host_looked_up_once_per_process(
    server: tuple[FaultSinkHandler, SmtpAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, account = server
    host = ["worker-1.example.net"]
    seen: list[str] = []
    original_data = handler.handle_DATA

    async def recording_data(server: SMTP, session: Session, envelope: Envelope) -> str:
        seen.append(session.host_name)
        return await original_data(server, session, envelope)

    monkeypatch.setattr(smtp, "_ehlo_name", None)
    monkeypatch.setattr(socket, "getfqdn", lambda name="": host[0])
    monkeypatch.setattr(handler, "handle_DATA", recording_data)

    await send_message(account, compose(message(1)))
    host[0] = "renamed.example.net"  # not asked again: the first answer stands
    await send_message(account, compose(message(2)))

    assert seen == ["worker-1.example.net", "worker-1.example.net"]
