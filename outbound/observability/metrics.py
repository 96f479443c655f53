"""Prometheus metrics, all named ``outbound_*`` (prometheus-client's default registry).

Counted where things happen, with cheap in-memory calls and no database work: sends in
``activities/delivery.py`` and ``activities/sms.py``, slots in ``activities/slots.py`` and
``activities/sms.py``, sequence states in ``activities/records.py``, inbound mail in
``inbound/pipeline.py``, reputation pauses in ``store/reputation.py``. Labels are small
fixed sets (outcome classes, statuses, kinds): never a workspace, campaign or prospect id,
an address or a host, so a scrape shows counts and nothing of anyone's data.

A worker serves them on ``OUTBOUND_WORKER_METRICS_PORT`` (``serve_worker_metrics``); the
management API at ``GET /metrics`` (``routes/metrics.py``), adding the sequences per
status read from the database at scrape time (``SequenceStatusCollector``).

``webhook_deliveries`` is the hook for outgoing webhooks: call
``webhook_deliveries.labels(result="delivered").inc()`` (or ``failed``, ``gave_up``).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

sends = Counter(
    "outbound_sends",
    "Email sends by outcome class (sent, transient, rate_limited, hard_bounce, …, unknown).",
    ["outcome"],
)
send_seconds = Histogram(
    "outbound_send_seconds",
    "Time to hand one email to its SMTP server (connect to the answer after DATA).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
sms_sends = Counter(
    "outbound_sms_sends", "Texts handed to the SMS provider, by outcome class.", ["outcome"]
)
slots_reserved = Counter(
    "outbound_slots_reserved", "Send slots reserved, by channel (email, sms).", ["channel"]
)
sequence_states = Counter(
    "outbound_sequence_states_recorded",
    "Sequence states mirrored into the database, by the status recorded (each change of a "
    "prospect's sequence is one; Completed, Replied, Bounced, … count sequences ending).",
    ["status"],
)
inbound_messages = Counter(
    "outbound_inbound_messages", "Inbound messages classified, by kind.", ["kind"]
)
reputation_pauses = Counter(
    "outbound_reputation_pauses",
    "Mailboxes paused by the reputation guard (hard-bounce or complaint rate over its limit).",
)
webhook_deliveries = Counter(
    "outbound_webhook_deliveries",
    "Outgoing webhook delivery attempts, by result (for the webhooks engine to count).",
    ["result"],
)


class SequenceStatusCollector(Collector):
    """``outbound_sequences{status}``: prospects' sequences per status, all workspaces
    together, one GROUP BY at each scrape (a plain connection: no workspace scope)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "outbound_sequences",
            "Prospects' sequences by status (the database's view).",
            labels=["status"],
        )
        with self._engine.connect() as connection:
            rows = connection.execute(
                text("SELECT status, COUNT(*) FROM enrollment GROUP BY status")
            ).all()
        for status, count in rows:
            gauge.add_metric([str(status)], float(count))
        yield gauge


def serve_worker_metrics(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
    """Serve this process's metrics on ``host:port`` (a thread of prometheus-client)."""
    start_http_server(port, addr=host)
