"""One way to connect to Temporal, with the pydantic data converter every payload needs."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from outbound.settings import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Connect to the configured Temporal frontend (``runtime``: e.g. one exporting the
    SDK's metrics, see ``metrics_runtime``)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving the SDK's metrics for Prometheus on
    ``OUTBOUND_TEMPORAL_METRICS_PORT`` (named ``outbound_temporal_*``), or None when it is 0."""
    if not settings.temporal_metrics_port:
        return None
    bind = f"{settings.metrics_host}:{settings.temporal_metrics_port}"
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=bind, durations_as_seconds=True),
            metric_prefix="outbound_temporal_",
        )
    )
