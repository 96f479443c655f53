"""Request bodies the tests share (one place to change when the API changes)."""

from __future__ import annotations

from typing import Any

from outbound.mail.hosts import HostPolicy

LOCAL_MAIL_HOSTS = HostPolicy(allow_private=True, allow_any_port=True)
"""The test servers (aiosmtpd, dovecot) listen on loopback, on ports of their own."""

CONSENT: dict[str, Any] = {
    "consent": {
        "recipients_consented": True,
        "lawful_content": True,
        "opt_out_included": True,
        "opted_out_excluded": True,
        "sms_consented": True,
        "accepted_by": "Ada Recruiter",
    }
}


def consent_with(**changes: object) -> dict[str, Any]:
    """The consent body with some statements changed (e.g. one not accepted)."""
    return {"consent": {**CONSENT["consent"], **changes}}


def office_hours_mailbox(zone: str, **changes: object) -> dict[str, Any]:
    """A mailbox body with typical limits: 50/day, 5-minute gap, Mon–Fri 09:00–17:00."""
    return {
        "smtp_host": "smtp.example.com",
        "from_address": "ada@example.com",
        "time_zone": zone,
        "daily_limit": 50,
        "min_gap_seconds": 300,
        "send_days": ["mon", "tue", "wed", "thu", "fri"],
        "send_start": "09:00",
        "send_end": "17:00",
        **changes,
    }


def reachable(sink_port: int) -> dict[str, Any]:
    """Mailbox fields that point at the local SMTP sink (Start checks the login)."""
    return {"smtp_host": "127.0.0.1", "smtp_port": sink_port, "tls_mode": "none"}
