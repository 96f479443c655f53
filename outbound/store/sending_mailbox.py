"""Which mailbox a sequence's email goes from: the one expression every query uses.

A campaign with one mailbox sends everything from ``campaign.mailbox_id``. A
campaign with a pool (``campaign.mailbox_pool``, mailbox rotation) gives each
prospect one mailbox at their first slot and records it on the enrollment
(``enrollment.mailbox_id``, ``outbound.store.pool``); the prospect keeps it for the whole
sequence, so a thread never changes mailbox. Before that first slot, and for
enrollments made before pools, the campaign's mailbox stands.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func

from outbound.store.tables import Campaign, Enrollment

SENDING_MAILBOX_ID: Any = func.coalesce(Enrollment.mailbox_id, Campaign.mailbox_id)
"""SQL: the mailbox a sequence sends from (needs Enrollment joined to its Campaign)."""
