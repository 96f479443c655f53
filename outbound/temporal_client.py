"""One way to connect to Temporal, with the pydantic data converter every payload needs."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from outbound.settings import Settings


async def connect(settings: Settings) -> Client:
    """Connect to the configured Temporal frontend."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
