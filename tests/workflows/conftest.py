"""A time-skipping Temporal server shared by the workflow tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.workflows.enrollment import EnrollmentWorkflow, PatchedEnrollmentWorkflow
from tests.support.skipping_stack import SkippingStack, skipping_stack
from tests.support.temporal import binary, register_search_attributes
from tests.workflows.harness import FakeActivities, Harness


@pytest.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
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
async def stack(
    sink: tuple[FaultSinkHandler, Controller], tmp_path: Path
) -> AsyncIterator[SkippingStack]:
    """The real API, store, worker and sink on a time-skipping server of its own (the tests
    that follow sequences over days)."""
    async with skipping_stack(sink[0], tmp_path) as running:
        yield running


@pytest.fixture
async def harness(time_skipping: WorkflowEnvironment) -> AsyncIterator[Harness]:
    fakes = FakeActivities()
    task_queue = f"test-{uuid.uuid4()}"
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[EnrollmentWorkflow, PatchedEnrollmentWorkflow],
        activities=fakes.all,
        workflow_failure_exception_types=[Exception],
    ):
        harness = Harness(time_skipping, fakes, task_queue)
        try:
            yield harness
        finally:
            await harness.close()
