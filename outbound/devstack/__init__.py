"""The embedded local stack: Temporal dev server, SMTP sink, worker and API in one command."""
