"""What the local SMS gateway recorded: its messages and webhooks, and ``messages.jsonl``.

The gateway (``sms_gateway.py``) appends each message and status change to
``messages.jsonl`` in its folder; ``outbound sink --sms`` reads them back here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

SINK_FILE = "messages.jsonl"


@dataclass
class StatusChange:
    """One step of a message's life at the gateway."""

    status: str
    at: datetime
    error_code: int | None = None


@dataclass
class SinkedSms:
    """A message the gateway accepted (or an answer to an inbound text), as it stands."""

    sid: str
    account_sid: str
    to_number: str
    from_number: str | None
    body: str
    segments: int
    direction: str  # outbound-api (sent through the API) or outbound-reply (TwiML)
    messaging_service_sid: str | None
    created_at: datetime
    history: list[StatusChange] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The latest status."""
        return self.history[-1].status

    def as_json(self) -> dict[str, Any]:
        """The message as ``GET /sink/sms`` shows it."""
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": self.to_number,
            "from": self.from_number,
            "body": self.body,
            "segments": self.segments,
            "direction": self.direction,
            "messaging_service_sid": self.messaging_service_sid,
            "created_at": self.created_at.isoformat(),
            "status": self.status,
            "history": [
                {"status": c.status, "at": c.at.isoformat(), "error_code": c.error_code}
                for c in self.history
            ],
        }


@dataclass(frozen=True)
class PostedWebhook:
    """A webhook the gateway posted: status callback or inbound message."""

    url: str
    params: dict[str, str]
    signature: str
    status_code: int | None  # None: no connection after every attempt


def sms_sink_dir(data_dir: Path) -> Path:
    """Where the dev stack's gateway keeps ``messages.jsonl``."""
    return data_dir / "sms"


def read_sms_sink(folder: Path) -> list[SinkedSms]:
    """The messages recorded in ``folder/messages.jsonl``, newest first."""
    path = folder / SINK_FILE
    if not path.exists():
        return []
    messages: dict[str, SinkedSms] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut short by a stop mid-write
        if event.get("event") == "message":
            messages[event["sid"]] = sinked_from_json(event)
        elif event.get("event") == "status" and event["sid"] in messages:
            messages[event["sid"]].history.append(
                StatusChange(
                    event["status"], datetime.fromisoformat(event["at"]), event.get("error_code")
                )
            )
    return sorted(messages.values(), key=lambda message: message.created_at, reverse=True)


def change_json(change: StatusChange) -> dict[str, Any]:
    """A status change as a line of ``messages.jsonl``."""
    return {"status": change.status, "at": change.at.isoformat(), "error_code": change.error_code}


def sinked_from_json(event: Mapping[str, Any]) -> SinkedSms:
    """A message from its ``messages.jsonl`` line."""
    return SinkedSms(
        sid=event["sid"],
        account_sid=event["account_sid"],
        to_number=event["to"],
        from_number=event["from"],
        body=event["body"],
        segments=event["segments"],
        direction=event["direction"],
        messaging_service_sid=event.get("messaging_service_sid"),
        created_at=datetime.fromisoformat(event["created_at"]),
        history=[
            StatusChange(c["status"], datetime.fromisoformat(c["at"]), c.get("error_code"))
            for c in event["history"]
        ],
    )
