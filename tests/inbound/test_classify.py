"""The inbound classifier against hand-written messages shaped as clients and MTAs write them.

``corpus.csv`` says what each message is (kind, reason, hard/soft; the real
messages of the corpus are tested in ``test_corpus.py``); ``corpus/expected.json``
says what must be read from the hand-written ones at the top of ``corpus/``
(bounced recipients with status and permanence, the returned Message-ID,
thread headers, what the snippet must and must not contain). The focused tests
below pin the rules that protect a live sequence: a person's words never make
an auto-reply, a delay never makes a bounce.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.inbound_accuracy import load
from outbound.domain.inbound import InboundKind, InboundMessage
from outbound.inbound import classify_notice
from outbound.inbound.classify import MalformedMessage, classify
from outbound.inbound.classify_text import html_to_text, new_text, snippet

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (CORPUS / "expected.json").read_text(encoding="utf-8")
)
KINDS = {row.file: row.kind for row in load() if "/" not in row.file}
MESSAGES = sorted(name for name, kind in KINDS.items() if kind != "malformed")
MALFORMED = sorted(name for name, kind in KINDS.items() if kind == "malformed")
OURS = "<outbound.12.1.0123456789abcdef@hiring.example.com>"


def raw(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def test_the_hand_written_messages_and_their_expectations_match() -> None:
    files = {p.name for p in CORPUS.glob("*.eml")}
    assert files == set(EXPECTED) == set(KINDS)
    assert len(MESSAGES) >= 30


@pytest.mark.parametrize("name", MESSAGES)
def test_corpus_message(name: str) -> None:
    expected = EXPECTED[name]
    message = classify(raw(name))

    assert message.kind.value == KINDS[name], message.why
    assert message.why
    if "why_contains" in expected:
        assert expected["why_contains"] in message.why
    for field in ("sender", "recipients", "subject", "message_id", "in_reply_to", "references"):
        if field in expected:
            assert getattr(message, field) == expected[field], field
    if "sent_at" in expected:
        assert message.sent_at == datetime.fromisoformat(expected["sent_at"])
    if "original_message_ids" in expected:
        assert message.original_message_ids == expected["original_message_ids"]
    if "bounces" in expected:
        assert_bounces(message, expected["bounces"])
    for fragment in expected.get("snippet_contains", []):
        assert fragment in message.snippet
    for fragment in expected.get("snippet_excludes", []):
        assert fragment not in message.snippet
    assert_invariants(message)


def assert_bounces(message: InboundMessage, expected: list[dict[str, Any]]) -> None:
    found = {b.address: b for b in message.bounces}
    assert set(found) == {e["address"] for e in expected}
    assert len(found) == len(message.bounces)
    for wanted in expected:
        bounce = found[wanted["address"]]
        assert bounce.status == wanted["status"]
        assert bounce.permanent is wanted["permanent"]
        assert bounce.diagnostic is not None
        assert wanted["diagnostic_contains"] in bounce.diagnostic


def assert_invariants(message: InboundMessage) -> None:
    """What every classification promises, whatever the message."""
    assert len(message.snippet) <= 200
    assert message.snippet == message.snippet.strip()
    assert all(r == r.lower() and "@" in r for r in message.recipients)
    assert message.sender is None or message.sender == message.sender.lower()
    ids = [*message.in_reply_to, *message.references, *message.original_message_ids]
    ids += [message.message_id] if message.message_id else []
    assert all(re.fullmatch(r"<[^<>\s]+>", i) for i in ids)
    assert message.sent_at is None or message.sent_at.utcoffset() == UTC.utcoffset(None)
    if message.kind not in (InboundKind.BOUNCE, InboundKind.DELAYED):
        assert message.bounces == []
    if message.kind is InboundKind.DELAYED:
        assert not any(b.permanent for b in message.bounces)
    assert all(b.address == b.address.lower() for b in message.bounces)


@pytest.mark.parametrize("name", MALFORMED)
def test_corpus_malformed_input_is_refused_with_a_reason(name: str) -> None:
    with pytest.raises(MalformedMessage) as refused:
        classify(raw(name))
    assert EXPECTED[name]["reason_contains"] in str(refused.value)
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize("name", MESSAGES)
def test_line_endings_do_not_matter(name: str) -> None:
    """IMAP hands over CRLF, files and webhooks often LF: the same message either way."""
    lf = re.sub(rb"\r\n", b"\n", raw(name))
    crlf = lf.replace(b"\n", b"\r\n")
    assert classify(crlf) == classify(lf)


# -- focused rules ---------------------------------------------------------------------------


def message(headers: str, body: str) -> bytes:
    """A message from header lines and a body, as a client would write it."""
    return (headers.strip() + "\n\n" + body).encode()


PERSON = f"""
From: Mia Rossi <mia.rossi@fabrikam.example>
To: ada@hiring.example.com
Date: Tue, 01 Dec 2026 09:12:36 +0100
Message-ID: <reply-1@fabrikam.example>
In-Reply-To: {OURS}
References: {OURS}
"""


def test_a_person_quoting_out_of_office_words_is_a_reply() -> None:
    body = (
        "Sorry, I was out of office last week - my automatic reply wasn't on.\n"
        "Yes, let's talk.\n\n"
        "On Mon, 23 Nov 2026 at 10:03, Mia Rossi wrote:\n"
        "> Out of Office: I am out of the office until 30 November.\n"
        "> Automatic reply: Abwesenheitsnotiz / Réponse automatique\n"
    )
    found = classify(message(PERSON + "Subject: Re: Senior Platform Engineer role", body))
    assert found.kind is InboundKind.REPLY
    assert "Yes, let's talk." in found.snippet
    assert "until 30 November" not in found.snippet


@pytest.mark.parametrize(
    "subject",
    [
        "Out of office next week - can we talk after?",
        "Re: Automatic reply: Senior Platform Engineer role",
        "AW: Abwesenheitsnotiz: Senior Platform Engineer role",
    ],
)
def test_a_person_writing_about_their_absence_in_the_subject_is_a_reply(subject: str) -> None:
    found = classify(message(PERSON + f"Subject: {subject}", "Happy to talk.\n"))
    assert found.kind is InboundKind.REPLY


@pytest.mark.parametrize(
    ("subject", "auto"),
    [
        ("Automatic reply: Senior Platform Engineer role", True),
        ("Out of Office: Senior Platform Engineer role", True),
        ("Out of Office AutoReply: Senior Platform Engineer role", True),
        ("[EXTERNAL] Automatic reply: Senior Platform Engineer role", True),
        ("AutoReply: Senior Platform Engineer role", True),
        ("Abwesenheitsnotiz: Senior Platform Engineer role", True),
        ("Réponse automatique : Senior Platform Engineer role", True),
        ("Respuesta automática: Senior Platform Engineer role", True),
        ("Automātiskā atbilde: Senior Platform Engineer role", True),
        ("Ārpus biroja atrašanās automātiskā atbilde: Senior Platform Engineer role", True),
        ("Re: Automātiskā atbilde: Senior Platform Engineer role", False),
        ("I am out of the office until 30/11/2026.", True),
        ("Ann Lee is out of the office.", True),
        ("Re: Senior Platform Engineer role", False),
        ("Automation engineer role?", False),
    ],
)
def test_out_of_office_subjects(subject: str, auto: bool) -> None:
    found = classify(message(PERSON + f"Subject: {subject}", "Text.\n"))
    assert (found.kind is InboundKind.AUTO_REPLY) is auto, found.why


@pytest.mark.parametrize(
    ("local", "machine"),
    [
        ("noreply", True),
        ("no-reply", True),
        ("no_reply", True),
        ("no.reply", True),
        ("do_not_reply", True),
        ("info-donotreply", True),
        ("nora.reply", False),
        ("reply.mia", False),
    ],
)
def test_no_reply_senders_in_every_spelling_are_machines(local: str, machine: bool) -> None:
    sender = PERSON.replace("mia.rossi@", f"{local}@")
    found = classify(message(sender + "Subject: Thanks for your message", "We received it.\n"))
    assert (found.kind is InboundKind.UNRECOGNISED_NOTICE) is machine, found.why


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("Auto-Submitted: auto-replied", InboundKind.AUTO_REPLY),
        ("Auto-Submitted: auto-generated; owner-email=it@fabrikam.example", InboundKind.AUTO_REPLY),
        ("Auto-Submitted: no", InboundKind.REPLY),
        ("X-Auto-Response-Suppress: All", InboundKind.REPLY),
        ("X-Autorespond: Senior Platform Engineer role", InboundKind.AUTO_REPLY),
        ("X-MS-Exchange-Inbox-Rules-Loop: mia.rossi@fabrikam.example", InboundKind.AUTO_REPLY),
        ("Precedence: auto_reply", InboundKind.AUTO_REPLY),
        ("Precedence: junk", InboundKind.AUTO_REPLY),
        ("Precedence: bulk", InboundKind.AUTO_REPLY),
    ],
)
def test_autoresponder_headers(header: str, kind: InboundKind) -> None:
    found = classify(message(PERSON + f"{header}\nSubject: Re: The role", "Text.\n"))
    assert found.kind is kind, found.why


def test_bulk_mail_from_a_list_is_other_but_a_threaded_list_reply_is_a_reply() -> None:
    newsletter = "From: news@contoso.com\nDate: Tue, 24 Nov 2026 14:00:06 +0000\nSubject: Digest"
    listed = "\nPrecedence: bulk\nList-Id: <digest.contoso.com>"
    assert classify(message(newsletter + listed, "News.\n")).kind is InboundKind.OTHER
    via_a_group = PERSON + "List-Id: <team.fabrikam.example>\nSubject: Re: The role"
    assert classify(message(via_a_group, "Interested!\n")).kind is InboundKind.REPLY


REPORT = """
From: MAILER-DAEMON@smtp.hiring.example.com (Mail Delivery System)
To: ada@hiring.example.com
Date: Mon, 23 Nov 2026 13:02:30 +0000
Message-ID: <report-1@smtp.hiring.example.com>
Subject: Delivery report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"
"""


def report(*per_recipient: str) -> bytes:
    blocks = "\n".join(per_recipient)
    body = (
        "--R\nContent-Type: text/plain\n\nA report.\n\n"
        "--R\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; smtp.hiring.example.com\n\n{blocks}\n"
        "--R\nContent-Type: text/rfc822-headers\n\n"
        f"Message-ID: {OURS}\nTo: ann.lee@gmail.com\n\n--R--\n"
    )
    return message(REPORT, body)


def delayed(address: str) -> str:
    return (
        f"Final-Recipient: rfc822; {address}\nAction: delayed\nStatus: 4.4.7\n"
        "Diagnostic-Code: smtp; 451 4.4.7 Try again later\n"
    )


def failed(address: str) -> str:
    return (
        f"Final-Recipient: rfc822; {address}\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 No such user\n"
    )


def test_a_delay_only_report_is_not_a_bounce() -> None:
    found = classify(report(delayed("ann.lee@gmail.com")))
    assert found.kind is InboundKind.DELAYED
    assert [(b.address, b.status, b.permanent) for b in found.bounces] == [
        ("ann.lee@gmail.com", "4.4.7", False)
    ]
    assert found.original_message_ids == [OURS]


def test_a_report_with_a_failure_is_a_bounce_listing_only_the_failed() -> None:
    found = classify(report(failed("bob@bolt.example.com"), "", delayed("ann.lee@gmail.com")))
    assert found.kind is InboundKind.BOUNCE
    assert [(b.address, b.status, b.permanent) for b in found.bounces] == [
        ("bob@bolt.example.com", "5.1.1", True)
    ]


def test_a_soft_failure_is_a_bounce_but_not_permanent() -> None:
    soft = (
        "Final-Recipient: rfc822; ann.lee@gmail.com\nAction: failed\nStatus: 4.4.7\n"
        "Diagnostic-Code: smtp; 451 4.4.7 Delivery time expired\n"
    )
    (bounce,) = classify(report(soft)).bounces
    assert (bounce.status, bounce.permanent) == ("4.4.7", False)


def test_original_recipient_is_preferred_and_status_comes_from_the_diagnostic_if_missing() -> None:
    block = (
        "Original-Recipient: rfc822;Ann.Lee@gmail.com\nFinal-Recipient: rfc822; annlee@gmail.com\n"
        "Action: failed\nDiagnostic-Code: smtp; 550 5.2.1 The email account is disabled\n"
    )
    (bounce,) = classify(report(block)).bounces
    assert (bounce.address, bounce.status, bounce.permanent) == ("ann.lee@gmail.com", "5.2.1", True)


def test_a_person_writing_about_an_undeliverable_message_is_a_reply() -> None:
    body = "My old address bounced (550 5.1.1 user unknown), please use this one.\n"
    found = classify(message(PERSON + "Subject: Re: Undeliverable: The role", body))
    assert found.kind is InboundKind.REPLY


def qmail_bounce(answer: str) -> bytes:
    headers = (
        "From: MAILER-DAEMON@mail.oldhost.example\nTo: ada@hiring.example.com\n"
        "Date: 23 Nov 2026 09:05:01 -0000\nSubject: failure notice"
    )
    body = (
        "Hi. This is the qmail-send program at mail.oldhost.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<dora@oldhost.example>:\n{answer}\n\n"
        f"--- Below this line is a copy of the message.\n\nMessage-ID: {OURS}\n"
    )
    return message(headers, body)


@pytest.mark.parametrize(
    ("answer", "status", "permanent"),
    [
        ("Remote host said: 550 5.2.1 Mailbox disabled", "5.2.1", True),
        ("Remote host said: 550 No such user here", "5.1.1", True),
        ("Remote host said: 554 Sender address rejected: not allowed", "5.0.0", True),
        ("Sorry, I couldn't find any host named oldhost.example. (#5.1.2)", "5.1.2", True),
        ("Remote host said: 550 Host not found", "5.1.2", True),
        ("Remote host said: 452 Mailbox full, try later", "4.2.2", False),
    ],
)
def test_a_text_bounce_takes_its_status_from_the_server_answer(
    answer: str, status: str, permanent: bool
) -> None:
    """The enhanced code when there is one; else inferred from the basic code and words,
    narrowly: a rejected *sender* says nothing about the recipient's address."""
    found = classify(qmail_bounce(answer))
    assert found.kind is InboundKind.BOUNCE
    (bounce,) = found.bounces
    assert (bounce.address, bounce.status, bounce.permanent) == (
        "dora@oldhost.example",
        status,
        permanent,
    )
    assert bounce.diagnostic == " ".join(answer.split())
    assert found.original_message_ids == [OURS]


