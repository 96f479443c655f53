"""Drill 4: schemathesis against the APIs' own OpenAPI schemas.

For every operation of both apps (the management API, and the public app that
mail recipients and providers reach: unsubscribe, tracking, the inbound
webhook), a fixed number of requests generated from the schema: half that
break it on purpose (schemathesis' negative mode: wrong types, missing fields,
bytes that are not JSON) and half that follow it, each half once with random
path ids and once with the ids of a seeded mailbox, campaign and prospect
(random ids mostly meet 404 before any code that could fail). Verdict: no 5xx,
and every request answered 4xx left the database exactly as it was (a
snapshot of every table before and after). Then the attacks of issue 25 that a
schema does not generate (:func:`hostile_requests`), each sent to the app it
targets and each expecting its documented answer, with the same verdict:
templates that are too long or too expensive, JSON nested 100,000 deep, bodies
over their limits (with and without a ``Content-Length``), 10,001 prospects;
mailbox settings pointing inside the server's network (names the stack's DNS
server resolves to 10/8, 192.168/16, 169.254/16 and 127/8 addresses) or at a
port that is not a mail port, sent to the management API as deployed (private
hosts not allowed) and refused before anything is connected; and a multipart
nested 5,000 deep to the inbound webhook.

The requests go through the real ASGI apps on the embedded stack (dev server,
SQLite); no worker runs, so nothing generated here is ever sent, and no TCP
connection may be made while the mailbox attacks run (any attempt is refused
and reported).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Err
from schemathesis.openapi import from_dict
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from bench.stack import EmbeddedStack, embedded_stack
from drills.campaign import Check
from outbound.api.app import create_app, create_public_app
from outbound.api.limits import MAX_JSON_DEPTH
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.inbound.mime_bounds import MAX_DEPTH
from tests.support.factories import CONSENT
from tests.support.inbound_mail import nested_multipart

SEEDED_IDS = {"mailbox_id": 1, "campaign_id": 1, "prospect_id": 1, "position": 1}


@dataclass
class Findings:
    """What the generated requests met."""

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    changed_by_rejected: list[str] = field(default_factory=list)
    hostile_misanswered: list[str] = field(default_factory=list)
    tcp_connects: list[str] = field(default_factory=list)


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
# Names the stack's DNS server answers with addresses inside the server's own network.
INSIDE = {
    "smtp.corp.example": "10.0.0.25",
    "imap.corp.example": "169.254.10.1",
    "files.corp.example": "192.168.1.10",
    "me.corp.example": "127.0.0.2",
}
HOST_REFUSED = "the host resolves to a loopback, private, link-local or reserved address"
JSON_TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"


@dataclass(frozen=True)
class Hostile:
    """An attack, the app it is sent to, and the answer it must get: ``status``, with
    ``reason`` in the answer's text where one is given.

    ``app``: ``api`` is the management API as the stack runs it (private mail hosts
    allowed, for the local sink), ``deployed`` the same API as deployed (private hosts
    and other ports refused), ``public`` the recipients' and providers' app.
    """

    label: str
    app: Literal["api", "deployed", "public"]
    request: dict[str, Any]
    status: int
    reason: str = ""


@dataclass(frozen=True)
class Targets:
    """What the attacks aim at; made after the generated requests, which may change the
    seeded rows (delete a step, replace the webhook's secret)."""

    campaign_id: int  # a draft campaign with one step, on mailbox 1
    inside_mailbox_id: int  # its SMTP host is a name that resolves inside
    inside_campaign_id: int  # on that mailbox, with a prospect: ready to start
    webhook_secret: str  # mailbox 1's inbound webhook secret


async def prepare(stack: EmbeddedStack) -> Targets:
    """The names that point inside, a mailbox and a campaign using one, a draft campaign
    and a fresh inbound secret for mailbox 1."""
    for name, address in INSIDE.items():
        stack.zone.add(name, "A", address)
    step = {"subject": "Hi", "body": "One"}
    inside = await stack.api.post(
        "/mailboxes",
        json={
            "smtp_host": "smtp.corp.example",  # a name: accepted here, checked at connection
            "smtp_port": 587,
            "tls_mode": "starttls",
            "from_address": "ada@hiring.example.com",
        },
    )
    inside.raise_for_status()
    campaign_ids = []
    for name, mailbox_id in (("Target", 1), ("Inside", inside.json()["id"])):
        campaign = await stack.api.post(
            "/campaigns",
            json={"name": name, "mailbox_id": mailbox_id, "grace_seconds": 86_400, "steps": [step]},
        )
        campaign.raise_for_status()
        campaign_ids.append(campaign.json()["id"])
    added = await stack.api.post(
        f"/campaigns/{campaign_ids[1]}/prospects",
        json=[{"first_name": "In", "addresses": [{"address": "in@seed.example.com"}]}],
        params={"allow_other_active": True},
    )
    added.raise_for_status()
    secret = await stack.api.post("/mailboxes/1/inbound-secret")
    secret.raise_for_status()
    return Targets(campaign_ids[0], inside.json()["id"], campaign_ids[1], secret.json()["secret"])


def hostile_requests(targets: Targets) -> list[Hostile]:
    """The attacks of issue 25, each of which must be refused with its documented answer."""
    return [
        *_template_and_size_attacks(targets.campaign_id),
        *_mail_host_attacks(targets),
        *_public_attacks(targets.webhook_secret),
    ]


def _template_and_size_attacks(campaign_id: int) -> list[Hostile]:
    """Templates over budget, JSON nested 100,000 deep, bodies and lists over their limits,
    to the management API."""
    step = {"subject": "Hi", "body": "One"}
    campaign = {"name": "Hostile", "mailbox_id": 1, "grace_seconds": 86_400}
    templates = {
        "over-long body": {"body": "x" * 20_001},
        "nested range loops": {"body": NESTED_LOOPS},
        "repetition": {"body": "{{ 'a' * 10**9 }}"},
        "power": {"subject": "{{ 10**(10**10) }}"},
        "sandbox escape": {"body": "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
    }
    steps_url = f"/campaigns/{campaign_id}/steps/1"
    attacks: list[Hostile] = []
    for name, change in templates.items():
        body = {**campaign, "steps": [{**step, **change}]}
        attacks += [
            Hostile(
                f"POST /campaigns ({name})",
                "api",
                {"method": "POST", "url": "/campaigns", "json": body},
                422,
            ),
            Hostile(
                f"PATCH {steps_url} ({name})",
                "api",
                {"method": "PATCH", "url": steps_url, "json": change},
                422,
            ),
        ]
    deep = '{"name": "Deep", "mailbox_id": 1, "steps": ' + "[" * 100_000 + "]" * 100_000 + "}"
    json_type = {"content-type": "application/json"}
    prospects = f"/campaigns/{campaign_id}/prospects"
    for url in ("/campaigns", prospects, "/mailboxes"):
        attacks.append(
            Hostile(
                f"POST {url} (JSON 100,000 deep)",
                "api",
                {"method": "POST", "url": url, "content": deep, "headers": json_type},
                422,
                JSON_TOO_DEEP,
            )
        )
    huge = {**campaign, "steps": [{**step, "body": "x" * (2 * MiB)}]}
    many = [{"addresses": [{"address": f"h{n}@hostile.example.com"}]} for n in range(10_001)]
    csv_file = {"file": ("p.csv", b"email\n" + b"x" * (21 * MiB))}
    return [
        *attacks,
        Hostile(
            "POST /campaigns (2 MiB)",
            "api",
            {"method": "POST", "url": "/campaigns", "json": huge},
            413,
            "at most 1 MiB",
        ),
        Hostile(
            f"POST {prospects}/csv (21 MiB)",
            "api",
            {"method": "POST", "url": f"{prospects}/csv", "files": csv_file},
            413,
            "at most 20 MiB",
        ),
        Hostile(
            f"POST {prospects} (10,001 prospects)",
            "api",
            {"method": "POST", "url": prospects, "json": many},
            422,
            "at most 10000 items",
        ),
    ]


def _mail_host_attacks(targets: Targets) -> list[Hostile]:
    """Mailbox settings that would make the server connect inside its own network, or to a
    port that is not a mail port: refused with the fixed reason before anything connects."""
    mailbox = {"smtp_port": 587, "tls_mode": "starttls", "from_address": "ada@hiring.example.com"}
    attacks = [
        Hostile(
            f"POST /mailboxes (smtp_host {host})",
            "deployed",
            {"method": "POST", "url": "/mailboxes", "json": {**mailbox, "smtp_host": host}},
            422,
            HOST_REFUSED,
        )
        for host in ("10.1.2.3", "169.254.169.254", "127.0.0.1")
    ]
    attacks.append(
        Hostile(
            "POST /mailboxes (smtp_port 22)",
            "deployed",
            {
                "method": "POST",
                "url": "/mailboxes",
                "json": {**mailbox, "smtp_host": "smtp.example.net", "smtp_port": 22},
            },
            422,
            "port 22 is not a mail port",
        )
    )
    inside = targets.inside_mailbox_id
    attacks.append(
        Hostile(
            f"POST /mailboxes/{inside}/reconnect (its host: {INSIDE['smtp.corp.example']})",
            "deployed",
            {"method": "POST", "url": f"/mailboxes/{inside}/reconnect", "json": {}},
            422,
            HOST_REFUSED,
        )
    )
    imap = {"username": "ada", "password": "pw"}
    for name in ("imap.corp.example", "files.corp.example", "me.corp.example"):
        attacks.append(
            Hostile(
                f"PUT /mailboxes/{inside}/imap ({name}: {INSIDE[name]})",
                "deployed",
                {
                    "method": "PUT",
                    "url": f"/mailboxes/{inside}/imap",
                    "json": {**imap, "host": name},
                },
                422,
                HOST_REFUSED,
            )
        )
    attacks.append(
        Hostile(
            f"PUT /mailboxes/{inside}/imap (port 6379)",
            "deployed",
            {
                "method": "PUT",
                "url": f"/mailboxes/{inside}/imap",
                "json": {**imap, "host": "imap.example.net", "port": 6379},
            },
            422,
            "port 6379 is not a mail port",
        )
    )
    start = f"/campaigns/{targets.inside_campaign_id}/start"
    attacks.append(
        Hostile(
            f"POST {start} (its mailbox's host: {INSIDE['smtp.corp.example']})",
            "deployed",
            {"method": "POST", "url": start, "json": CONSENT},
            409,
            HOST_REFUSED,
        )
    )
    return attacks


async def _streamed(total: int, chunk: int = MiB) -> AsyncIterator[bytes]:
    """A body sent in chunks, without a ``Content-Length``."""
    block = b"x" * chunk
    for _ in range(total // chunk):
        yield block


def _public_attacks(webhook_secret: str) -> list[Hostile]:
    """To the public app: the inbound webhook (with mailbox 1's secret, so the body is the
    only thing to refuse) and the unsubscribe form."""
    webhook = {
        "method": "POST",
        "url": "/inbound/1",
        "headers": {
            "authorization": f"Bearer {webhook_secret}",
            "content-type": "message/rfc822",
        },
    }
    form = {"content-type": "application/x-www-form-urlencoded"}
    unsubscribe = "/unsubscribe/not-a-token"
    return [
        Hostile(
            "POST /inbound/1 (multipart nested 5,000 deep)",
            "public",
            {**webhook, "content": nested_multipart(5_000)},
            400,
            f"past a limit: MIME nesting deeper than {MAX_DEPTH} levels",
        ),
        Hostile(
            "POST /inbound/1 (30 MiB)",
            "public",
            {**webhook, "content": b"x" * (30 * MiB)},
            413,
            "at most 25 MiB",
        ),
        Hostile(
            "POST /inbound/1 (30 MiB, no Content-Length)",
            "public",
            {**webhook, "content": _streamed(30 * MiB)},
            413,
            "at most 25 MiB",
        ),
        Hostile(
            f"POST {unsubscribe} (2 MiB)",
            "public",
            {
                "method": "POST",
                "url": unsubscribe,
                "content": b"List-Unsubscribe=" + b"x" * (2 * MiB),
                "headers": form,
            },
            413,
            "at most 1 MiB",
        ),
        Hostile(
            f"POST {unsubscribe} (JSON 100,000 deep)",
            "public",
            {
                "method": "POST",
                "url": unsubscribe,
                "content": "[" * 100_000 + "]" * 100_000,
                "headers": {"content-type": "application/json"},
            },
            422,
            JSON_TOO_DEEP,
        ),
    ]


@contextlib.asynccontextmanager
async def deployed_api(stack: EmbeddedStack) -> AsyncIterator[httpx.AsyncClient]:
    """The management API as deployed: the stack's settings, but private mail hosts and
    ports other than the mail ports refused; the same workspace and key as ``stack.api``."""
    settings = stack.settings.model_copy(
        update={"allow_private_mail_hosts": False, "allow_any_mail_port": False}
    )
    app = create_app(settings, engine=stack.engine, temporal=stack.temporal)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=stack.api.base_url,
        headers={"Authorization": stack.api.headers["Authorization"]},
        timeout=stack.api.timeout,
    ) as client:
        yield client


@contextlib.contextmanager
def tcp_connects_refused() -> Iterator[list[str]]:
    """Every TCP connection attempted in the block, each refused before it is made: the
    mailbox attacks must be refused before anything connects, and should one get that
    far, it reaches nothing (DNS, over UDP, still works)."""
    attempts: list[str] = []
    original = socket.socket.connect

    def refuse(self: socket.socket, address: Any) -> None:
        if self.type == socket.SOCK_STREAM:
            attempts.append(str(address))
            raise ConnectionRefusedError(f"the bad-input drill connects nowhere ({address})")
        original(self, address)

    socket.socket.connect = refuse  # type: ignore[method-assign,assignment]
    try:
        yield attempts
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]


def transport_kwargs(case: Case, base_url: str) -> dict[str, Any]:
    """httpx arguments of a generated case: a form of plain values as a form, any other
    body as it was generated (bytes, or the text of whatever value it is)."""
    kwargs = case.as_transport_kwargs(base_url=base_url)
    kwargs.pop("cookies", None)
    content = kwargs.pop("data", None)
    if isinstance(content, dict) and all(
        isinstance(value, str | int | float) for value in content.values()
    ):
        kwargs["data"] = content
    elif content is not None:
        kwargs["content"] = content if isinstance(content, bytes) else str(content)
    return kwargs


class Verdicts:
    """Sends requests and keeps the findings, with the database's digest after each one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.findings = Findings()
        self.before = database_digest(engine)

    def restart(self) -> None:
        """Rows written meanwhile on purpose (the attacks' targets) are the new 'before'."""
        self.before = database_digest(self.engine)

    async def send(
        self, client: httpx.AsyncClient, label: str, request: dict[str, Any]
    ) -> httpx.Response:
        response = await client.request(**request)
        self.findings.requests += 1
        self.findings.by_status[response.status_code] += 1
        if response.status_code >= 500:
            self.findings.server_errors.append(f"{label} → {response.status_code}")
        after = database_digest(self.engine)
        if 400 <= response.status_code < 500 and after != self.before:
            self.findings.changed_by_rejected.append(f"{label} → {response.status_code}")
        self.before = after
        return response


async def bad_input(per_operation: int) -> list[Check]:
    async with embedded_stack(FaultSinkHandler(), start_worker=False) as stack:
        await seed(stack)
        management_schema = (await stack.api.get("/openapi.json")).json()
        # The public app publishes no schema (nothing there to discover); its own is used.
        public_schema = create_public_app(stack.settings, engine=stack.engine).openapi()
        verdicts = Verdicts(stack.engine)
        for name, client, schema in (
            ("", stack.api, management_schema),
            ("public ", stack.public, public_schema),
        ):
            for case in generated_cases(schema, per_operation):
                request = transport_kwargs(case, str(client.base_url))
                label = f"{name}{request['method']} {case.operation.path}"
                await verdicts.send(client, label, request)
        generated = verdicts.findings.requests
        targets = await prepare(stack)
        attacks = hostile_requests(targets)
        verdicts.restart()
        findings = verdicts.findings
        async with deployed_api(stack) as deployed:
            clients = {"api": stack.api, "deployed": deployed, "public": stack.public}
            with tcp_connects_refused() as connects:
                for attack in attacks:
                    label = f"{attack.app}: {attack.label}"
                    answer = await verdicts.send(clients[attack.app], label, attack.request)
                    if answer.status_code != attack.status or attack.reason not in answer.text:
                        expected = f"{attack.status} {attack.reason!r}".removesuffix(" ''")
                        findings.hostile_misanswered.append(
                            f"{label} → {answer.status_code}, expected {expected}: "
                            f"{answer.text[:200]}"
                        )
            findings.tcp_connects = connects
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(findings.by_status.items()))
    rejected = sum(n for code, n in findings.by_status.items() if 400 <= code < 500)
    changed = findings.changed_by_rejected
    by_app = Counter(attack.app for attack in attacks)
    return [
        Check(
            "no 5xx from generated or hostile requests",
            not findings.server_errors,
            f"{generated:,} generated requests over {len(management_schema['paths'])} paths of "
            f"the management API and {len(public_schema['paths'])} of the public app, then "
            f"{len(attacks)} hostile ones ({statuses})"
            + (f"; 5xx: {findings.server_errors[:5]}" if findings.server_errors else ""),
        ),
        Check(
            "every hostile request (issue 25) got its documented refusal",
            not findings.hostile_misanswered,
            ", ".join(f"{n} to {app}" for app, n in sorted(by_app.items()))
            + (
                f"; NOT as documented: {findings.hostile_misanswered[:5]}"
                if findings.hostile_misanswered
                else ""
            ),
        ),
        Check(
            "no hostile request made the server open a TCP connection",
            not findings.tcp_connects,
            f"{len(findings.tcp_connects)} attempted"
            + (
                f" (each refused by the drill): {findings.tcp_connects[:5]}"
                if findings.tcp_connects
                else ""
            ),
        ),
        Check(
            "every rejected request left the database unchanged",
            not changed,
            f"{rejected:,} rejected" + (f"; CHANGED by: {changed[:5]}" if changed else ""),
        ),
    ]
