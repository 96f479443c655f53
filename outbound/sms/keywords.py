"""Which keyword an inbound text is, if it is one (pure: no I/O).

A keyword is the whole text, in any case, with surrounding spaces (and a final
full stop or exclamation mark) ignored: ``" Stop "`` and ``"stop!"`` opt out,
``"please stop texting me"`` is a reply for a person to read.

- ``STOP``: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, and OPTOUT (which
  Twilio honours too: the provider blocks the number, so we must list it as well);
- ``START``: START and UNSTOP. Not ``YES``, which Twilio also takes as an opt-in: to a
  recruiter's text, "Yes" is far more often an answer, and it is kept as a reply;
- ``HELP``: HELP and INFO.

>>> keyword_of("  Stop ")
<Keyword.STOP: 'stop'>
>>> keyword_of("please stop") is None
True
"""

from __future__ import annotations

from enum import StrEnum

MAX_KEYWORD_LENGTH = 16  # longer texts are never a keyword: no work on a long body


class Keyword(StrEnum):
    """What an inbound keyword asks for."""

    STOP = "stop"
    START = "start"
    HELP = "help"


_WORDS = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
        Keyword.STOP,
    ),
    **dict.fromkeys(("START", "UNSTOP"), Keyword.START),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
}


def keyword_of(text: str) -> Keyword | None:
    """The keyword ``text`` is, or None for any other text (a reply)."""
    stripped = text.strip()
    if len(stripped) > MAX_KEYWORD_LENGTH:
        return None
    return _WORDS.get(stripped.rstrip(".!").strip().upper())