def test_a_text_delay_warning_is_not_a_bounce() -> None:
    headers = (
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "To: ada@hiring.example.com\nDate: Mon, 23 Nov 2026 13:03:04 +0000\n"
        "Subject: Delivery Status Notification (Delay)"
    )
    body = (
        "This is an automatically generated Delivery Status Notification\n\n"
        "THIS IS A WARNING MESSAGE ONLY.\n\nYOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\n"
        "Delivery to the following recipient has been delayed:\n\n     bea@slow.example\n\n"
        "Message will be retried for 2 more day(s)\n"
    )
    found = classify(message(headers, body))
    assert found.kind is InboundKind.DELAYED
    assert [(b.address, b.permanent) for b in found.bounces] == [("bea@slow.example", False)]


def test_a_failing_bounce_detector_falls_back_to_the_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("detector bug")

    monkeypatch.setattr(classify_notice.flufl.bounce, "all_failures", broken)
    found = classify(raw("bounce_qmail.eml"))
    assert found.kind is InboundKind.BOUNCE
    assert [(b.address, b.status) for b in found.bounces] == [("dora@oldhost.example", "5.1.1")]
    assert "notification text" in found.why


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Mon, 23 Nov 2026 11:14:05 +0100", datetime(2026, 11, 23, 10, 14, 5, tzinfo=UTC)),
        ("Mon, 23 Nov 2026 10:14:05 -0000", datetime(2026, 11, 23, 10, 14, 5, tzinfo=UTC)),
        ("23 Nov 2026 10:14:05 GMT", datetime(2026, 11, 23, 10, 14, 5, tzinfo=UTC)),
        ("yesterday at noon", None),
        ("", None),
    ],
)
def test_sent_at_is_utc_or_none(date: str, expected: datetime | None) -> None:
    headers = "From: ann.lee@gmail.com\nMessage-ID: <d@x.example>\nSubject: Hi"
    headers += f"\nDate: {date}" if date else ""
    assert classify(message(headers, "Hi\n")).sent_at == expected


