"""Two campaigns of 300 prospects share one mailbox (50/day, 5-minute gap, Mon–Fri 9–17);
CI runs them at 150 each (``OUTBOUND_SHARED_MAILBOX_PROSPECTS``): 12 working days of sends.

A month of sending under time skipping, through the real API, workflows,
slot reservations and store; only the SMTP send is a stand-in that records
when (in server time) each message went out.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound.activities.addresses import AddressActivities
from outbound.activities.launch import LaunchActivities
from outbound.activities.records import RecordActivities
from outbound.activities.slots import SlotActivities
from outbound.api.in_process import in_process_clients
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.domain.sequence import EnrollmentState, SendStepRequest, SendStepResult
from outbound.mail.address_check import AddressChecker
from outbound.scheduling.windows import SendWindow, local_date
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.workflows.enrollment import LATE_BOUNCE_WINDOW, EnrollmentWorkflow
from outbound.workflows.launcher import CampaignLaunchWorkflow
from tests.support.factories import CONSENT, office_hours_mailbox, reachable
from tests.support.temporal import binary, register_search_attributes

ZONE = "America/New_York"
WINDOW = SendWindow(
    ZONE,
    frozenset(range(5)),
    datetime.min.time().replace(hour=9),
    datetime.min.time().replace(hour=17),
)
PER_CAMPAIGN = int(os.environ.get("OUTBOUND_SHARED_MAILBOX_PROSPECTS", "300"))


@dataclass
class RecordingSender:
    sent: list[tuple[SendStepRequest, datetime]] = field(default_factory=list)

    @activity.defn(name="send_step")
    async def send_step(self, request: SendStepRequest) -> SendStepResult:
        when = activity.info().current_attempt_scheduled_time
        self.sent.append((request, when))
        return SendStepResult(
            message_id=f"<{request.enrollment_id}.{request.position}@x>", subject="s", sent_at=when
        )


@pytest.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A server of its own: 600 month-long workflows are the heaviest load of the suite, and
    once (of many runs) the shared server broke its HTTP/2 stream under it."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def api_and_worker(
    time_skipping: WorkflowEnvironment, tmp_path: Path, sink: tuple[FaultSinkHandler, Controller]
) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingSender, Client]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/shared.db", task_queue=f"shared-{uuid.uuid4()}"
    )
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    sender, slots, records = RecordingSender(), SlotActivities(engine), RecordActivities(engine)
    addresses = AddressActivities(engine, AddressChecker(check_dns=False))
    launcher = LaunchActivities(engine, time_skipping.client, settings)
    async with (
        Worker(
            time_skipping.client,
            task_queue=settings.task_queue,
            workflows=[EnrollmentWorkflow, CampaignLaunchWorkflow],
            activities=[
                sender.send_step,
                slots.reserve_slot,
                slots.release_slot,
                records.record_state,
                addresses.check_address,
                launcher.start_enrollment_batch,
            ],
            workflow_failure_exception_types=[Exception],
            max_concurrent_activities=50,
        ),
        in_process_clients(settings, engine, time_skipping.client) as clients,
    ):
        yield clients.api, sender, time_skipping.client
    engine.dispose()


async def create_campaign(api: httpx.AsyncClient, mailbox_id: int, name: str, domain: str) -> int:
    created = await api.post(
        "/campaigns",
        json={
            "name": name,
            "mailbox_id": mailbox_id,
            "grace_seconds": 1200,
            "steps": [
                {"subject": "Hi {{ first_name }}", "body": "One"},
                {"subject": "Again", "body": "Two", "delay_days": 2, "thread_mode": "same_thread"},
            ],
        },
    )
    campaign_id = int(created.json()["id"])
    people = [
        {"first_name": f"P{i}", "addresses": [{"address": f"p{i}@{domain}.example.com"}]}
        for i in range(PER_CAMPAIGN)
    ]
    assert (await api.post(f"/campaigns/{campaign_id}/prospects", json=people)).status_code == 201
    return campaign_id


async def test_two_campaigns_share_a_mailbox_within_its_limits_first_started_first_sent(
    api_and_worker: tuple[httpx.AsyncClient, RecordingSender, Client],
    time_skipping: WorkflowEnvironment,
    sink: tuple[FaultSinkHandler, Controller],
) -> None:
    api, sender, client = api_and_worker
    mailbox = await api.post(
        "/mailboxes", json=office_hours_mailbox(ZONE, **reachable(sink[1].port))
    )
    mailbox_id = int(mailbox.json()["id"])
    first = await create_campaign(api, mailbox_id, "First", "first")
    second = await create_campaign(api, mailbox_id, "Second", "second")

    assert (await api.post(f"/campaigns/{first}/start", json=CONSENT)).status_code == 202
    await time_skipping.sleep(timedelta(minutes=5))  # the first campaign is started first
    assert (await api.post(f"/campaigns/{second}/start", json=CONSENT)).status_code == 202

    # Handles from get_workflow_handle do not skip time while awaited (only those that
    # start_workflow returns do), so advance virtual time explicitly, a few days at a time.
    handles = [
        client.get_workflow_handle(workflow_id, result_type=EnrollmentState)
        for workflow_id in [f"campaign-{first}-prospect-{p}" for p in range(1, PER_CAMPAIGN + 1)]
        + [f"campaign-{second}-prospect-{p}" for p in range(PER_CAMPAIGN + 1, 2 * PER_CAMPAIGN + 1)]
    ]
    for _ in range(200):  # a bounded number of half-days (the whole run needs about 60)
        if len(sender.sent) == 4 * PER_CAMPAIGN:
            break
        await time_skipping.sleep(timedelta(hours=12))
    # Completed sequences stay open a few days for late bounces; let that pass too.
    await time_skipping.sleep(LATE_BOUNCE_WINDOW + timedelta(hours=1))
    finals = [await handle.result() for handle in handles]

    assert {f.status.value for f in finals} == {"Completed"}
    times = sorted(when for _, when in sender.sent)
    assert len(times) == 2 * 2 * PER_CAMPAIGN
    assert Counter((r.enrollment_id, r.position) for r, _ in sender.sent).most_common(1)[0][1] == 1
    per_day = Counter(local_date(t, ZONE) for t in times)
    assert max(per_day.values()) <= 50
    assert min(b - a for a, b in pairwise(times)) >= timedelta(minutes=5)
    assert all(WINDOW.contains(t) for t in times)
    step_one = {
        campaign: [
            t
            for r, t in sender.sent
            if r.position == 1 and (r.enrollment_id <= PER_CAMPAIGN) == (campaign == first)
        ]
        for campaign in (first, second)
    }
    assert max(step_one[first]) < min(step_one[second])
    campaign_views = [(await api.get(f"/campaigns/{c}")).json() for c in (first, second)]
    assert [v["campaign"]["status"] for v in campaign_views] == ["Completed", "Completed"]
    assert [v["counts"] for v in campaign_views] == [{"Completed": PER_CAMPAIGN}] * 2
