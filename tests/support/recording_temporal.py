"""A stand-in Temporal client that records signals (routes that only signal workflows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio.service import RPCError, RPCStatusCode


@dataclass(frozen=True)
class Signalled:
    """One signal as a route sent it."""

    workflow_id: str
    name: str
    argument: Any


@dataclass
class RecordingTemporal:
    """``get_workflow_handle(id).signal(name, arg)`` is recorded; a workflow in ``ended``
    refuses it as Temporal does (NOT_FOUND)."""

    signals: list[Signalled] = field(default_factory=list)
    ended: set[str] = field(default_factory=set)

    def get_workflow_handle(self, workflow_id: str, **_options: Any) -> _Handle:
        return _Handle(self, workflow_id)

    def named(self, name: str) -> list[Signalled]:
        """The signals called ``name``, in order."""
        return [signal for signal in self.signals if signal.name == name]


@dataclass
class _Handle:
    client: RecordingTemporal
    workflow_id: str

    async def signal(self, name: str, argument: Any = None) -> None:
        if self.workflow_id in self.client.ended:
            raise RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
        self.client.signals.append(Signalled(self.workflow_id, name, argument))
