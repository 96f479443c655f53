"""Inbound keywords: the whole text, any case, surrounding spaces."""

from __future__ import annotations

import pytest

from outbound.sms.keywords import Keyword, keyword_of


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop ",
        "StopAll",
        "unsubscribe",
        "Cancel",
        "END",
        "quit\n",
        "Revoke",
        "stop!",
    ],
)
def test_stop_words_in_any_case_and_spacing(text: str) -> None:
    assert keyword_of(text) is Keyword.STOP


@pytest.mark.parametrize("text", ["START", " unstop ", "Start."])
def test_start_words(text: str) -> None:
    assert keyword_of(text) is Keyword.START


@pytest.mark.parametrize("text", ["HELP", "help ", "Info"])
def test_help_words(text: str) -> None:
    assert keyword_of(text) is Keyword.HELP


@pytest.mark.parametrize(
    "text",
    ["", "stop it", "please stop", "Yes", "STOP STOP", "stopp", "Don't stop", "x" * 10_000],
)
def test_anything_else_is_not_a_keyword(text: str) -> None:
    assert keyword_of(text) is None
