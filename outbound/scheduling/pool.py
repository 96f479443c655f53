"""Mailbox rotation: which mailbox of a campaign's pool a new prospect is given.

Each prospect is given one mailbox when their first message is slotted, and
keeps it (a thread never changes mailbox). The pool's mailboxes each offer the
earliest slot they would give that message; the earliest offer wins, so the
pool's combined limits fill evenly. Equal offers (idle mailboxes, no gap) go to
the mailbox with fewer slots that day, then the lower id. A mailbox that cannot
send (parked for re-authentication, or paused by the reputation guard) gets no
new prospects while another can; if none can, the earliest offer still wins
and the prospect waits with that mailbox's other sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Offer:
    """What one mailbox of the pool would give the message."""

    mailbox_id: int
    slot: datetime
    taken_that_day: int
    can_send: bool = True


def choose(offers: Sequence[Offer]) -> Offer:
    """The offer a new prospect takes (see the module's doc)."""
    if not offers:
        raise ValueError("a pool has at least one mailbox")
    open_offers = [offer for offer in offers if offer.can_send] or list(offers)
    return min(open_offers, key=lambda o: (o.slot, o.taken_that_day, o.mailbox_id))
