"""Logs as one JSON object per line (``OUTBOUND_LOG_FORMAT=json``), or the usual text.

A small stdlib ``logging.Formatter`` rather than python-json-logger: the fields are few
and fixed, and one dependency fewer is one less thing to audit. Each line carries time,
level, logger and message, and the ids known where it was logged: the workspace of the
API request being served (``store/scope.py``), and inside a Temporal activity its
workflow id, activity type, and the campaign and prospect ids that a sequence's workflow
id (``campaign-<id>-prospect-<id>``) names. Arguments are formatted into the message as
usual: Outbound never logs secrets or message bodies, and this adds no field that could.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from outbound.store.scope import current_scope

_SEQUENCE = re.compile(r"^campaign-(\d+)-prospect-(\d+)")


def known_ids() -> dict[str, Any]:
    """The workspace, campaign, prospect and workflow ids of the code running now."""
    ids: dict[str, Any] = {}
    scope = current_scope()
    if scope is not None and scope.workspace_id is not None:
        ids["workspace_id"] = scope.workspace_id
    if activity.in_activity():
        info = activity.info()
        ids["workflow_id"] = info.workflow_id
        ids["activity"] = info.activity_type
        found = _SEQUENCE.match(info.workflow_id or "")
        if found:
            ids["campaign_id"], ids["prospect_id"] = int(found[1]), int(found[2])
    return ids


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, the known ids and,
    for an exception, its type and traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **known_ids(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str, log_format: str) -> None:
    """The root logger at ``level``, as JSON lines or text (replacing earlier handlers)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
