"""OUTBOUND_LOG_FORMAT=json: one JSON object per line, with the ids known where it is logged."""

from __future__ import annotations

import json
import logging

from temporalio import activity
from temporalio.testing import ActivityEnvironment

from outbound.observability.logs import JsonFormatter


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("outbound.test", logging.INFO, __file__, 1, message, args, None)


def test_a_line_outside_any_activity_has_no_ids() -> None:
    line = json.loads(JsonFormatter().format(record("worker polling %r", "outbound")))

    assert line["message"] == "worker polling 'outbound'"
    assert line["level"] == "INFO" and line["logger"] == "outbound.test"
    assert "workflow_id" not in line


async def test_a_line_inside_an_activity_names_its_workflow_campaign_and_prospect() -> None:
    @activity.defn(name="send_step")
    async def send_step() -> str:
        return JsonFormatter().format(record("sent"))

    environment = ActivityEnvironment()
    environment.info = environment.info.__class__(
        **{**environment.info.__dict__, "workflow_id": "campaign-7-prospect-42"}
    )
    line = json.loads(await environment.run(send_step))

    assert line["workflow_id"] == "campaign-7-prospect-42"
    assert (line["campaign_id"], line["prospect_id"]) == (7, 42)
