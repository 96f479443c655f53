"""The worker's sandbox runner: the SDK's checks unchanged, each snippet compiled once."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound.sandbox_runner import SnippetCachingSandboxedWorkflowRunner, compiled_snippet


@workflow.defn(sandboxed=True)
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(60)
        return f"Hello, {name}"


@workflow.defn(sandboxed=True)
class WallClockWorkflow:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # what the sandbox exists to refuse


async def run_workflow(env: WorkflowEnvironment, workflow_class: type, *args: object) -> object:
    task_queue = f"sandbox-runner-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[workflow_class],
        workflow_runner=SnippetCachingSandboxedWorkflowRunner(),
        workflow_failure_exception_types=[Exception],
        max_cached_workflows=0,  # every task builds a fresh sandboxed instance
    ):
        return await env.client.execute_workflow(
            workflow_class.run, *args, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
        )


async def test_workflows_run_and_reuse_the_compiled_snippets(
    time_skipping: WorkflowEnvironment,
) -> None:
    assert await run_workflow(time_skipping, GreetingWorkflow, "Ada") == "Hello, Ada"
    warm = compiled_snippet.cache_info()

    assert await run_workflow(time_skipping, GreetingWorkflow, "Grace") == "Hello, Grace"

    after = compiled_snippet.cache_info()
    assert after.misses == warm.misses, "the second run compiled a snippet again"
    assert after.hits > warm.hits, "the SDK no longer runs its snippets through _run_code"


async def test_the_sandbox_still_refuses_a_nondeterministic_call(
    time_skipping: WorkflowEnvironment,
) -> None:
    with pytest.raises(WorkflowFailureError) as failure:
        await run_workflow(time_skipping, WallClockWorkflow)

    assert "datetime.datetime.now" in str(failure.value.cause)
