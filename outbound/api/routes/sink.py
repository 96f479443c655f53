"""The local SMTP sink's messages (only when OUTBOUND_SINK_DIR is set, i.e. ``make run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from outbound.api.deps import SettingsDep
from outbound.devstack.sink import read_sink_folder
from outbound.domain.problems import Problem, ProblemError, not_found

router = APIRouter(prefix="/sink", tags=["local SMTP sink"])


class SinkMessage(BaseModel):
    """A message the sink received."""

    name: str
    envelope_to: str
    from_: str
    to: str
    subject: str
    date: str
    message_id: str
    in_reply_to: str | None


@router.get("/messages")
def list_messages(
    settings: SettingsDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[SinkMessage]:
    """Newest messages first."""
    folder = _folder(settings.sink_dir)
    stored = read_sink_folder(folder)[-limit:]
    return [
        SinkMessage(
            name=path.name,
            envelope_to=str(m.get("X-Sink-Envelope-To", "")),
            from_=str(m["From"]),
            to=str(m["To"]),
            subject=str(m["Subject"]),
            date=str(m["Date"]),
            message_id=str(m["Message-ID"]),
            in_reply_to=m.get("In-Reply-To"),
        )
        for path, m in reversed(stored)
    ]


@router.get("/messages/{name}", response_class=PlainTextResponse)
def raw_message(name: str, settings: SettingsDep) -> str:
    """One message as received (RFC 822 text)."""
    folder = _folder(settings.sink_dir)
    path = folder / name
    if path.parent != folder or path.suffix != ".eml" or not path.is_file():
        raise not_found("message", name)
    return path.read_text(errors="replace")


def _folder(sink_dir: Path | None) -> Path:
    if sink_dir is None:
        raise ProblemError(
            404, [Problem(field="sink", reason="no local SMTP sink in this deployment")]
        )
    return sink_dir.resolve()
