"""The real API, store, worker and SMTP sends with Temporal's time-skipping test server.

Tests that follow a sequence over days use it: everything is real but the clock,
so a user's view days later is one ``env.sleep`` away. Sends compare slots with
the server's (skipped) time (:func:`virtual_clock`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound.api.in_process import in_process_clients
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.worker import build_worker
from tests.support.factories import CONSENT
from tests.support.temporal import binary, register_search_attributes


@dataclass
class SkippingStack:
    api: httpx.AsyncClient
    public: httpx.AsyncClient
    env: WorkflowEnvironment
    sink: FaultSinkHandler
    settings: Settings
    engine: Any
    worker: Worker

    def received(self, address: str) -> list[str]:
        """Subjects the sink received for ``address``, in order."""
        return [str(r.message["Subject"]) for r in self.sink.received if r.envelope_to == [address]]

    def message_id_to(self, address: str) -> str:
        (first, *_) = [r.message for r in self.sink.received if r.envelope_to == [address]]
        return str(first["Message-ID"])

    async def new_mailbox(self, port: int, **fields: Any) -> int:
        """A mailbox on the sink at ``port``, open around the clock every day, no gap,
        1,000 a day (``fields`` change any of it)."""
        body = {
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "tls_mode": "none",
            "from_name": "Ada Recruiter",
            "from_address": "ada@hiring.example.com",
            "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "send_start": "00:00",
            "send_end": "24:00",
            "min_gap_seconds": 0,
            "daily_limit": 1000,
            **fields,
        }
        answer = await self.api.post("/mailboxes", json=body)
        assert answer.status_code == 201, answer.text
        return int(answer.json()["id"])

    async def inbound_secret(self, mailbox_id: int) -> str:
        """The mailbox's inbound webhook secret, made now."""
        answer = await self.api.post(f"/mailboxes/{mailbox_id}/inbound-secret")
        assert answer.status_code == 201, answer.text
        return str(answer.json()["secret"])

    async def started_campaign(
        self, steps: list[dict[str, Any]], people: list[dict[str, Any]], **fields: Any
    ) -> int:
        """A campaign of ``steps`` (grace 1 s) to ``people``, started."""
        body = {"name": "Over days", "grace_seconds": 1, "steps": steps, **fields}
        answer = await self.api.post("/campaigns", json=body)
        assert answer.status_code == 201, answer.text
        campaign_id = int(answer.json()["id"])
        added = await self.api.post(f"/campaigns/{campaign_id}/prospects", json=people)
        assert added.is_success, added.text
        started = await self.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
        assert started.is_success, started.text
        return campaign_id

    async def prospect(self, campaign_id: int, name: str) -> dict[str, Any]:
        """The prospect named ``name`` in the campaign, as their own page shows them."""
        view = (await self.api.get(f"/campaigns/{campaign_id}")).json()
        (row,) = [p for p in view["prospects"] if p["name"] == name]
        answer = await self.api.get(f"/campaigns/{campaign_id}/prospects/{row['prospect_id']}")
        return dict(answer.json())

    async def post_inbound(self, mailbox_id: int, secret: str, raw: bytes) -> dict[str, Any]:
        """One raw message to the mailbox's inbound webhook; the answer (202)."""
        answer = await self.public.post(
            f"/inbound/{mailbox_id}", content=raw, headers={"Authorization": f"Bearer {secret}"}
        )
        assert answer.status_code == 202, answer.text
        return dict(answer.json())


_ATTEMPT_BEGAN: dict[bytes, float] = {}  # an attempt's task token: its first look at the clock


def virtual_clock() -> datetime:
    """The server's (skipped) time in this send attempt: when the attempt was scheduled (the
    moment a slot's timer fired, where the wall clock would be days behind), plus the real
    time the attempt has taken since. The server skips no time while an activity runs, so an
    attempt that waits out a mailbox's gap sees its clock move, as it would in production;
    a clock standing still would wait for the gap forever."""
    info = activity.info()
    began = _ATTEMPT_BEGAN.setdefault(info.task_token, time.monotonic())
    return info.current_attempt_scheduled_time + timedelta(seconds=time.monotonic() - began)


@asynccontextmanager
async def skipping_stack(
    sink: FaultSinkHandler, tmp_path: Path, **extra_settings: Any
) -> AsyncIterator[SkippingStack]:
    """A time-skipping server of its own: workflow ids derive from this test's database ids."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/outbound.db",
        task_queue=f"skipping-{uuid.uuid4()}",
        public_base_url="http://outbound.test",
        check_address_dns=False,
        **extra_settings,
    )
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    worker = build_worker(
        env.client,
        engine,
        settings,
        send_clock=virtual_clock,
        workflow_failure_exception_types=[Exception],
    )
    try:
        async with (
            worker,
            in_process_clients(settings, engine, env.client) as clients,
        ):
            yield SkippingStack(clients.api, clients.public, env, sink, settings, engine, worker)
    finally:
        engine.dispose()
        await env.shutdown()
