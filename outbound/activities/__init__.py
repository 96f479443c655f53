"""Temporal activities: every piece of I/O a sequence needs (database, SMTP)."""
