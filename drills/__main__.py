"""Run the fault drills and print one verdict table.

    python -m drills [--prospects 2000] [--kills 5] [--examples 40] [--only NAME ...]

Each drill assembles its own embedded stack (``bench.stack.embedded_stack``), breaks it on
purpose, lets the campaign finish and ends with the same checks: nothing lost,
nothing sent twice, limits held. The exit status is 1 if any check failed.
CI runs them smaller through ``tests/drills/`` (see ``make test``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.stack import (
    cancelled_on_sigterm,
    code_label_and_versions,
    print_table,
    run_in_snapshot,
    say,
    when_and_where,
)
from drills.bad_input import bad_input
from drills.campaign import Check
from drills.server_restart import server_restart
from drills.smtp_faults import smtp_faults
from drills.worker_kills import worker_kills

DRILLS = ("worker_kills", "server_restart", "smtp_faults", "bad_input")


def drills_for(args: argparse.Namespace) -> dict[str, Callable[[], Awaitable[list[Check]]]]:
    return {
        "worker_kills": lambda: worker_kills(args.prospects, args.kills),
        "server_restart": lambda: server_restart(args.prospects),
        "smtp_faults": lambda: smtp_faults(args.prospects),
        "bad_input": lambda: bad_input(args.examples),
    }


async def run_all(args: argparse.Namespace) -> list[tuple[str, float, list[Check]]]:
    results = []
    for name, drill in drills_for(args).items():
        if args.only and name not in args.only:
            continue
        say(f"drill {name}")
        began = time.perf_counter()
        checks = await drill()
        results.append((name, time.perf_counter() - began, checks))
        failed = sum(not c.passed for c in checks)
        say(f"drill {name}: {len(checks) - failed} passed, {failed} failed")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=2_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--examples", type=int, default=40, help="requests per API operation")
    parser.add_argument("--only", nargs="*", choices=DRILLS, help="run only these drills")
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code-label", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.snapshot is None:
        run_in_snapshot("drills")  # does not return
    load_at_start = os.getloadavg()[0]
    try:
        results = asyncio.run(cancelled_on_sigterm(run_all(args)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; the dev servers and workers were stopped")
        sys.exit(130)
    finally:
        shutil.rmtree(args.snapshot, ignore_errors=True)
    rows = [
        (
            f"{name} ({seconds:,.0f} s)",
            check.name,
            ("PASS " if check.passed else "FAIL ") + check.detail,
        )
        for name, seconds, checks in results
        for check in checks
    ]
    print_table(
        f"Fault drills: {args.prospects:,} prospects × 2 steps, {args.kills} worker kills, "
        f"{args.examples} requests per API operation",
        rows,
        [
            when_and_where((load_at_start, os.getloadavg()[0])),
            code_label_and_versions(args.code_label),
        ],
        columns=("drill", "check", "verdict"),
    )
    if any(not check.passed for _, _, checks in results for check in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
