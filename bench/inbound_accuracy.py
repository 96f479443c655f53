"""How well the inbound classifier reads real mail: the labelled corpus in tests/inbound.

    python -m bench.inbound_accuracy [--misses]

Every message of ``tests/inbound/corpus.csv`` (real bounces, complaints, delay
and success reports, vacation replies and replies from public collections;
see ``tests/inbound/corpus/README.md``) is classified and compared with its
label. Printed: the confusion matrix of kinds; bounce recall; notices taken as
replies (must be 0: each would end a live sequence); replies taken as notices;
hard/soft agreement on the bounces (the first reported recipient's ``hard``
against the label); reason agreement; complaints recognised; auto-replies recognised
(and in which languages, the table's ``lang``); the median and
worst time per message (each the fastest of three runs, so that other load on the machine
does not count).

Baselines measured in the same run: flufl.bounce alone (the library the text
path builds on) for bounce recall, and the stdlib parser alone for time.
``--misses`` lists every disagreement with the classifier's ``why``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import email
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import flufl.bounce

from outbound.domain.statuses import InboundKind
from outbound.inbound.classify import MalformedMessage, classify

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "inbound"
NOTICES = frozenset(
    {"bounce", "delayed", "delivered", "complaint", "unrecognised_notice", "auto_reply"}
)


@dataclass
class Row:
    file: str
    source: str
    mta: str
    kind: str
    reason: str
    hard: str
    lang: str = ""  # an auto-reply's language (ISO 639-1), from its own words


@dataclass
class Figures:
    """What one pass over the corpus found."""

    rows: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    bounces: int = 0
    bounces_found: int = 0
    flufl_found: int = 0
    notices_as_replies: list[str] = field(default_factory=list)
    replies_as_notices: list[str] = field(default_factory=list)
    hard_checked: int = 0
    hard_agree: int = 0
    reason_agree: int = 0
    complaints: int = 0
    complaints_found: int = 0
    auto_replies: int = 0
    auto_replies_found: int = 0
    auto_reply_languages: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    parse_seconds: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    mtas: int = 0


def load() -> list[Row]:
    with (CORPUS / "corpus.csv").open(newline="", encoding="utf-8") as table:
        return [Row(**row) for row in csv.DictReader(table)]


def measure(rows: list[Row]) -> Figures:
    figures = Figures(rows=len(rows))
    figures.mtas = len({r.mta for r in rows if r.mta != "various"})
    for row in rows:
        raw = (CORPUS / "corpus" / row.file).read_bytes()
        try:
            found = classify(raw)
            kind, why = found.kind.value, found.why
        except MalformedMessage as refused:
            found, kind, why = None, "malformed", str(refused)
        figures.seconds.append(_fastest(lambda raw=raw: _classify_or_refuse(raw)))
        figures.parse_seconds.append(_fastest(lambda raw=raw: email.message_from_bytes(raw)))
        parsed = email.message_from_bytes(raw)
        figures.confusion[(row.kind, kind)] += 1
        miss = kind != row.kind
        if row.kind in NOTICES and kind == InboundKind.REPLY:
            figures.notices_as_replies.append(row.file)
        if row.kind == "reply" and kind in NOTICES:
            figures.replies_as_notices.append(row.file)
        if row.kind == "complaint":
            figures.complaints += 1
            figures.complaints_found += kind == InboundKind.COMPLAINT
        if row.kind == "auto_reply":
            figures.auto_replies += 1
            figures.auto_replies_found += kind == InboundKind.AUTO_REPLY
            figures.auto_reply_languages[row.lang] += kind == InboundKind.AUTO_REPLY
        if row.kind == "bounce":
            figures.bounces += 1
            figures.bounces_found += kind == InboundKind.BOUNCE
            figures.flufl_found += _flufl_finds(parsed)
            if kind == InboundKind.BOUNCE and found is not None:
                figures.hard_checked += 1
                first = found.bounces[0] if found.bounces else None
                hard = bool(first and first.hard)
                figures.hard_agree += hard == (row.hard == "hard")
                figures.reason_agree += bool(first and first.reason == row.reason)
                if hard != (row.hard == "hard") or not first or first.reason != row.reason:
                    got = f"{first.reason}/{'hard' if hard else 'soft'}" if first else "none"
                    miss = True
                    why = f"{got}: {first.diagnostic if first else why}"
        if miss:
            figures.misses.append(
                f"{row.file}: expected {row.kind} {row.reason} {row.hard} → {kind}: {why}"[:300]
            )
    return figures


def _classify_or_refuse(raw: bytes) -> None:
    with contextlib.suppress(MalformedMessage):
        classify(raw)


def _fastest(work: Callable[[], object], runs: int = 3) -> float:
    """The fastest of a few runs: the time the work takes, not the machine's other load."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _flufl_finds(parsed: email.message.Message) -> bool:
    try:
        temporary, permanent = flufl.bounce.all_failures(parsed)
    except Exception:
        return False
    return bool(temporary or permanent)


def report(figures: Figures, show_misses: bool = False) -> None:
    kinds = sorted({k for pair in figures.confusion for k in pair})
    width = max(len(k) for k in kinds) + 2
    print(
        f"\nInbound classifier over {figures.rows} messages ({figures.mtas} named MTAs/providers)"
    )
    print("rows: expected kind; columns: classified as")
    print(" " * width + "".join(f"{k[:10]:>11}" for k in kinds))
    for expected in kinds:
        cells = "".join(f"{figures.confusion.get((expected, k), 0) or '.':>11}" for k in kinds)
        print(f"{expected:<{width}}{cells}")
    median = statistics.median(figures.seconds) * 1000
    worst = max(figures.seconds) * 1000
    parse_median = statistics.median(figures.parse_seconds) * 1000
    parse_worst = max(figures.parse_seconds) * 1000
    lines = [
        (
            "bounce recall",
            _share(figures.bounces_found, figures.bounces),
            f"flufl.bounce alone: {_share(figures.flufl_found, figures.bounces)}",
        ),
        ("notices taken as replies (must be 0)", str(len(figures.notices_as_replies)), ""),
        ("replies taken as notices", str(len(figures.replies_as_notices)), ""),
        (
            "hard/soft agreement (bounces found)",
            _share(figures.hard_agree, figures.hard_checked),
            "",
        ),
        (
            "reason agreement (bounces found)",
            _share(figures.reason_agree, figures.hard_checked),
            "",
        ),
        ("complaints recognised", _share(figures.complaints_found, figures.complaints), ""),
        (
            "auto-replies recognised",
            _share(figures.auto_replies_found, figures.auto_replies),
            "languages: " + ", ".join(sorted(+figures.auto_reply_languages)),
        ),
        (
            "time per message, median / worst",
            f"{median:.2f} / {worst:.1f} ms",
            f"stdlib parse alone: {parse_median:.2f} / {parse_worst:.1f} ms",
        ),
    ]
    print()
    for name, value, baseline in lines:
        print(f"{name:<40}{value:>18}   {baseline}")
    for file in figures.notices_as_replies:
        print(f"  notice taken as a reply: {file}")
    if show_misses:
        print("\nDisagreements:")
        for miss in figures.misses:
            print(f"  {miss}")


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.1%}" if whole else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list every disagreement")
    arguments = parser.parse_args()
    report(measure(load()), arguments.misses)


if __name__ == "__main__":
    main()
