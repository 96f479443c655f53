"""Outbound: outreach email sequences delivered as durable Temporal workflows."""
