"""``GET /metrics``: Prometheus metrics of this process and the sequences per status.

On the management app only, without a key: every metric is a count labelled by a fixed
set (outcome, status, kind), never an id or an address (``observability/metrics.py``).
Keep the management API off the internet as for every other route; the public app has
no ``/metrics``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from outbound.observability.metrics import SequenceStatusCollector

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """This process's ``outbound_*`` counters (sends, slots, inbound, …; a worker serves
    its own on ``OUTBOUND_WORKER_METRICS_PORT``) and ``outbound_sequences{status}``."""
    database = CollectorRegistry(auto_describe=False)
    database.register(SequenceStatusCollector(request.app.state.engine))
    body = generate_latest(REGISTRY) + generate_latest(database)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
