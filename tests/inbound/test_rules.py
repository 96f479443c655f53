"""Each rule of issue 26, shown on a real message of the corpus (sources in corpus/README.md)."""

from __future__ import annotations

import pytest

from bench.inbound_accuracy import CORPUS
from outbound.domain.inbound import InboundKind, InboundMessage
from outbound.inbound.classify import classify


def read(name: str) -> InboundMessage:
    return classify((CORPUS / "corpus" / name).read_bytes())


def first(name: str) -> tuple[str, bool]:
    found = read(name)
    assert found.kind is InboundKind.BOUNCE, found.why
    return found.bounces[0].reason, found.bounces[0].hard


# -- mail from a mail system is never a person's reply ---------------------------------------


@pytest.mark.parametrize(
    ("name", "what"),
    [
        # Failure and delay notices the old classifier took for replies (issue 26).
        ("sisimai/lhost-messagingserver-03.eml", "Sun Messaging Server, 5.7.1 User Unknown"),
        ("sisimai/lhost-zoho-04.eml", "Zoho delay notice"),
        ("sisimai/lhost-verizon-02.eml", "Verizon vtext rejection"),
        ("sisimai/lhost-kddi-01.eml", "KDDI, a no-reply sender, 8-bit subject"),
        ("sisimai/lhost-apachejames-01.eml", "Apache James, boundary on its own line"),
    ],
)
def test_notices_once_taken_for_replies_are_read_as_notices(name: str, what: str) -> None:
    assert read(name).kind in (InboundKind.BOUNCE, InboundKind.DELAYED), what


@pytest.mark.parametrize(
    ("name", "signal"),
    [
        ("bounceparser/no-message-collected.eml", "mail-system sender"),  # a DSN with no parts
        ("bounceparser/bluebottle.eml", "challenge-response"),  # "click to be allowed"
        ("bounceparser/boxbe-cr.eml", "challenge-response"),
        ("sisimai/lhost-fml-03.eml", "mailing-list server"),  # fml's "Loop Alert"
        ("mikel-mail/mime_emails-raw_email_encoded_stack_level_too_deep.eml", "no-reply"),
        # An acknowledgement from no_reply@ (underscore), once taken for a person's reply.
        ("froide/test_mail_09.eml", "no-reply"),
        ("sisimai/arf-18.eml", "auth-failure"),  # a DMARC failure report, not a complaint
    ],
)
def test_a_notice_that_cannot_be_read_is_kept_for_a_person_not_taken_for_a_reply(
    name: str, signal: str
) -> None:
    found = read(name)
    assert found.kind is InboundKind.UNRECOGNISED_NOTICE
    assert signal in found.why


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        # Exchange 2003's Latvian out-of-office subject ("Ārpus biroja atrašanās automātiskā
        # atbilde", here without diacritics) and no autoresponder header: once a reply.
        ("bounce_email/tt_1234210666.eml", "out-of-office subject"),
        ("bounce_email/tt_1234211024.eml", "X-Autoreply"),  # Gmail's vacation reply, Latvian
        ("bounceparser/polish-autoreply.eml", "Precedence"),  # "[Automatyczna odpowiedź]"
        ("sisimai/rfc3834-05.eml", "Auto-Submitted"),  # German, "zukünftig …"
        ("bounceparser/warning-6.eml", "out-of-office subject"),  # Lotus Notes, "AUTO: …"
    ],
)
def test_vacation_replies_in_several_languages_are_auto_replies(name: str, rule: str) -> None:
    found = read(name)
    assert found.kind is InboundKind.AUTO_REPLY
    assert rule in found.why


def test_a_person_forwarding_a_bounce_is_still_a_person() -> None:
    found = read("sisimai/lhost-sendmail-14.eml")  # "Fwd: Returned mail", "Forward the message."
    assert found.kind is InboundKind.REPLY


