"""The largest CSV import one request takes (10,000 rows): wall time and peak memory.

    python -m bench.csv_import [--rows 10000]

Through the API in this process (the upload route, parsing, the prospects and
their enrollments stored in one transaction; a Draft campaign, so no
workflow starts), on SQLite and, where Debian's postgresql is installed, on a
throwaway PostgreSQL server. Baseline, measured in the same run on the same
file: parsing it alone (``parse_prospects_csv``), which any import must do.
Each figure is the best of three for time; peak memory is what Python
allocated at most during the step (``tracemalloc``, measured in a separate
repetition, since tracing slows everything down), with the file's own size
beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import secrets
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from bench.stack import each_database
from outbound.api.in_process import in_process_clients
from outbound.domain.prospect_csv import parse_prospects_csv
from outbound.settings import Settings
from outbound.store.encryption import new_key
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema

MiB = 1024 * 1024


def csv_file(rows: int, offset: int = 0) -> bytes:
    """``rows`` prospects as an ATS would export them: names, company, title, two
    addresses and two custom fields each."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["first_name", "last_name", "company", "title", "work_email", "personal_email", "role",
         "source"]
    )  # fmt: skip
    for n in range(offset, offset + rows):
        writer.writerow(
            [f"Ada{n}", f"Lovelace{n}", f"Company {n % 500}", "Engineering Manager",
             f"ada.{n}@company{n % 500}.example", f"ada{n}@mail.example", "Backend lead",
             "referral"]
        )  # fmt: skip
    return out.getvalue().encode()


@dataclass
class Step:
    seconds: float
    peak_mib: float


async def measured(action: Callable[[int], Awaitable[object]]) -> Step:
    """Best wall time of three runs, then peak traced memory of a fourth."""
    times = []
    for attempt in range(3):
        began = time.perf_counter()
        await action(attempt)
        times.append(time.perf_counter() - began)
    tracemalloc.start()
    await action(3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Step(min(times), peak / MiB)


async def measure(url: str, rows: int) -> tuple[Step, Step, int]:
    engine = make_engine(url)
    upgrade_schema(engine)
    settings = Settings(
        database_url=url,
        signing_secret=SecretStr(secrets.token_urlsafe(32)),
        encryption_keys=[SecretStr(new_key())],
    )
    files = [csv_file(rows, offset=attempt * rows) for attempt in range(4)]  # new people each time
    async with in_process_clients(settings, engine, None) as clients:
        api = clients.api
        api.timeout = httpx.Timeout(600)
        mailbox = await api.post(
            "/mailboxes",
            json={
                "smtp_host": "smtp.example.com",
                "username": "ada",
                "password": "pw",
                "from_name": "Ada",
                "from_address": "ada@example.com",
            },
        )
        step = {"subject": "Hi {{ first_name }}", "body": "About {{ role }} at {{ company }}"}

        async def parse(attempt: int) -> None:
            parse_prospects_csv(files[attempt].decode())

        async def upload(attempt: int) -> None:
            campaign = await api.post(
                "/campaigns",
                json={"name": f"c{attempt}", "mailbox_id": mailbox.json()["id"], "steps": [step]},
            )
            answer = await api.post(
                f"/campaigns/{campaign.json()['id']}/prospects/csv",
                files={"file": ("prospects.csv", files[attempt], "text/csv")},
            )
            assert answer.status_code == 201, answer.text[:300]
            assert answer.json()["enrolled"] == rows

        parsing = await measured(parse)
        importing = await measured(upload)
    engine.dispose()
    return parsing, importing, len(files[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    print(f"CSV import of {args.rows:,} rows in one request")
    for name, url in each_database():
        parsing, importing, size = asyncio.run(measure(url, args.rows))
        print(
            f"{name:>10}: import {importing.seconds:5.2f} s, peak {importing.peak_mib:5.1f} MiB   "
            f"baseline (parsing alone) {parsing.seconds:5.2f} s, peak {parsing.peak_mib:5.1f} MiB"
            f"   file {size / MiB:.1f} MiB   time ratio {importing.seconds / parsing.seconds:.1f}"
        )


if __name__ == "__main__":
    main()
