"""Message headers: identity, threading and unsubscribe, exactly as receivers expect."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

from outbound.mail.compose import (
    OutgoingMessage,
    compose,
    envelope_sender,
    make_message_id,
    reply_subject,
)
from tests.support.rfc2369 import list_urls, one_click_post, raw_field, unfold


def outgoing(**overrides: object) -> OutgoingMessage:
    values: dict[str, object] = {
        "from_name": "Ada Lovelace, Recruiter",
        "from_address": "ada@example.com",
        "to_address": "bob@example.org",
        "subject": "Role at Acme",
        "body": "Hi Bob,\nä role for you.\n",
        "message_id": make_message_id(7, 1, "ada@example.com", "bob@example.org"),
        "date": datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
        "unsubscribe_url": "https://out.example.com/unsubscribe/abc",
        "references": (),
    }
    values.update(overrides)
    return OutgoingMessage(**values)  # type: ignore[arg-type]


def test_headers_survive_the_wire() -> None:
    wire = compose(outgoing()).as_bytes()
    received = message_from_bytes(wire, policy=policy.default)

    assert received["From"].addresses[0].display_name == "Ada Lovelace, Recruiter"
    assert received["From"].addresses[0].addr_spec == "ada@example.com"
    assert received["To"] == "bob@example.org"
    assert received["Date"].datetime == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert received["Message-ID"] == make_message_id(7, 1, "ada@example.com", "bob@example.org")
    assert received["List-Unsubscribe"] == "<https://out.example.com/unsubscribe/abc>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["In-Reply-To"] is None and received["References"] is None
    assert received.get_content() == "Hi Bob,\nä role for you.\n"


def test_a_follow_up_in_the_thread_references_the_whole_chain() -> None:
    chain = ("<one@example.com>", "<two@example.com>")

    received = compose(outgoing(references=chain, subject="Re: Role at Acme"))

    assert received["In-Reply-To"] == "<two@example.com>"
    assert received["References"] == "<one@example.com> <two@example.com>"


def test_message_ids_are_stable_per_step_and_recipient_and_distinct_otherwise() -> None:
    one = make_message_id(7, 1, "a@example.com", "b@example.org")
    assert one == make_message_id(7, 1, "a@example.com", "B@example.org")
    ids = {
        make_message_id(e, p, "a@example.com", to)
        for e in (1, 2)
        for p in (1, 2)
        for to in ("b@example.org", "b@work.example.org")
    }
    assert len(ids) == 8  # a step resent to a fallback address gets its own Message-ID
    assert one.endswith("@example.com>")


def test_reply_subject_has_exactly_one_re() -> None:
    assert reply_subject("Role at Acme") == "Re: Role at Acme"
    assert reply_subject("Re: Role at Acme") == "Re: Role at Acme"
    assert reply_subject("RE: Role") == "RE: Role"


def test_the_envelope_sender_names_the_message_where_the_mailbox_takes_plus_addresses() -> None:
    first = envelope_sender("ada@example.com", "<m1@example.com>", plus_addressing=True)
    second = envelope_sender("ada@example.com", "<m2@example.com>", plus_addressing=True)

    assert first.startswith("ada+b-") and first.endswith("@example.com")
    assert first != second
    assert first == envelope_sender("ada@example.com", "<m1@example.com>", plus_addressing=True)
    assert (
        envelope_sender("ada@example.com", "<m1@example.com>", plus_addressing=False)
        == "ada@example.com"
    )


def test_a_tracked_message_has_both_unsubscribe_targets_and_an_html_alternative() -> None:
    wire = compose(
        outgoing(
            unsubscribe_mailto="mailto:ada@example.com?subject=unsubscribe%20abc",
            html_body="<p>Hi Bob</p>",
        )
    ).as_bytes()
    received = message_from_bytes(wire, policy=policy.default)

    assert " ".join(str(received["List-Unsubscribe"]).split()) == (
        "<https://out.example.com/unsubscribe/abc>, "
        "<mailto:ada@example.com?subject=unsubscribe%20abc>"
    )
    assert received.get_content_type() == "multipart/alternative"
    plain = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert plain is not None and plain.get_content() == "Hi Bob,\nä role for you.\n"
    assert html is not None and html.get_content() == "<p>Hi Bob</p>\n"


LONG_TOKEN = "eyJtIjo0MiwicCI6MX0" * 4 + ".ZxYwVuTsRqPoNmLkJiHgFeDcBa"


def wire(message: OutgoingMessage) -> bytes:
    return compose(message).as_bytes(policy=policy.SMTP)


def test_list_unsubscribe_holds_both_urls_for_a_strict_rfc_2369_reader() -> None:
    https = f"https://out.example.com/unsubscribe/{LONG_TOKEN}"
    mailto = f"mailto:ada@example.com?subject=unsubscribe%20{LONG_TOKEN}"

    sent = wire(outgoing(unsubscribe_url=https, unsubscribe_mailto=mailto))

    assert list_urls(sent) == [https, mailto]
    assert one_click_post(sent) == "List-Unsubscribe=One-Click"


def test_a_long_mailto_folds_only_between_the_urls() -> None:
    https = f"https://out.example.com/unsubscribe/{LONG_TOKEN}"
    mailto = f"mailto:{'a' * 40}@{'hiring-team.' * 5}example.com?subject=unsubscribe%20{LONG_TOKEN}"

    sent = wire(outgoing(unsubscribe_url=https, unsubscribe_mailto=mailto))

    field = raw_field(sent, "List-Unsubscribe")
    assert field.split("\r\n") == [f" <{https}>,", f" <{mailto}>"]
    assert list_urls(sent) == [https, mailto]


def test_threading_headers_keep_long_message_ids_whole() -> None:
    domain = "recruiting-team.a-rather-long-company-name.example.com"
    chain = tuple(f"<outbound.{i}.1.0123456789abcdef@{domain}>" for i in range(1, 4))

    sent = wire(outgoing(references=chain, subject="Re: Role at Acme"))

    assert "=?" not in raw_field(sent, "References") + raw_field(sent, "In-Reply-To")
    assert unfold(raw_field(sent, "In-Reply-To")).split() == [chain[-1]]
    assert unfold(raw_field(sent, "References")).split() == list(chain)
    received = message_from_bytes(sent, policy=policy.default)
    assert received["References"] == " ".join(chain)
