"""What crosses the Temporal boundary is plain pydantic, never a SQLModel table."""

from __future__ import annotations

import inspect
import typing
from typing import cast

import pytest
from pydantic import BaseModel
from sqlmodel import SQLModel
from temporalio.client import Client

from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.worker import WORKFLOWS, activities_for
from outbound.workflows.enrollment import EnrollmentWorkflow
from outbound.workflows.launcher import CampaignLaunchWorkflow


def payload_types() -> list[tuple[str, object]]:
    engine = make_engine("sqlite://")
    found: list[tuple[str, object]] = []
    no_client = cast(Client, None)  # only the signatures are looked at
    functions = [*activities_for(engine, Settings(), no_client)]
    functions += [workflow.run for workflow in (EnrollmentWorkflow, CampaignLaunchWorkflow)]
    functions += [
        member
        for workflow in WORKFLOWS
        for _, member in inspect.getmembers(workflow, inspect.isfunction)
        if hasattr(member, "__temporal_signal_definition")
    ]
    for function in functions:
        hints = typing.get_type_hints(function)
        found += [(f"{function.__qualname__}:{name}", hint) for name, hint in hints.items()]
    return found


@pytest.mark.parametrize(("where", "hint"), payload_types(), ids=lambda v: str(v))
def test_payload_is_plain_pydantic(where: str, hint: object) -> None:
    for argument in (hint, *typing.get_args(hint)):
        if inspect.isclass(argument) and issubclass(argument, BaseModel):
            is_table = (
                issubclass(argument, SQLModel) and getattr(argument, "__table__", None) is not None
            )
            assert not is_table, f"{where} uses the table model {argument.__name__}"
