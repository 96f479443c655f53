"""The SMTP outcome classifier over real answers from Gmail, Outlook, Yahoo, Postfix and others."""

from __future__ import annotations

import aiosmtplib
import pytest

from outbound.mail.outcomes import Outcome, Stage, classify, classify_exception

E, D, A, X = Stage.ENVELOPE, Stage.DATA, Stage.AUTH, Stage.AFTER_DATA

# (provider, code, text, stage, expected outcome)
REAL_ANSWERS = [
    # success
    (
        "Gmail",
        250,
        "2.0.0 OK  1700000000 a1-20020a05600c000000b0040000000000si1234567wmq.1 - gsmtp",
        X,
        Outcome.SENT,
    ),
    ("Postfix", 250, "2.0.0 Ok: queued as 4Sb2Xk6Wz3z9rwC", X, Outcome.SENT),
    # authentication
    (
        "Gmail",
        535,
        "5.7.8 Username and Password not accepted. For more information, go to "
        "https://support.google.com/mail/?p=BadCredentials",
        A,
        Outcome.AUTH_FAILED,
    ),
    ("Gmail", 534, "5.7.9 Application-specific password required.", A, Outcome.AUTH_FAILED),
    (
        "Gmail",
        534,
        "5.7.14 <https://accounts.google.com/signin/continue?...> Please log in via your "
        "web browser and then try again.",
        A,
        Outcome.AUTH_FAILED,
    ),
    (
        "Outlook",
        535,
        "5.7.3 Authentication unsuccessful [BN9PR03CA0000.namprd03.prod.outlook.com]",
        A,
        Outcome.AUTH_FAILED,
    ),
    (
        "Outlook",
        535,
        "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
        A,
        Outcome.AUTH_FAILED,
    ),
    ("Yahoo", 535, "5.7.0 (#AUTH005) Too many bad auth attempts.", A, Outcome.AUTH_FAILED),
    (
        "Postfix",
        535,
        "5.7.8 Error: authentication failed: authentication failure",
        A,
        Outcome.AUTH_FAILED,
    ),
    ("Postfix", 530, "5.7.0 Must issue a STARTTLS command first", E, Outcome.AUTH_FAILED),
    # rate limits and quotas: defer, do not count as a failed attempt
    (
        "Gmail",
        550,
        "5.4.5 Daily user sending limit exceeded. For more information on Gmail sending "
        "limits go to https://support.google.com/a/answer/166852",
        E,
        Outcome.RATE_LIMITED,
    ),
    (
        "Gmail",
        421,
        "4.7.0 Try again later, closing connection. (EHLO) gsmtp",
        E,
        Outcome.RATE_LIMITED,
    ),
    (
        "Gmail",
        421,
        "4.7.28 Our system has detected an unusual rate of unsolicited mail originating "
        "from your IP address.",
        E,
        Outcome.RATE_LIMITED,
    ),
    ("Gmail", 452, "4.5.3 Your message has too many recipients.", E, Outcome.RATE_LIMITED),
    (
        "Outlook",
        451,
        "4.7.500 Server busy. Please try again later from [203.0.113.7]. (S77719) "
        "[AM4PEPF00000000.eurprd04.prod.outlook.com]",
        E,
        Outcome.RATE_LIMITED,
    ),
    (
        "Outlook",
        554,
        "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed "
        "to process message due to a permanent exception",
        D,
        Outcome.FAILED,
    ),
    (
        "Outlook",
        432,
        "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded",
        D,
        Outcome.TRANSIENT,
    ),
    (
        "Yahoo",
        421,
        "4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected "
        "volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        E,
        Outcome.RATE_LIMITED,
    ),
    ("Yahoo", 451, "Message temporarily deferred - [160]", D, Outcome.RATE_LIMITED),
    (
        "Postfix",
        450,
        "4.7.1 <mail.example.com>: Helo command rejected: Host not found; try again later",
        E,
        Outcome.RATE_LIMITED,
    ),
    # our own authentication / DMARC or relay setup: a mailbox problem, not the prospect's
    (
        "Gmail",
        550,
        "5.7.26 This mail is unauthenticated, which poses a security risk to the sender and "
        "Gmail users, and has been blocked. The sender must authenticate with at least one "
        "of SPF or DKIM.",
        D,
        Outcome.SENDER_POLICY,
    ),
    (
        "Gmail",
        550,
        "5.7.27 The sender's domain has an SPF record that doesn't authorize this IP.",
        D,
        Outcome.SENDER_POLICY,
    ),
    ("Postfix", 554, "5.7.1 <bob@example.org>: Relay access denied", E, Outcome.SENDER_POLICY),
    (
        "Exchange",
        550,
        "5.7.54 SMTP; Unable to relay recipient in non-accepted domain",
        E,
        Outcome.SENDER_POLICY,
    ),
    # hard bounces
    (
        "Gmail",
        550,
        "5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces.",
        E,
        Outcome.HARD_BOUNCE,
    ),
    (
        "Outlook",
        550,
        "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        E,
        Outcome.HARD_BOUNCE,
    ),
    (
        "Yahoo",
        554,
        "5.1.1 <nobody@yahoo.com>: Recipient address rejected: User unknown",
        E,
        Outcome.HARD_BOUNCE,
    ),
    (
        "Postfix",
        550,
        "5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual "
        "mailbox table",
        E,
        Outcome.HARD_BOUNCE,
    ),
    (
        "Postfix",
        550,
        "5.1.2 <bob@nonexistent.example>: Recipient address rejected: Domain not found",
        E,
        Outcome.HARD_BOUNCE,
    ),
    (
        "Gmail",
        550,
        "5.2.1 The email account that you tried to reach is disabled.",
        E,
        Outcome.HARD_BOUNCE,
    ),
    # Exim's router found no way to the domain: read as an unknown host by the reasons
    # bounce reports share (sisimai and flufl.bounce read it so too).
    ("Exim", 550, "Unrouteable address", E, Outcome.HARD_BOUNCE),
    ("Old sendmail", 550, "<bob@example.org>... User unknown", E, Outcome.HARD_BOUNCE),
    (
        "Postfix",
        450,
        "4.1.1 <bob@example.org>: Recipient address rejected: unverified address: "
        "host mx.example.org said: 450 try later",
        E,
        Outcome.TRANSIENT,
    ),
    # mailbox full: a soft bounce
    (
        "Gmail",
        552,
        "5.2.2 The email account that you tried to reach is over quota.",
        D,
        Outcome.MAILBOX_FULL,
    ),
    ("Yahoo", 452, "4.2.2 Mailbox full", E, Outcome.MAILBOX_FULL),
    (
        "Postfix",
        552,
        "5.2.2 <bob@example.org>: Recipient address rejected: Mailbox is full",
        E,
        Outcome.MAILBOX_FULL,
    ),
    # spam / content
    (
        "Gmail",
        550,
        "5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce "
        "the amount of spam sent to Gmail, this message has been blocked.",
        X,
        Outcome.SPAM,
    ),
    (
        "Outlook",
        550,
        "5.7.1 Service unavailable, Client host [203.0.113.7] blocked using Spamhaus.",
        E,
        Outcome.SPAM,
    ),
    (
        "Yahoo",
        554,
        "5.7.9 Message not accepted for policy reasons.  See "
        "https://postmaster.yahooinc.com/error-codes",
        X,
        Outcome.SPAM,
    ),
    (
        "Postfix",
        554,
        "5.7.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org",
        E,
        Outcome.SPAM,
    ),
    ("Generic", 554, "Transaction failed: message content rejected", X, Outcome.SPAM),
    # generic transient
    (
        "Gmail",
        421,
        "4.3.0 Temporary System Problem.  Try again later (10). gsmtp",
        E,
        Outcome.TRANSIENT,
    ),
    ("Postfix", 451, "4.3.0 Error: queue file write error", D, Outcome.TRANSIENT),
    ("Postfix", 454, "4.7.0 TLS not available due to local problem", E, Outcome.TRANSIENT),
    ("Generic", 452, "4.3.1 Insufficient system storage", D, Outcome.TRANSIENT),
]


