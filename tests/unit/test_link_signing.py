"""Signed link tokens and the rewriting of a message's links (pure, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outbound.tracking.links import find_urls, html_alternative, rewrite_links
from outbound.tracking.tokens import LinkSigner, LinkTarget, Purpose, SigningSecretMissing

SIGNER = LinkSigner("unit-test-secret-0123456789")


def test_a_token_names_its_message_and_nothing_personal() -> None:
    token = SIGNER.sign(Purpose.UNSUBSCRIBE, LinkTarget(42))

    assert SIGNER.read(Purpose.UNSUBSCRIBE, token) == LinkTarget(42)
    assert "@" not in token and len(token) < 60


@given(st.integers(min_value=1, max_value=2**40), st.data())
def test_any_altered_character_is_refused(row: int, data: st.DataObject) -> None:
    token = SIGNER.sign(Purpose.CLICK, LinkTarget(row, 1))
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    )
    altered = token[:index] + replacement + token[index + 1 :]

    if altered != token:
        assert SIGNER.read(Purpose.CLICK, altered) in (None, LinkTarget(row, 1))
        # base64 may map two spellings to one payload; never to another target
    assert SIGNER.read(Purpose.CLICK, token) == LinkTarget(row, 1)


def test_a_token_of_one_purpose_or_secret_is_worthless_for_another() -> None:
    opened = SIGNER.sign(Purpose.OPEN, LinkTarget(7))
    other_deployment = LinkSigner("another-secret-0123456789")

    assert SIGNER.read(Purpose.UNSUBSCRIBE, opened) is None
    assert SIGNER.read(Purpose.CLICK, opened) is None
    assert other_deployment.read(Purpose.OPEN, opened) is None


def test_without_a_secret_nothing_can_be_signed() -> None:
    with pytest.raises(SigningSecretMissing, match="OUTBOUND_SIGNING_SECRET"):
        LinkSigner("")


def test_links_are_rewritten_in_order_except_the_unsubscribe_link() -> None:
    body = (
        "See https://jobs.example.com/42?ref=a&x=1. Or (https://acme.example.com/team)!\n"
        "Stop: https://out.example/unsubscribe/tok\n"
    )

    tracked = rewrite_links(
        body, lambda n: f"https://t.example/c/{n}", keep="https://out.example/unsubscribe/tok"
    )

    assert tracked.links == {
        1: "https://jobs.example.com/42?ref=a&x=1",
        2: "https://acme.example.com/team",
    }
    assert tracked.text == (
        "See https://t.example/c/1. Or (https://t.example/c/2)!\n"
        "Stop: https://out.example/unsubscribe/tok\n"
    )


def test_the_html_alternative_escapes_the_text_and_carries_the_pixel() -> None:
    page = html_alternative("<b>Hi</b> & see https://a.example/x?y=1&z=2\nBye", "https://p/o/1")

    assert "&lt;b&gt;Hi&lt;/b&gt; &amp; see" in page
    assert '<a href="https://a.example/x?y=1&amp;z=2">' in page
    assert "<br>\nBye" in page
    assert page.count('<img src="https://p/o/1" width="1" height="1" alt="">') == 1


def test_only_explicit_http_urls_count() -> None:
    assert [u for _, _, u in find_urls("mail me at a@b.example or www.x.example, ftp://f")] == []
