"""Outgoing mail: composing RFC 5322 messages and sending them over SMTP."""
