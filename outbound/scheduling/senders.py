"""A campaign's sending mailboxes, as the schedule preview replays them: one mailbox, or a
pool, each with its calendar, days off and per-recipient-domain caps.

The store's reservation (``outbound.store.mailbox_slots``) does the same for one
message at a time against the database: the same calendar search per mailbox
(``MailboxCalendar``), the same days off (``without_days``), the same domain
load (``DomainLoad``) and the same choice among a pool's offers (``pool.choose``).
Here every mailbox's calendar stays in memory, so the preview can replay a whole
campaign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from outbound.scheduling.blackouts import without_days
from outbound.scheduling.domain_caps import Cap, DomainLoad
from outbound.scheduling.pool import Offer, choose
from outbound.scheduling.slots import MailboxCalendar
from outbound.scheduling.windows import Window, local_date

CapFor = Callable[[str], Cap]
"""The cap that holds for messages to one recipient domain."""


@dataclass
class Sender:
    """One mailbox of a campaign: its calendar (limits, ramp, taken slots), its days off,
    its domain caps (None: none) and whether it can send (connected)."""

    mailbox_id: int
    calendar: MailboxCalendar
    days_off: frozenset[date] = frozenset()
    cap_for: CapFor | None = None
    can_send: bool = True
    loads: dict[str, DomainLoad] = field(default_factory=dict)

    def load(self, domain: str | None) -> DomainLoad | None:
        """The mailbox's load to ``domain`` (None without caps or a domain)."""
        if self.cap_for is None or domain is None:
            return None
        if domain not in self.loads:
            self.loads[domain] = DomainLoad(self.cap_for(domain), self.calendar.limits.zone_name)
        return self.loads[domain]

    def offer(self, due: datetime, window: Window, domain: str | None, pooled: bool) -> Offer:
        """The slot this mailbox would give (nothing taken)."""
        zone_name = self.calendar.limits.zone_name
        own = without_days(window, self.days_off, zone_name)
        slot = self.calendar.earliest_slot(due, own, self.load(domain))
        taken = self.calendar.count_on(local_date(slot, zone_name)) if pooled else 0
        return Offer(self.mailbox_id, slot, taken, self.can_send)


@dataclass
class Senders:
    """The mailboxes a campaign sends from, and which one each prospect was given."""

    senders: Sequence[Sender]
    assigned: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.senders:
            raise ValueError("a campaign sends from at least one mailbox")
        self._by_id = {sender.mailbox_id: sender for sender in self.senders}

    def reserve(
        self, prospect_id: int, due: datetime, window: Window, domain: str | None = None
    ) -> datetime:
        """Take the prospect's slot: from their mailbox, or, for their first message, from
        the mailbox of the pool whose offer is best (which they keep)."""
        mailbox_id = self.assigned.get(prospect_id)
        candidates = [self._by_id[mailbox_id]] if mailbox_id else list(self.senders)
        pooled = len(candidates) > 1
        chosen = choose([each.offer(due, window, domain, pooled) for each in candidates])
        sender = self._by_id[chosen.mailbox_id]
        sender.calendar.take(chosen.slot)
        load = sender.load(domain)
        if load is not None:
            load.take(chosen.slot)
        self.assigned[prospect_id] = chosen.mailbox_id
        return chosen.slot
