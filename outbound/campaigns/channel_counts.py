"""A campaign's messages per channel (email, sms), as seed 004's Run modal counts them:
how many its steps will send, and how many the log holds by status."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from sqlalchemy import func
from sqlmodel import Session, col, select

from outbound.domain.statuses import MessageStatus, ProspectStatus, StepKind
from outbound.domain.views import ChannelMessages
from outbound.store.tables import Enrollment, Message, Step

Channel = Literal["email", "sms"]
_CHANNELS: dict[StepKind, Channel] = {StepKind.EMAIL: "email", StepKind.SMS: "sms"}
_ENDED = [s.value for s in ProspectStatus if s.is_terminal]


def channel_messages(session: Session, campaign_id: int) -> dict[Channel, ChannelMessages]:
    """Each channel the campaign uses (a step of it, or a message logged), in three queries."""
    steps: Counter[Channel] = Counter()
    for kind in session.exec(
        select(Step.kind).where(Step.campaign_id == campaign_id, col(Step.skipped).is_(False))
    ):
        if (channel := _CHANNELS.get(StepKind(kind))) is not None:
            steps[channel] += 1
    going_on = session.exec(
        select(func.count()).where(
            Enrollment.campaign_id == campaign_id, col(Enrollment.status).not_in(_ENDED)
        )
    ).one()
    logged: dict[Channel, dict[MessageStatus, int]] = {"email": {}, "sms": {}}
    for name, status, count in session.exec(
        select(Message.channel, Message.status, func.count())
        .join(Enrollment, col(Enrollment.id) == Message.enrollment_id)
        .where(Enrollment.campaign_id == campaign_id)
        .group_by(Message.channel, Message.status)
    ):
        logged["sms" if name == "sms" else "email"][MessageStatus(status)] = count
    return {
        channel: ChannelMessages(
            steps=steps[channel], planned=steps[channel] * going_on, logged=logged[channel]
        )
        for channel in ("email", "sms")
        if steps[channel] or logged[channel]
    }
