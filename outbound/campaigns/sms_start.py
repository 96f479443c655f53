"""The SMS side of Start: the consent to text, a sender that can send, and each prospect's
number and legal hours (``campaigns.sms_recipient``).

A campaign that names no SMS sender has no SMS steps: nothing here reads its
prospects' phones, so Start of an email campaign costs what it did before.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from outbound.campaigns.sms_recipient import sms_recipient
from outbound.domain.campaigns import ConsentAttestation
from outbound.domain.problems import Problem, ProblemError, conflict
from outbound.domain.schedule import parse_clock
from outbound.domain.sms_sequence import SmsRecipient
from outbound.domain.statuses import MailboxConnection
from outbound.store.prospects import phones_of
from outbound.store.tables import Campaign, Prospect, SmsSender, Workspace


def sms_recipients(
    session: Session, campaign: Campaign, prospects: Sequence[Prospect]
) -> dict[int, SmsRecipient]:
    """Each prospect's SMS recipient (by prospect id); empty when the campaign has no sender."""
    if campaign.sms_sender_id is None:
        return {}
    sender = session.get_one(SmsSender, campaign.sms_sender_id)
    workspace = session.get_one(Workspace, campaign.workspace_id)
    hours = (parse_clock(workspace.sms_quiet_start), parse_clock(workspace.sms_quiet_end))
    ids = [p.id for p in prospects if p.id is not None]
    phones = phones_of(session, ids)
    return {
        p.id: sms_recipient(
            sender_id=campaign.sms_sender_id,
            sender_zone=sender.time_zone,
            prospect_time_zone=p.time_zone,
            phones=[(phone.number, phone.type) for phone in phones[p.id]],
            hours=hours,
        )
        for p in prospects
        if p.id is not None
    }


def check_sms_consent(consent: ConsentAttestation) -> None:
    """A campaign that texts needs the attestation that recipients agreed to be texted."""
    if consent.sms_consented is not True:
        raise ProblemError(
            422,
            [
                Problem(
                    field="consent.sms_consented",
                    reason="this campaign sends texts: attest that every recipient agreed to "
                    "receive text messages at their number (true) to start it",
                )
            ],
        )


def check_sms_sender(session: Session, sender_id: int) -> None:
    """Refuse to start on a sender whose credentials the provider refused (409 saying why)."""
    sender = session.get_one(SmsSender, sender_id)
    if sender.connection_state != MailboxConnection.CONNECTED:
        raise conflict(
            "sms_sender_id",
            f"sms sender {sender_id} needs new credentials ({sender.connection_problem}); "
            f"update them with PATCH /sms-senders/{sender_id}",
        )
