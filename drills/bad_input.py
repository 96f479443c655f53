"""Drill 4: schemathesis against the API's own OpenAPI schema.

For every operation, a fixed number of requests generated from the schema:
half that break it on purpose (schemathesis' negative mode: wrong types,
missing fields, bytes that are not JSON) and half that follow it, each half
once with random path ids and once with the ids of a seeded mailbox, campaign
and prospect (random ids mostly meet 404 before any code that could fail).
Verdict: no 5xx, and every request answered 4xx left the database exactly as
it was (a snapshot of every table before and after). Then the attacks of
issue 25 that a schema does not generate (:func:`hostile_requests`): templates
that are too long or too expensive, JSON nested 100,000 deep, bodies over
their limits; each must be refused (4xx), with the same verdict.

The requests go through the real ASGI app on the embedded stack (dev server,
SQLite); no worker runs, so nothing generated here is ever sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Err
from schemathesis.openapi import from_dict
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from bench.stack import EmbeddedStack, embedded_stack
from drills.campaign import Check
from outbound.devstack.fault_sink import FaultSinkHandler
from tests.support.factories import CONSENT

SEEDED_IDS = {"mailbox_id": 1, "campaign_id": 1, "prospect_id": 1, "position": 1}


@dataclass
class Findings:
    """What the generated requests met."""

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    changed_by_rejected: list[str] = field(default_factory=list)
    hostile_accepted: list[str] = field(default_factory=list)


# What every call writes by design, refused or not: the audit log's entry of the call, and
# when the caller's key was last used.
_BOOKKEEPING = {"auditentry", "apikey"}


def database_digest(engine: Engine) -> str:
    """A digest of every row of every table (the drill's database is small), but for the
    bookkeeping every call leaves."""
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in _BOOKKEEPING:
                continue
            digest.update(table.name.encode())
            for row in connection.execute(select(table).order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def generated_cases(schema_document: dict[str, Any], per_operation: int) -> list[Case]:
    """``per_operation`` cases of each operation, half negative, half with seeded ids."""
    schema = from_dict(schema_document)
    cases: list[Case] = []
    quarter = max(1, per_operation // 4)
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise RuntimeError(f"our own OpenAPI schema is invalid: {result.err()}")
        operation = result.ok()
        path_names = set(re.findall(r"{(\w+)}", operation.path))
        seeded = {name: SEEDED_IDS[name] for name in path_names if name in SEEDED_IDS}
        for mode in (GenerationMode.NEGATIVE, GenerationMode.POSITIVE):
            for overrides in ({}, seeded):
                if overrides == {} and seeded == {} and mode is GenerationMode.POSITIVE:
                    continue  # nothing to seed: the first positive pass covered it
                strategy = operation.as_strategy(mode, path_parameters=overrides or None)

                @given(case=strategy)
                @settings(
                    max_examples=quarter,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    derandomize=True,
                )
                def collect(case: Case) -> None:
                    cases.append(case)

                with contextlib.suppress(Unsatisfiable):  # e.g. no input that could be wrong
                    collect()
    return cases


async def seed(stack: EmbeddedStack) -> None:
    """A mailbox, a campaign with three prospects, a started campaign and a suppression."""
    mailbox = await stack.api.post(
        "/mailboxes",
        json={
            "smtp_host": "127.0.0.1",
            "smtp_port": stack.sink_port,
            "tls_mode": "none",
            "from_address": "ada@hiring.example.com",
        },
    )
    mailbox.raise_for_status()
    for name in ("Seeded", "Seeded and started"):
        campaign = await stack.api.post(
            "/campaigns",
            json={
                "name": name,
                "mailbox_id": mailbox.json()["id"],
                "grace_seconds": 86_400,
                "steps": [{"subject": "Hi {{ first_name }}", "body": "One"}],
            },
        )
        campaign.raise_for_status()
        campaign_id = campaign.json()["id"]
        added = await stack.api.post(
            f"/campaigns/{campaign_id}/prospects",
            json=[
                {"first_name": f"S{i}", "addresses": [{"address": f"s{i}@seed.example.com"}]}
                for i in range(3)
            ],
            params={"allow_other_active": True},
        )
        added.raise_for_status()
    started = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    started.raise_for_status()
    suppressed = await stack.api.post(
        "/suppressions", json={"address": "gone@seed.example.com", "reason": "asked by phone"}
    )
    suppressed.raise_for_status()


NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
MiB = 1024 * 1024


def hostile_requests() -> list[tuple[str, dict[str, Any]]]:
    """(label, httpx request arguments) of attacks every one of which must be refused."""
    step = {"subject": "Hi", "body": "One"}
    campaign = {"name": "Hostile", "mailbox_id": 1, "grace_seconds": 86_400}
    templates = {
        "over-long body": {"body": "x" * 20_001},
        "nested range loops": {"body": NESTED_LOOPS},
        "repetition": {"body": "{{ 'a' * 10**9 }}"},
        "power": {"subject": "{{ 10**(10**10) }}"},
        "sandbox escape": {"body": "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
    }
    requests: list[tuple[str, dict[str, Any]]] = []
    for name, change in templates.items():
        body = {**campaign, "steps": [{**step, **change}]}
        requests.append(
            (f"POST /campaigns ({name})", {"method": "POST", "url": "/campaigns", "json": body})
        )
        requests.append(
            (
                f"PATCH /campaigns/1/steps/1 ({name})",
                {"method": "PATCH", "url": "/campaigns/1/steps/1", "json": change},
            )
        )
    deep = '{"name": "Deep", "mailbox_id": 1, "steps": ' + "[" * 100_000 + "]" * 100_000 + "}"
    json_type = {"content-type": "application/json"}
    for url in ("/campaigns", "/campaigns/1/prospects", "/mailboxes"):
        requests.append(
            (
                f"POST {url} (JSON 100,000 deep)",
                {"method": "POST", "url": url, "content": deep, "headers": json_type},
            )
        )
    huge = {**campaign, "steps": [{**step, "body": "x" * (2 * MiB)}]}
    many = [{"addresses": [{"address": f"h{n}@hostile.example.com"}]} for n in range(10_001)]
    raw = {"content-type": "message/rfc822"}
    csv_file = {"file": ("p.csv", b"email\n" + b"x" * (21 * MiB))}
    requests += [
        ("POST /campaigns (2 MiB)", {"method": "POST", "url": "/campaigns", "json": huge}),
        (
            "POST /inbound/1 (30 MiB)",
            {"method": "POST", "url": "/inbound/1", "content": b"x" * (30 * MiB), "headers": raw},
        ),
        (
            "POST /campaigns/1/prospects/csv (21 MiB)",
            {"method": "POST", "url": "/campaigns/1/prospects/csv", "files": csv_file},
        ),
        (
            "POST /campaigns/1/prospects (10,001 prospects)",
            {"method": "POST", "url": "/campaigns/1/prospects", "json": many},
        ),
    ]
    return requests


async def bad_input(per_operation: int) -> list[Check]:
    findings = Findings()
    async with embedded_stack(FaultSinkHandler(), start_worker=False) as stack:
        await seed(stack)
        app_schema = (await stack.api.get("/openapi.json")).json()
        cases = generated_cases(app_schema, per_operation)
        before = database_digest(stack.engine)
        for case in cases:
            kwargs = case.as_transport_kwargs(base_url=str(stack.api.base_url))
            kwargs.pop("cookies", None)
            content = kwargs.pop("data", None)
            if content is not None:
                kwargs["content"] = content if isinstance(content, bytes) else str(content)
            label = f"{kwargs['method']} {case.operation.path}"
            response = await stack.api.request(**kwargs)
            findings.requests += 1
            findings.by_status[response.status_code] += 1
            if response.status_code >= 500:
                findings.server_errors.append(f"{label} → {response.status_code}")
            after = database_digest(stack.engine)
            if 400 <= response.status_code < 500 and after != before:
                findings.changed_by_rejected.append(f"{label} → {response.status_code}")
            before = after
        for label, request in hostile_requests():
            response = await stack.api.request(**request)
            findings.requests += 1
            findings.by_status[response.status_code] += 1
            if not 400 <= response.status_code < 500:
                findings.hostile_accepted.append(f"{label} → {response.status_code}")
            after = database_digest(stack.engine)
            if after != before:
                findings.changed_by_rejected.append(f"{label} → {response.status_code}")
            before = after
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(findings.by_status.items()))
    rejected = sum(n for code, n in findings.by_status.items() if 400 <= code < 500)
    changed = findings.changed_by_rejected
    return [
        Check(
            "no 5xx from generated requests",
            not findings.server_errors,
            f"{findings.requests:,} requests over {len(app_schema['paths'])} paths ({statuses})"
            + (f"; 5xx: {findings.server_errors[:5]}" if findings.server_errors else ""),
        ),
        Check(
            "every hostile request (issue 25) was refused",
            not findings.hostile_accepted,
            f"{len(hostile_requests())} hostile requests"
            + (
                f"; NOT refused: {findings.hostile_accepted[:5]}"
                if findings.hostile_accepted
                else ""
            ),
        ),
        Check(
            "every rejected request left the database unchanged",
            not changed,
            f"{rejected:,} rejected" + (f"; CHANGED by: {changed[:5]}" if changed else ""),
        ),
    ]
