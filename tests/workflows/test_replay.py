"""Every recorded history still replays: workflow code changes stay compatible."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from outbound.settings import Settings
from outbound.worker import workflow_runner
from outbound.workflows.enrollment import EnrollmentWorkflow, PatchedEnrollmentWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_the_suite_runs_workflows_with_their_modules_isolated() -> None:
    """The sandbox checks only the code it re-imports (``tests/conftest.py`` asks for it)."""
    assert Settings().workflow_module_isolation


def test_histories_were_recorded() -> None:
    assert len(HISTORIES) >= 4


@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "passed_through"])
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path, isolated: bool) -> None:
    """With the workflow modules re-imported for each run (as the tests run them) and
    imported once per worker: both must take the same decisions."""
    replayer = Replayer(
        workflows=[EnrollmentWorkflow, PatchedEnrollmentWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(isolate_modules=isolated),
    )
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))

    await replayer.replay_workflow(history)