@pytest.mark.parametrize(
    ("provider", "code", "text", "stage", "expected"),
    REAL_ANSWERS,
    ids=[f"{p}-{c}-{i}" for i, (p, c, *_) in enumerate(REAL_ANSWERS)],
)
def test_real_world_answers(
    provider: str, code: int, text: str, stage: Stage, expected: Outcome
) -> None:
    assert classify(code, text, stage).outcome is expected


def test_at_least_thirty_answers_from_the_big_providers() -> None:
    providers = {p for p, *_ in REAL_ANSWERS}
    assert len(REAL_ANSWERS) >= 30
    assert {"Gmail", "Outlook", "Yahoo", "Postfix"} <= providers


def test_the_enhanced_code_and_reason_are_kept_for_the_message_log() -> None:
    classified = classify(550, "5.1.1 <bob@example.org>: Recipient address rejected", E)

    assert classified.enhanced == "5.1.1"
    assert classified.reason.startswith("550 5.1.1 <bob@example.org>")
    assert classified.suppresses_address


def test_only_hard_bounces_suppress_the_address() -> None:
    full = classify(552, "5.2.2 Mailbox full", D)
    spam = classify(550, "5.7.1 spam", D)

    assert not full.suppresses_address and not spam.suppresses_address


def test_a_lost_connection_after_the_final_dot_is_unknown_not_a_failure() -> None:
    lost = classify_exception(
        aiosmtplib.SMTPServerDisconnected("Connection lost"), Stage.AFTER_DATA
    )
    refused = classify_exception(
        aiosmtplib.SMTPConnectError("Error connecting to 127.0.0.1 on port 1"), Stage.CONNECT
    )

    assert lost.outcome is Outcome.UNKNOWN
    assert refused.outcome is Outcome.TRANSIENT
    assert "SMTPConnectError" in refused.reason


