"""Temporal test servers from PyPI packages (the SDK's own download needs the internet)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client

from outbound.domain.search_attributes import ALL_KEYWORDS


def binary(name: str) -> str:
    """Path of ``temporal`` / ``temporal-test-server`` installed beside this Python."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found; install the dev extras (pip install -e '.[dev]')")
    return found


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    """The time-skipping server hangs workflows that upsert unregistered attributes."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in ALL_KEYWORDS
            },
        )
    )
