"""Every benchmark at two sizes, then one summary table with the cost growth.

    python -m bench [--scale 1.0]

Sizes are chosen so the whole run fits in about ten minutes on a 2-core
machine; ``--scale`` multiplies them (``--scale 10`` gives the sizes the
issue names, and takes hours). Each benchmark prints its own table as it goes
(with its baseline, measured in the same run); the summary then shows, per
benchmark, the headline figure at both sizes and the growth of the cost per
prospect from the smaller to the larger (1.00 is linear; 1.20 means each
prospect cost 20% more at twice the size).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import campaign_start_stop, month_of_campaign, schedule_preview, send_throughput
from bench.stack import (
    code_label_and_versions,
    print_table,
    run_in_snapshot,
    say,
    when_and_where,
)

SIZES = {
    "start_stop": 400,
    "send_throughput": 250,
    "month_of_campaign": 250,
    "schedule_preview": 10_000,  # and 20,000, the size issue 23 names
}


@dataclass
class Headline:
    """One benchmark's figure at one size, and its cost per prospect in seconds."""

    bench: str
    size: int
    figure: str
    seconds_per_prospect: float
    extra: list[tuple[str, str]]


def start_stop(n: int, label: str) -> Headline:
    figures = asyncio.run(campaign_start_stop.run(n, n))
    campaign_start_stop.report(figures, label)
    ratio = figures.started_per_second / figures.raw_per_second
    return Headline(
        "campaign start",
        n,
        f"{figures.started_per_second:,.0f} started/s = {ratio:.2f} × raw start_workflow",
        figures.all_started / n,
        [("worker peak memory (RSS)", f"{figures.worker_rss:,.0f} MiB with {n:,} open")],
    )


def throughput(n: int, label: str) -> Headline:
    figures = asyncio.run(send_throughput.run(n))
    send_throughput.report(figures, label)
    ours = figures.rate(figures.product_sent)
    return Headline(
        "send throughput",
        n,
        f"{ours:,.1f} sends/s = {ours / figures.rate(figures.floor):.2f} × floor (b), "
        f"{ours / figures.rate(figures.raw):.2f} × raw SMTP (a)",
        figures.product_sent / n,
        [],
    )


def month(n: int, label: str) -> Headline:
    figures = asyncio.run(month_of_campaign.run(n))
    month_of_campaign.report(figures, label)
    return Headline(
        "month in time skipping",
        n,
        f"{figures.wall:,.1f} s wall, {figures.mean_events:,.0f} events per workflow",
        figures.wall / n,
        [],
    )


def preview(n: int, label: str) -> Headline:
    load_at_start = os.getloadavg()[0]
    figures = schedule_preview.run(n)
    schedule_preview.report(figures, label, (load_at_start, os.getloadavg()[0]))
    return Headline(
        "schedule preview",
        n,
        f"{figures.seconds:.2f} s; before issue 23: {figures.baseline_seconds:,.1f} s"
        + ("" if figures.same_answer else " (ANSWERS DIFFER)"),
        figures.seconds / n,
        [],
    )


RUNS: dict[str, Callable[[int, str], Headline]] = {
    "start_stop": start_stop,
    "send_throughput": throughput,
    "month_of_campaign": month,
    "schedule_preview": preview,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", nargs="*", choices=list(RUNS), help="run only these")
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code-label", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.snapshot is None:
        run_in_snapshot("bench")  # does not return
    load_at_start = os.getloadavg()[0]
    headlines: list[tuple[Headline, Headline]] = []
    try:
        for name, run in RUNS.items():
            if args.only and name not in args.only:
                continue
            small = max(10, round(SIZES[name] * args.scale))
            pair = []
            for size in (small, small * 2):
                say(f"{name} at {size:,} prospects")
                pair.append(run(size, args.code_label))
            headlines.append((pair[0], pair[1]))
    finally:
        shutil.rmtree(args.snapshot, ignore_errors=True)
    rows: list[tuple[str, str, str]] = []
    for small, large in headlines:
        for headline in (small, large):
            rows.append((headline.bench, f"{headline.size:,} prospects", headline.figure))
            rows.extend((headline.bench, what, value) for what, value in headline.extra)
        growth = large.seconds_per_prospect / small.seconds_per_prospect
        rows.append(
            (small.bench, "cost per prospect, larger / smaller (1.00 = linear)", f"{growth:.2f}")
        )
    print_table(
        "Benchmarks, summary",
        rows,
        [
            when_and_where((load_at_start, os.getloadavg()[0])),
            code_label_and_versions(args.code_label),
        ],
        columns=("benchmark", "size", "figure"),
    )


if __name__ == "__main__":
    main()
