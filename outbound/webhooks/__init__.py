"""Outgoing webhooks (docs/webhooks.md): events, signing, delivery, the URL policy."""