def test_thread_ids_keep_their_brackets_and_bare_ids_get_them() -> None:
    headers = (
        "From: ann.lee@gmail.com\nDate: Mon, 23 Nov 2026 10:14:05 +0000\n"
        f"In-Reply-To: {OURS[1:-1]}\n"
        f"References: {OURS}\n <b@x.example> (comment)\nSubject: Hi"
    )
    found = classify(message(headers, "Hi\n"))
    assert found.in_reply_to == [OURS]
    assert found.references == [OURS, "<b@x.example>"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\r\n\r\n  \r\n", "empty"),
        ("From: a@b.example\n\nhi".encode("utf-16"), "UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"Subject: hello\n\nno sender, no date, no id", "no From"),
    ],
)
def test_malformed_reasons(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        classify(data)


# -- the snippet -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Yes!\n\nOn Mon, 23 Nov 2026 at 10:02, Ada <ada@h.example> wrote:\n> Hi", "Yes!"),
        ("Yes!\n\nOn Mon, 23 Nov 2026 at 10:02, Ada Recruiter <\nada@h.example> wrote:\n", "Yes!"),
        ("Ja.\n\nAm Mo., 23. Nov. 2026 um 10:02 Uhr schrieb Ada <ada@h.example>:\n", "Ja."),
        ("Oui.\n\nLe lun. 23 nov. 2026 à 10:02, Ada <ada@h.example> a écrit :\n", "Oui."),
        ("Sí.\n\nEl lun, 23 nov 2026 a las 10:02, Ada (<ada@h.example>) escribió:\n", "Sí."),
        ("Yes.\n\n-----Original Message-----\nFrom: Ada\nHi", "Yes."),
        ("Yes.\n________________________________\nFrom: Ada\nSent: Monday\nTo: Bob\n", "Yes."),
        ("Ja.\n\nVon: Ada\nGesendet: Montag\nAn: Lena\nBetreff: Rolle\n", "Ja."),
        ("Yes.\n\nBegin forwarded message:\n\nFrom: Ada\n", "Yes."),
        ("Yes.\n-- \nBob | Contoso", "Yes."),
        ("From: my side, all good.\nTalk soon.", "From: my side, all good.\nTalk soon."),
        ("On Thursday I can talk.\nBest, Ann", "On Thursday I can talk.\nBest, Ann"),
    ],
)
def test_new_text(text: str, kept: str) -> None:
    assert new_text(text) == kept


