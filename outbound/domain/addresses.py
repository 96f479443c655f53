"""One spelling per mailbox, for matching replies and honouring opt-outs."""

from __future__ import annotations

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def normalise(address: str) -> str:
    """One spelling per mailbox: lower-cased; for Gmail, dots and +tags in the local part
    are ignored and googlemail.com is gmail.com (Gmail delivers all of them to one inbox)."""
    local, _, domain = address.strip().lower().rpartition("@")
    if domain in GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"
