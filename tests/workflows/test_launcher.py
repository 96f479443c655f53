"""The start fan-out pages through a campaign's enrollments in batches, surviving failed batches."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound.domain.launch import LaunchBatch, LaunchBatchResult, LaunchInput
from outbound.workflows.launcher import BATCH_SIZE, CampaignLaunchWorkflow

TOTAL = 2_345


@dataclass
class FakeStarter:
    """Enrollment ids 1..TOTAL; a workflow "exists" once started; one batch crashes once."""

    started: set[int] = field(default_factory=set)
    calls: list[int] = field(default_factory=list)
    crash_after: int | None = 3

    @activity.defn(name="start_enrollment_batch")
    async def start_enrollment_batch(self, batch: LaunchBatch) -> LaunchBatchResult:
        self.calls.append(batch.after_enrollment_id)
        ids = list(
            range(
                batch.after_enrollment_id + 1,
                min(TOTAL, batch.after_enrollment_id + batch.size) + 1,
            )
        )
        if not ids:
            return LaunchBatchResult(last_enrollment_id=None, started=0, already_running=0)
        new = [i for i in ids if i not in self.started]
        self.started.update(ids[: len(ids) // 2])
        if len(self.calls) == self.crash_after:
            raise RuntimeError("worker lost mid-batch")  # half the batch was started
        self.started.update(ids)
        return LaunchBatchResult(
            last_enrollment_id=ids[-1],
            started=len(new),
            already_running=len(ids) - len(new),
        )


async def test_every_enrollment_is_started_once_across_batches_and_a_crash(
    time_skipping: WorkflowEnvironment,
) -> None:
    fake = FakeStarter()
    task_queue = f"launch-{uuid.uuid4()}"
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[CampaignLaunchWorkflow],
        activities=[fake.start_enrollment_batch],
    ):
        handle = await time_skipping.client.start_workflow(
            CampaignLaunchWorkflow.run,
            LaunchInput(campaign_id=9, started_at=datetime(2026, 11, 23, tzinfo=UTC)),
            id=f"campaign-9-launch-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        final = await handle.result()

    assert fake.started == set(range(1, TOTAL + 1))
    assert final.started + final.already_running == TOTAL
    assert final.already_running == BATCH_SIZE // 2  # the crashed batch's first half, on retry
    assert final.after_enrollment_id == TOTAL
    batches = -(-TOTAL // BATCH_SIZE)
    assert final.batches == batches
    # Each batch picks up where the last one ended; the crashed one is asked again.
    assert fake.calls[:4] == [0, BATCH_SIZE, 2 * BATCH_SIZE, 2 * BATCH_SIZE]
    assert len(fake.calls) == batches + 2  # one retry, one final empty page
