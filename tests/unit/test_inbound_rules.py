"""The small rules of inbound mail: address normalisation, and the table of reasons that
decides what counts as a hard bounce."""

from __future__ import annotations

import pytest

from outbound.domain.addresses import normalise
from outbound.mail.reasons import Party, Reason, read_answer


@pytest.mark.parametrize(
    ("written", "same_as"),
    [
        ("Ann.Lee+jobs@gmail.com", "annlee@gmail.com"),
        ("a.n.n.l.e.e@googlemail.com", "annlee@gmail.com"),
        ("ANNLEE@GMAIL.COM", "annlee@gmail.com"),
        ("Bob@Bolt.Example.com", "bob@bolt.example.com"),
    ],
)
def test_addresses_that_reach_one_inbox_normalise_alike(written: str, same_as: str) -> None:
    assert normalise(written) == same_as


@pytest.mark.parametrize(
    ("written", "other"),
    [
        # Outside Gmail, dots and tags may name different people: kept apart.
        ("ann.lee@example.com", "annlee@example.com"),
        ("ann+jobs@example.com", "ann@example.com"),
    ],
)
def test_other_domains_keep_dots_and_tags(written: str, other: str) -> None:
    assert normalise(written) != normalise(other)


# -- the reasons table (outbound/mail/reasons.py) ----------------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        "550 5.0.0 <ann@example.org>... User unknown",  # Sendmail
        "550 Unknown user ann@example.org",  # mail.ru, docomo
        "550 Requested action not taken: mailbox unavailable",  # Outlook.com
        "554 delivery error: dd This user doesn't have a yahoo.com account",  # Yahoo
        "553 5.3.0 <ann@example.org>... No such user here",
        "550 <ann@example.org>: Recipient address rejected: User unknown in local recipient table",
        "User some.name (ann@example.jp) not listed in Domino Directory",  # Lotus Domino
        "The email account that you tried to reach does not exist.",  # Gmail
        "550 5.5.0 Adresse destinataire invalide. Invalid recipient.",  # Orange (French)
        "550 {mx001} <ann@example.de>... Empfaenger unbekannt oder nicht erreichbar",  # German
        "501 5.1.3 Odbiorca <ann@example.pl> nie istnieje",  # Polish
        "550 Пользователь не найден",  # Russian
        "550 5.1.351 Remote server returned unknown recipient or mailbox unavailable",
        "550 5.4.1 Recipient address rejected: Access denied",  # Exchange Online (DBEB)
    ],
)
def test_a_generic_code_with_words_that_say_no_such_user_is_hard(words: str) -> None:
    reading = read_answer(words, status="5.0.0")
    assert reading.reason is Reason.USER_UNKNOWN
    assert reading.address_gone(final=True)
    assert not reading.address_gone(final=False)  # a delay never condemns an address


@pytest.mark.parametrize(
    ("words", "status", "reason"),
    [
        ("552 5.2.2 Over quota", "5.1.1", Reason.MAILBOX_FULL),
        ("550 5.7.1 IP address blacklisted by recipient", "5.1.1", Reason.BLOCKED),
        ("550 5.1.1 RCP-P2 Refused due to recipient preferences", "5.1.1", Reason.POLICY),
        ("501 5.1.8 Sender address rejected", "5.0.0", Reason.SENDER_REJECTED),
        ("550 5.1.7 No such domain neko.example.com", "5.1.7", Reason.SENDER_REJECTED),
        ("550 5.7.26 Unauthenticated email is not accepted due to DMARC", "", Reason.AUTH_FAILURE),
        (
            "SMTP error from remote mail server after MAIL FROM:<ada@hiring.example.com>: "
            "550 5.1.1 User unknown",
            "5.0.0",
            Reason.SENDER_REJECTED,  # refused at MAIL FROM: about our address
        ),
    ],
)
def test_the_more_specific_evidence_wins(words: str, status: str, reason: Reason) -> None:
    reading = read_answer(words, status=status or None)
    assert reading.reason is reason
    assert not reading.address_gone(final=True)


def test_only_recipient_reasons_can_condemn_an_address() -> None:
    gone = {r for r in Reason if r.address_gone}
    assert gone == {Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.MAILBOX_DISABLED}
    assert all(r.party is Party.RECIPIENT for r in gone)


def test_temporary_words_keep_a_disabled_account_soft() -> None:
    reading = read_answer("550 5.7.1 User ann@example.com temporary locked. Try again later!")
    assert reading.reason is Reason.MAILBOX_DISABLED and not reading.address_gone(final=True)
