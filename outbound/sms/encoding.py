"""What an SMS costs: its encoding and how many segments it is sent (and billed) as.

The rules are 3GPP TS 23.038's, as Twilio documents them:

* A message whose every character is in the GSM-7 default alphabet or its
  extension table is sent as GSM-7, in 7-bit septets. A basic character costs
  one septet; an extension character (``^ { } \\ [ ~ ] |``, ``€`` and form
  feed) costs two: an escape septet and the character's own.
* Any other character (``ł``, ``ć``, an emoji, a curly quote …) makes the
  whole message UCS-2, in 16-bit units: a character of the Basic Multilingual
  Plane costs one unit, any other (most emoji) a surrogate pair of two.
* A message that fits one segment (160 septets, or 70 units) is sent as one.
  A longer one is split into segments of 153 septets (or 67 units) each, the
  rest of each segment carrying the header that reassembles them. An escape
  pair or a surrogate pair is never split across two segments: a pair that
  would straddle a boundary starts the next segment, leaving a unit unused.

The count is by code points: Twilio does not join a grapheme (an emoji with a
skin-tone modifier is two code points, four units) and neither does this. Nor
does it apply Twilio's optional "smart encoding", which replaces some Unicode
look-alikes (curly quotes, long dashes) with GSM-7 characters before sending:
a sender who turns that on pays at most what this module says.

The empty text measures 0 characters, GSM-7, 0 units and 0 segments: nothing
is sent. Providers refuse an empty body (the callers refuse it first), so
every text that is sent has at least one segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# The GSM-7 default alphabet (TS 23.038 § 6.2.1), code 0x00 to 0x7F in order,
# without 0x1B: that code is the escape to the extension table, not a character.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The default extension table (TS 23.038 § 6.2.1.1): each costs an escape and itself.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_SEGMENT_UNITS: dict[Encoding, int] = {"GSM-7": 160, "UCS-2": 70}
MULTIPART_SEGMENT_UNITS: dict[Encoding, int] = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class SmsShape:
    """How a text is sent: its length, encoding, size in units and segments.

    ``units`` are septets for GSM-7 (an extension character counts two) and
    UTF-16 code units for UCS-2 (a character outside the Basic Multilingual
    Plane counts two).
    """

    characters: int
    encoding: Encoding
    segments: int
    units: int

    @property
    def units_per_segment(self) -> int:
        """What one segment holds: the single-segment size for one, the multipart one beyond."""
        if self.segments <= 1:
            return SINGLE_SEGMENT_UNITS[self.encoding]
        return MULTIPART_SEGMENT_UNITS[self.encoding]


def is_gsm7(character: str) -> bool:
    """Whether ``character`` (one code point) can be sent in GSM-7."""
    return character in GSM7_BASIC or character in GSM7_EXTENSION


def measure(text: str) -> SmsShape:
    """The encoding, units and segment count of ``text`` (see the module's rules)."""
    encoding: Encoding = "GSM-7" if all(is_gsm7(c) for c in text) else "UCS-2"
    costs = [_cost(c, encoding) for c in text]
    units = sum(costs)
    return SmsShape(
        characters=len(text),
        encoding=encoding,
        segments=_segments(costs, units, encoding),
        units=units,
    )


def _cost(character: str, encoding: Encoding) -> int:
    """Units one character takes: 2 for an escape pair or a surrogate pair, else 1."""
    if encoding == "GSM-7":
        return 2 if character in GSM7_EXTENSION else 1
    return 2 if ord(character) > 0xFFFF else 1


def _segments(costs: list[int], units: int, encoding: Encoding) -> int:
    """Segments needed, filling each greedily and never splitting a two-unit pair."""
    if units == 0:
        return 0
    if units <= SINGLE_SEGMENT_UNITS[encoding]:
        return 1
    capacity = MULTIPART_SEGMENT_UNITS[encoding]
    segments, used = 1, 0
    for cost in costs:
        if used + cost > capacity:  # the pair moves whole to the next segment
            segments, used = segments + 1, 0
        used += cost
    return segments
