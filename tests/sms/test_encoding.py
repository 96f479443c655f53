"""What an SMS costs: encoding, units and segments, by example and as properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from outbound.sms.encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    MULTIPART_SEGMENT_UNITS,
    SINGLE_SEGMENT_UNITS,
    SmsShape,
    is_gsm7,
    measure,
)

EMOJI = "😀"  # outside the Basic Multilingual Plane: a surrogate pair, 2 UTF-16 units
NOT_GSM = "ł"  # Polish; in the BMP (1 unit) but in neither GSM-7 table


def test_an_empty_text_is_nothing_to_send() -> None:
    assert measure("") == SmsShape(characters=0, encoding="GSM-7", segments=0, units=0)


def test_160_plain_characters_fit_one_segment_and_161_take_two() -> None:
    assert measure("a" * 160) == SmsShape(160, "GSM-7", 1, 160)
    assert measure("a" * 161) == SmsShape(161, "GSM-7", 2, 161)


def test_multipart_gsm_segments_hold_153_septets() -> None:
    assert measure("a" * 306).segments == 2
    assert measure("a" * 307).segments == 3


def test_accented_latin_letters_of_the_gsm_alphabet_stay_gsm() -> None:
    shape = measure("é" * 160)  # é, è, ñ, ü … are in the basic alphabet

    assert (shape.encoding, shape.segments, shape.units) == ("GSM-7", 1, 160)


def test_extension_characters_count_two_septets() -> None:
    assert measure("€") == SmsShape(1, "GSM-7", 1, 2)
    assert measure("{[|]}") == SmsShape(5, "GSM-7", 1, 10)
    assert measure("€" * 80) == SmsShape(80, "GSM-7", 1, 160)
    assert measure("€" * 81).segments == 2


def test_an_escape_pair_straddling_a_segment_boundary_moves_to_the_next_segment() -> None:
    # 152 septets, then € (2): the pair would take septets 153 and 154, so it starts segment 2,
    # which then holds 2 + 151 = 153; one more septet needs a third segment.
    assert measure("a" * 152 + "€" + "a" * 151).segments == 2
    assert measure("a" * 152 + "€" + "a" * 152).segments == 3
    # without the move the same 306 septets would fit two segments exactly
    assert measure("a" * 151 + "€" + "a" * 153).segments == 2


def test_one_character_outside_gsm_makes_the_whole_text_ucs2() -> None:
    assert measure(NOT_GSM * 70) == SmsShape(70, "UCS-2", 1, 70)
    assert measure("a" * 69 + NOT_GSM) == SmsShape(70, "UCS-2", 1, 70)
    assert measure("a" * 70 + NOT_GSM) == SmsShape(71, "UCS-2", 2, 71)
    assert measure(NOT_GSM * 134).segments == 2
    assert measure(NOT_GSM * 135).segments == 3


def test_an_emoji_is_two_units() -> None:
    assert measure(EMOJI) == SmsShape(1, "UCS-2", 1, 2)
    assert measure(EMOJI * 35) == SmsShape(35, "UCS-2", 1, 70)
    assert measure(EMOJI * 36).segments == 2


def test_a_surrogate_pair_straddling_67_units_moves_to_the_next_segment() -> None:
    # 66 units, then the emoji (2): it starts segment 2, which then holds 2 + 65 = 67.
    assert measure("a" * 66 + EMOJI + "a" * 65).segments == 2
    assert measure("a" * 66 + EMOJI + "a" * 66).segments == 3
    assert measure("a" * 65 + EMOJI + "a" * 67).segments == 2


def test_extension_characters_cost_one_unit_once_the_text_is_ucs2() -> None:
    assert measure("€" + NOT_GSM) == SmsShape(2, "UCS-2", 1, 2)


def test_escape_itself_is_not_a_gsm_character() -> None:
    assert not is_gsm7("\x1b")
    assert measure("\x1b").encoding == "UCS-2"


# Text drawn mostly from the GSM alphabets, sometimes with other characters and emoji.
gsm_characters = st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION))
any_characters = st.characters(codec="utf-8", exclude_categories=("Cs",))
characters = st.one_of(gsm_characters, gsm_characters, gsm_characters, any_characters)
texts = st.text(characters, max_size=700)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_shape_properties(text: str) -> None:
    shape = measure(text)

    assert shape.characters == len(text)
    assert (shape.encoding == "GSM-7") == all(is_gsm7(c) for c in text)
    if text:
        assert shape.segments >= 1
        single = shape.units <= SINGLE_SEGMENT_UNITS[shape.encoding]
        assert (shape.segments == 1) == single
        assert shape.segments * shape.units_per_segment >= shape.units
        if not single:  # each segment but the last is at least full but for a moved pair
            multipart = MULTIPART_SEGMENT_UNITS[shape.encoding]
            assert (shape.segments - 1) * (multipart - 1) < shape.units
    else:
        assert shape.segments == 0
    if shape.encoding == "UCS-2":
        assert shape.units == len(text.encode("utf-16-le")) // 2
    else:
        assert shape.units == len(text) + sum(c in GSM7_EXTENSION for c in text)


@settings(max_examples=400, deadline=None)
@given(texts, characters, st.integers(0, 700))
def test_adding_a_character_anywhere_never_decreases_segments(
    text: str, character: str, position: int
) -> None:
    position = min(position, len(text))
    longer = text[:position] + character + text[position:]

    assert measure(longer).segments >= measure(text).segments
    assert measure(longer).units >= measure(text).units or (
        measure(text).encoding == "GSM-7" and measure(longer).encoding == "UCS-2"
    )
