"""When a provider's rate limit lifts (pure code; the send activity records the answer).

A daily quota (Gmail's "550 5.4.5 Daily user sending limit exceeded") lasts
until the mailbox's next calendar day, as the daily limit itself does; a
short throttle ("421 4.7.0 try again later") is waited out for an hour. The
slot allocator then finds the next allowed slot at or after that time.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from outbound.scheduling.windows import local_date, local_datetime

THROTTLE_PAUSE = timedelta(hours=1)


def rate_limit_lifts_at(now: datetime, *, daily: bool, zone_name: str) -> datetime:
    """Earliest time to send again from a mailbox the provider just rate-limited."""
    if not daily:
        return now + THROTTLE_PAUSE
    tomorrow = local_date(now, zone_name) + timedelta(days=1)
    return local_datetime(tomorrow, time(0), zone_name)
