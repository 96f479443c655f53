"""With no worker running a control is still delivered, and the API says why it shows no result."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from temporalio.testing import WorkflowEnvironment

from outbound.api.in_process import in_process_clients
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.worker import build_worker
from tests.support.factories import CONSENT, reachable
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e


async def test_pause_without_a_worker_is_a_503_naming_the_cause_and_the_signal_stands(
    dev_server: WorkflowEnvironment, tmp_path: Path, sink: tuple[FaultSinkHandler, Controller]
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/o.db", task_queue=f"idle-{uuid.uuid4()}"
    )
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    async with in_process_clients(settings, engine, dev_server.client) as clients:
        api = clients.api
        mailbox = await api.post(
            "/mailboxes", json={"from_address": "a@example.com", **reachable(sink[1].port)}
        )
        campaign = await api.post(
            "/campaigns",
            json={
                "name": "c",
                "mailbox_id": mailbox.json()["id"],
                "steps": [{"subject": "s", "body": "b"}],
            },
        )
        campaign_id = campaign.json()["id"]
        await api.post(
            f"/campaigns/{campaign_id}/prospects",
            json=[{"addresses": [{"address": "p@example.com"}]}],
        )
        # A worker runs the start fan-out, then goes away before anyone sends anything.
        async with build_worker(dev_server.client, engine, settings):
            assert (
                await api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
            ).status_code == 202

            async def fanned_out() -> bool:
                view = (await api.get(f"/campaigns/{campaign_id}")).json()
                return bool(view["workflows_started"] == 1)

            await eventually(fanned_out)

        answer = await api.post(f"/campaigns/{campaign_id}/prospects/1/pause")

    assert answer.status_code == 503
    assert "is a worker running?" in answer.json()["detail"][0]["reason"]
    handle = dev_server.client.get_workflow_handle(f"campaign-{campaign_id}-prospect-1")

    async def signal_in_history() -> bool:
        # If the departed worker held a workflow task, the server keeps the signal aside
        # until that task times out (10 s); then it is in the history for the next worker.
        history = await handle.fetch_history()
        return any(
            e.HasField("workflow_execution_signaled_event_attributes") for e in history.events
        )

    await eventually(signal_in_history, seconds=30)
    engine.dispose()