def test_aiosmtplib_exceptions_carry_their_codes() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "5.1.1 User unknown", "bob@example.org")]
    )
    auth = aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Username and Password not accepted")

    assert classify_exception(refused, Stage.ENVELOPE).outcome is Outcome.HARD_BOUNCE
    assert classify_exception(auth, Stage.AUTH).outcome is Outcome.AUTH_FAILED


# -- one table of reasons for SMTP answers and bounce reports ----------------------------------

# Answers the send path once read otherwise, from real bounces of tests/inbound/corpus.
READ_BY_THE_REASONS = [
    # A 5.7.x code with words saying the user does not exist (Sun Messaging Server).
    (550, "5.7.1 550 User Unknown: sabineko@example.org", Outcome.HARD_BOUNCE, "user_unknown"),
    # DMARC/SPF refusals under 5.7.1 are our sending's: the mailbox is parked, not Failed(Spam).
    (
        554,
        "5.7.1 Your message was rejected due to libsisimai.org's DMARC policy.",
        Outcome.SENDER_POLICY,
        "auth_failure",
    ),
    (501, "5.1.8 Sender address rejected", Outcome.SENDER_POLICY, "sender_rejected"),
    # A temporary lock under a permanent code is no dead address.
    (
        550,
        "5.7.1 <ann@example.com>: Recipient address rejected: User ann@example.com temporary "
        "locked. Please try again later!",
        Outcome.FAILED,
        "mailbox_disabled",
    ),
    # French and Polish wordings of "no such user" under a generic code.
    (550, "5.5.0 Adresse destinataire invalide. Invalid recipient.", Outcome.HARD_BOUNCE,
     "user_unknown"),
    (501, "5.1.3 Odbiorca <ann@example.pl> nie istnieje", Outcome.HARD_BOUNCE, "user_unknown"),
    # Over quota is a full mailbox whatever code comes with it.
    (552, "sorry, mailbox ann@example.org is over quota temporarily (#5.1.1)",
     Outcome.MAILBOX_FULL, "mailbox_full"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "text", "outcome", "cause"), READ_BY_THE_REASONS)
def test_answers_are_read_by_the_shared_reasons(
    code: int, text: str, outcome: Outcome, cause: str
) -> None:
    classified = classify(code, text, E)
    assert (classified.outcome, classified.cause.value) == (outcome, cause)


def report_of(diagnostic: str) -> bytes:
    """A bounce report carrying ``diagnostic`` as the server's answer (Postfix's layout)."""
    return (
        "From: MAILER-DAEMON@mx.hiring.example.com (Mail Delivery System)\n"
        "To: ada@hiring.example.com\nSubject: Undelivered Mail Returned to Sender\n"
        "Message-ID: <report@mx.hiring.example.com>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\n\n'
        "--R\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        "Final-Recipient: rfc822; ann@example.org\nAction: failed\nStatus: 5.0.0\n"
        f"Diagnostic-Code: smtp; {diagnostic}\n\n--R--\n"
    ).encode()


@pytest.mark.parametrize(
    ("code", "text"),
    [(code, text) for _, code, text, stage, _ in REAL_ANSWERS if code >= 500 and stage is E]
    + [(code, text) for code, text, *_ in READ_BY_THE_REASONS if code >= 500],
)
def test_a_bounce_report_of_an_answer_judges_it_as_the_send_did(code: int, text: str) -> None:
    """The same answer, met at RCPT TO or in a report days later, gets the same reason and
    the same verdict on the address."""
    from outbound.inbound.classify import classify as classify_inbound

    at_send = classify(code, text, E)
    (reported,) = classify_inbound(report_of(f"{code} {text}")).bounces
    assert reported.reason == at_send.cause.value
    assert reported.hard is at_send.suppresses_address
