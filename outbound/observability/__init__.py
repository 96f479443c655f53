"""Metrics (Prometheus), readiness and structured logs: how operators watch Outbound."""