def test_the_snippet_is_collapsed_and_cut_at_a_word() -> None:
    text = "Hi Ada,\n\n" + "word " * 100
    cut = snippet(text)
    assert cut.startswith("Hi Ada, word word")
    assert len(cut) <= 200 and cut.endswith("word…")


def test_html_to_text_drops_quotes_styles_and_keeps_blocks() -> None:
    html = (
        "<html><head><style>p{color:red}</style></head><body><div>Hi&nbsp;Ada,</div>"
        "<div>Thursday works.</div><blockquote>Old text</blockquote></body></html>"
    )
    assert html_to_text(html).split() == ["Hi", "Ada,", "Thursday", "works."]


# -- robustness ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MESSAGES)
def test_a_truncated_message_is_classified_or_refused_never_crashes(name: str) -> None:
    data = raw(name)
    for cut in range(0, len(data), max(1, len(data) // 12)):
        with contextlib.suppress(MalformedMessage):
            assert_invariants(classify(data[:cut]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_arbitrary_bytes_are_classified_or_refused(data: bytes) -> None:
    with contextlib.suppress(MalformedMessage):
        assert_invariants(classify(data))


@settings(max_examples=100, deadline=None)
@given(
    headers=st.lists(
        st.sampled_from(
            [
                "From: Ann <ann.lee@gmail.com>",
                "From: <>",
                "From: undisclosed-recipients:;",
                'To: "Lee, Ann" <ann@x.example>, bob@y.example',
                "Date: Mon, 32 Foo 2026 99:99:99 +9999",
                "Message-ID: <<<>>>",
                "Auto-Submitted: ",
                "Content-Type: multipart/report; report-type=delivery-status; boundary=",
                "Content-Type: message/delivery-status",
                "Content-Type: text/plain; charset=no-such-charset",
                "Content-Transfer-Encoding: base64",
                "Subject: =?utf-8?B?broken?=",
                "Return-Path: <>",
                "X-Failed-Recipients: ,,,",
            ]
        ),
        min_size=1,
        max_size=8,
    ),
    body=st.text(max_size=400),
)
def test_hostile_headers_are_classified_or_refused(headers: list[str], body: str) -> None:
    data = ("\n".join(headers) + "\n\n" + body).encode()
    with contextlib.suppress(MalformedMessage):
        assert_invariants(classify(data))