# -- hard or soft from all the evidence --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason", "hard"),
    [
        # The more specific evidence wins over the report's Status field.
        ("sisimai/lhost-x3-06.eml", "mailbox_full", False),  # Status 5.1.1, "552 5.2.2 Over quota"
        ("sisimai/lhost-sendmail-33.eml", "blocked", False),  # 5.1.1, "IP address blacklisted"
        ("bounceparser/quota-4.eml", "message_too_big", False),  # 5.1.1, "max message size"
        ("sisimai/rhost-facebook-03.eml", "policy", False),  # 5.1.1, "recipient preferences"
        ("sisimai/rhost-godaddy-03.eml", "rate_limited", False),  # 5.1.1, too many recipients
        # A generic status, or none, with the words that say the address is gone: hard.
        ("sisimai/lhost-messagingserver-09.eml", "user_unknown", True),  # 5.0.0 + User unknown
        ("sisimai/lhost-domino-02.eml", "user_unknown", True),  # Domino, Japanese
        ("sisimai/lhost-sendmail-45.eml", "user_unknown", True),  # "destinataire invalide"
        ("bounceparser/user-unknown-polish.eml", "user_unknown", True),  # "nie istnieje"
        ("sisimai/lhost-mailru-07.eml", "user_unknown", True),  # mail.ru, Russian notice
        ("sisimai/lhost-outlook-08.eml", "user_unknown", True),  # "mailbox unavailable"
        ("sisimai/rhost-google-01.eml", "mailbox_disabled", True),  # account disabled
        ("sisimai/rhost-franceptt-05.eml", "mailbox_disabled", True),  # "compte … bloque"
        ("sisimai/lhost-postfix-05.eml", "user_unknown", True),  # 450 4.1.1, but failed
        # Full is soft whatever the status says; so is a temporary lock.
        ("bounceparser/quota-6.eml", "mailbox_full", False),  # "zuviele Mails", 5.0.0
        ("sisimai/lhost-amazonses-19.eml", "mailbox_disabled", False),  # "temporary locked"
        ("sisimai/lhost-googlegroups-09.eml", "policy", False),  # French "n'existe pas ou …"
    ],
)
def test_hard_or_soft_from_all_the_evidence(name: str, reason: str, hard: bool) -> None:
    assert first(name) == (reason, hard)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("sisimai/lhost-mailru-09.eml", "sender_rejected"),  # 501 5.1.8
        ("sisimai/lhost-exim-50.eml", "sender_rejected"),  # 550 5.1.7
        ("sisimai/lhost-postfix-70.eml", "auth_failure"),  # 5.7.26 DMARC
        ("sisimai/lhost-postfix-71.eml", "auth_failure"),  # 5.7.1 "DMARC policy"
        ("sisimai/lhost-amazonses-14.eml", "blocked"),  # blocked using an RBL
        ("sisimai/lhost-postfix-58.eml", "blocked"),  # low IP reputation
        ("sisimai/lhost-amazonses-21.eml", "relay_denied"),
    ],
)
def test_sender_side_codes_never_condemn_the_recipient(name: str, reason: str) -> None:
    assert first(name) == (reason, False)


# -- DSN actions as RFC 3464 defines them -------------------------------------------------------


def test_expired_is_a_failure_delayed_a_delay_delivered_a_success() -> None:
    expired = read("sisimai/lhost-sendgrid-03.eml")  # Action: expired
    delayed = read("sisimai/lhost-opensmtpd-06.eml")  # Action: delayed, 4.4.7
    delivered = read("sisimai/rfc3464-28.eml")  # Action: deliverable, 2.1.5
    assert (expired.kind, expired.bounces[0].reason) == (InboundKind.BOUNCE, "expired")
    assert delayed.kind is InboundKind.DELAYED and not delayed.bounces[0].hard
    assert delivered.kind is InboundKind.DELIVERED and delivered.original_message_ids


def test_a_provider_s_delivery_notification_is_a_success() -> None:
    assert read("sisimai/lhost-amazonses-12.eml").kind is InboundKind.DELIVERED


# -- complaints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "address", "matched_by"),
    [
        ("sisimai/arf-01.eml", "redacted@example.net", "envelope"),  # ARF with Original-Rcpt-To
        ("sisimai/arf-22.eml", "kijitora@example.com", "<0000000000fffffffff0000000000000@"),
        ("sisimai/lhost-amazonses-11.eml", "complaint@simulator.amazonses.com", "envelope"),
    ],
)
def test_complaints_name_who_complained_and_the_message(
    name: str, address: str, matched_by: str
) -> None:
    found = read(name)
    assert found.kind is InboundKind.COMPLAINT
    assert found.complaint is not None and found.complaint.address == address
    if matched_by == "envelope":
        assert found.complaint.envelope_from
    else:
        assert found.original_message_ids[0].startswith(matched_by)


def test_apple_mail_s_unsubscribe_is_an_unsubscribe() -> None:
    assert read("sisimai/arf-26.eml").kind is InboundKind.UNSUBSCRIBE


# -- robust parsing -----------------------------------------------------------------------------


def test_a_nul_byte_in_a_header_does_not_make_a_bounce_unreadable() -> None:
    data = (CORPUS / "corpus" / "sisimai/lhost-postfix-57.eml").read_bytes()
    damaged = data.replace(b"Subject: ", b"Subject: \x00", 1)
    assert damaged != data
    assert first("sisimai/lhost-postfix-57.eml") == ("user_unknown", True)
    assert classify(damaged).bounces[0].reason == "user_unknown"


@pytest.mark.parametrize(
    "name",
    [
        "sisimai/rhost-google-02.eml",  # declared boundary differs from the one used
        "sisimai/rfc3464-35.eml",  # delimiter lines indented
        "bounceparser/spam-rejection15.eml",  # boundary parameter run into the next field
        "sisimai/lhost-x1-02.eml",  # a part's Content-Type folded without ";"
        "sisimai/mac-lhost-postfix-01.eml",  # bare CR line ends
        "sisimai/lhost-kddi-01.eml",  # raw 8-bit UTF-8 subject
    ],
)
def test_defective_mail_is_still_read(name: str) -> None:
    found = read(name)
    assert found.kind is InboundKind.BOUNCE and found.bounces[0].address
