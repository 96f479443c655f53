"""The return date an out-of-office reply states, in several languages; and what is not one.

The table's texts are written the way auto-replies say it; the corpus rows are real
auto-replies (tests/inbound/corpus) read through the classifier, as the pipeline reads
them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bench.inbound_accuracy import CORPUS
from outbound.inbound.classify import classify
from outbound.inbound.return_date import MAX_TEXT, return_date
from tests.support.cpu import cpu_seconds

WRITTEN = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)  # a Friday

RETURNS = [
    # English
    ("I am out of the office until Monday 14 December with no access to email.", "2026-12-14"),
    ("Thanks for your note. I'll be back on Monday 14 December.", "2026-12-14"),
    ("I'm back in the office on the 14th.", "2026-12-14"),
    ("Returning to the office on December 14th.", "2026-12-14"),
    ("I am on annual leave and will not return until\n14/12/2026.", "2026-12-14"),
    ("Away till 12/14 (US style).", "2026-12-14"),
    ("I'm back on Monday.", "2026-12-07"),
    ("I'm travelling until tomorrow.", "2026-12-05"),
    # German
    ("Ich bin zurück am 14.12. und melde mich dann.", "2026-12-14"),
    ("Ich bin bis einschließlich 11. Dezember nicht im Büro.", "2026-12-11"),
    ("Ab Montag, den 14. Dezember bin ich wieder im Büro am 14.12.2026.", "2026-12-14"),
    ("Ich bin ab dem 14.12. wieder erreichbar. Wieder im Büro ab 15.12.", "2026-12-15"),
    # French
    ("Je suis de retour le 14 décembre.", "2026-12-14"),
    ("Je suis absente jusqu'au 11 décembre inclus. Pour toute urgence …", "2026-12-11"),
    ("Je serai de retour au bureau à partir du lundi 14 décembre.", "2026-12-14"),
    # Spanish
    ("Estoy de vacaciones hasta el 14 de diciembre, sin acceso al correo.", "2026-12-14"),
    ("Estaré de vuelta el lunes 14 de diciembre.", "2026-12-14"),
    # Dutch
    ("Ik ben met vakantie tot en met 11 december.", "2026-12-11"),
    ("Ik ben weer op kantoor op maandag 14 december.", "2026-12-14"),
    ("Vanaf 14 december ben ik terug op 14-12-2026.", "2026-12-14"),
]

NOT_A_RETURN = [
    "Thank you for your email. I will reply as soon as I can.",  # no date
    "I joined Acme on 14 December 2025 and moved teams on 1 March.",  # dates, no cue
    "I was out of the office until 1 December 2026; catching up now.",  # past
    "I am out until 4 December.",  # the day it was written: back already
    "I am away until 14 March.",  # over 60 days ahead: a typo or a sabbatical, not a pause
    "I am on leave until further notice.",
    "I'll get back to you then if there is a fit.",
    "Please call the desk until 5 pm today.",  # today, not the 5th
    "Bis bald! Tot ziens, hasta luego.",
    "",
]


@pytest.mark.parametrize(("text", "expected"), RETURNS, ids=[t[:40] for t, _ in RETURNS])
def test_a_stated_return_date_is_read(text: str, expected: str) -> None:
    assert return_date(text, WRITTEN) == date.fromisoformat(expected)


@pytest.mark.parametrize("text", NOT_A_RETURN, ids=[t[:40] for t in NOT_A_RETURN])
def test_no_return_date_where_none_is_stated(text: str) -> None:
    assert return_date(text, WRITTEN) is None


REAL_AUTO_REPLIES = [
    ("ooo_exchange_automatic_reply.eml", "2026-12-07"),  # "until Monday 7 December"
    ("ooo_french_reponse_automatique.eml", "2026-11-30"),  # "jusqu'au 30 novembre"
    ("ooo_german_abwesenheitsnotiz.eml", "2026-12-04"),  # "bis einschließlich 4. Dezember"
    ("ooo_gmail_vacation.eml", "2026-12-04"),  # "travelling until 4 December"
    ("ooo_lotus_notes.eml", "2026-11-30"),  # "starting 20/11/2026 … not return until 30/11/2026"
    ("ooo_spanish_respuesta_automatica.eml", "2026-12-02"),  # "hasta el 2 de diciembre"
    ("ooo_x_autoreply_cyrillic.eml", "2026-12-01"),  # its English half: "until 1 December"
    ("sisimai/rfc3834-01.eml", "2005-05-05"),  # "returning to the office on May 5th"
    ("bounceparser/aol-vacation.eml", None),  # "until 05/07/2010", written 5 July 2010
    ("ooo_cpanel_precedence_auto_reply.eml", None),  # "will reply within 5 working days"
    ("ooo_exchange_inbox_rule_only.eml", None),  # "I'll get back to you then"
    ("sisimai/rfc3834-02.eml", None),  # "out of the office Friday": no cue
    ("sisimai/rfc3834-04.eml", None),  # "traveling for work on July 10-31"
]


@pytest.mark.parametrize(
    ("file", "expected"), REAL_AUTO_REPLIES, ids=[f for f, _ in REAL_AUTO_REPLIES]
)
def test_real_auto_replies_read_through_the_classifier(file: str, expected: str | None) -> None:
    message = classify((CORPUS / "corpus" / file).read_bytes())
    assert message.kind.value == "auto_reply" and message.sent_at is not None
    found = return_date(f"{message.text}\n\n{message.subject}", message.sent_at)
    assert found == (date.fromisoformat(expected) if expected else None)


def test_only_the_first_kilobytes_are_read_and_a_long_text_is_quick() -> None:
    filler = "until nothing; " * 20_000
    late = filler + "back on 14 December"
    assert return_date("x" * MAX_TEXT + " back on 14 December", WRITTEN) is None
    found, spent = cpu_seconds(lambda: return_date(late, WRITTEN))
    assert found is None
    assert spent < 0.2
