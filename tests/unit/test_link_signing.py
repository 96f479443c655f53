"""Signed link tokens and the rewriting of a message's links (pure, no I/O)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from outbound.tracking.links import find_urls, html_alternative, rewrite_links
from outbound.tracking.tokens import LinkSigner, LinkTarget, Purpose, SigningSecretMissing

SECRET = "unit-test-secret-0123456789"
SIGNER = LinkSigner(SECRET)
KEY = SIGNER.link_key(42, 1, "ann@example.com")
YEAR = 365 * 24 * 3600


def test_a_token_names_its_message_by_an_opaque_key_and_nothing_personal() -> None:
    token = SIGNER.sign(Purpose.UNSUBSCRIBE, KEY)
    payload = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()

    assert SIGNER.read(Purpose.UNSUBSCRIBE, token) == LinkTarget(link_key=KEY)
    assert "@" not in token and len(token) < 80
    assert decoded == json.dumps(KEY).replace(" ", "")  # the key, and nothing else
    assert not re.search(r"\b42\b", decoded)  # not the enrollment id


def test_the_link_key_is_fixed_per_message_and_unguessable_without_the_secret() -> None:
    assert SIGNER.link_key(42, 1, "ANN@example.com") == KEY  # every attempt of one send
    assert (
        len(
            {
                KEY,
                SIGNER.link_key(42, 2, "ann@example.com"),
                SIGNER.link_key(43, 1, "ann@example.com"),
            }
        )
        == 3
    )
    assert LinkSigner("another-secret-0123456789").link_key(42, 1, "ann@example.com") != KEY


@given(st.integers(min_value=1, max_value=2**40), st.data())
def test_any_altered_character_is_refused(row: int, data: st.DataObject) -> None:
    key = SIGNER.link_key(row, 1, "a@example.com")
    token = SIGNER.sign(Purpose.CLICK, key, 1)
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    )
    altered = token[:index] + replacement + token[index + 1 :]

    expected = LinkTarget(link_key=key, link_position=1)
    if altered != token:
        assert SIGNER.read(Purpose.CLICK, altered) in (None, expected)
        # base64 may map two spellings to one payload; never to another target
    assert SIGNER.read(Purpose.CLICK, token) == expected


def test_a_token_of_one_purpose_or_secret_is_worthless_for_another() -> None:
    opened = SIGNER.sign(Purpose.OPEN, KEY)
    other_deployment = LinkSigner("another-secret-0123456789")

    assert SIGNER.read(Purpose.UNSUBSCRIBE, opened) is None
    assert SIGNER.read(Purpose.CLICK, opened) is None
    assert other_deployment.read(Purpose.OPEN, opened) is None


@pytest.mark.parametrize(
    ("purpose", "works_for"), [(Purpose.OPEN, 1), (Purpose.CLICK, 1), (Purpose.UNSUBSCRIBE, 5)]
)
def test_tracking_links_expire_after_a_year_and_unsubscribe_links_after_five(
    purpose: Purpose, works_for: int
) -> None:
    sent_at = 1_700_000_000.0
    position = 1 if purpose is Purpose.CLICK else None
    token = LinkSigner(SECRET, clock=lambda: sent_at).sign(purpose, KEY, position)

    def read_after(years: float) -> LinkTarget | None:
        return LinkSigner(SECRET, clock=lambda: sent_at + years * YEAR).read(purpose, token)

    assert read_after(works_for - 0.01) == LinkTarget(link_key=KEY, link_position=position)
    assert read_after(works_for + 0.01) is None


def test_a_token_signed_before_link_keys_still_names_its_row() -> None:
    """Links of messages sent before link keys existed: ``[row id]`` signed with the same
    secret and salt; they age out by the message's creation time (message_links)."""
    before = URLSafeSerializer(SECRET, salt="outbound.unsubscribe")
    clicked = URLSafeSerializer(SECRET, salt="outbound.click")

    assert SIGNER.read(Purpose.UNSUBSCRIBE, str(before.dumps([42]))) == LinkTarget(row_id=42)
    assert SIGNER.read(Purpose.CLICK, str(clicked.dumps([42, 3]))) == LinkTarget(
        row_id=42, link_position=3
    )
    assert SIGNER.read(Purpose.OPEN, str(before.dumps([42]))) is None


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
