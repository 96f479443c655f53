"""Render a campaign's steps for one of its prospects, or with sample fields: what the
Run modal of seed 004 shows before Start, with each text's characters, encoding
and segments (``sms.encoding.measure``).

All the renders of one preview share the trial renders' deadline (3 s), and
each keeps the budget of a real send, so a preview is as bounded as a send.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from outbound.domain.previews import MessagePreview, SmsShapeView, StepPreview
from outbound.domain.problems import not_found
from outbound.domain.statuses import StepKind
from outbound.sms.encoding import measure
from outbound.store.prospects import addresses_of
from outbound.store.tables import Campaign, Enrollment, Prospect, Step
from outbound.templating.budget import Budget, TemplateTooExpensive
from outbound.templating.context import UNSUBSCRIBE_VARIABLE, prospect_context
from outbound.templating.render import MissingField, UnsafeTemplate, render, render_message
from outbound.templating.trial import sample_fields, trial_deadline

_UNSUBSCRIBE_SAMPLE = "https://outbound.invalid/unsubscribe/(filled-in-per-message)"


def message_preview(session: Session, campaign_id: int, prospect_id: int | None) -> MessagePreview:
    """The campaign's steps rendered; 404 for a campaign or a prospect not in it."""
    if session.get(Campaign, campaign_id) is None:
        raise not_found("campaign", campaign_id)
    steps = list(
        session.exec(
            select(Step).where(Step.campaign_id == campaign_id).order_by(col(Step.position))
        )
    )
    context = None if prospect_id is None else _context(session, campaign_id, prospect_id)
    deadline = trial_deadline()
    return MessagePreview(
        campaign_id=campaign_id,
        prospect_id=prospect_id,
        steps=[_preview(step, context, deadline) for step in steps],
    )


def _context(session: Session, campaign_id: int, prospect_id: int) -> dict[str, str]:
    row = session.exec(
        select(Enrollment, Prospect)
        .join(Prospect)
        .where(Enrollment.campaign_id == campaign_id, Enrollment.prospect_id == prospect_id)
    ).first()
    if row is None:
        raise not_found("prospect", prospect_id)
    enrollment, prospect = row
    addresses = addresses_of(session, [prospect_id])[prospect_id]
    email = enrollment.to_address or enrollment.override_address
    email = email or (addresses[0].address if addresses else None)
    return {
        **prospect_context(prospect.model_dump(), prospect.fields, email),
        UNSUBSCRIBE_VARIABLE: _UNSUBSCRIBE_SAMPLE,
    }


def _preview(step: Step, context: dict[str, str] | None, deadline: float) -> StepPreview:
    kind = StepKind(step.kind)
    preview = StepPreview(position=step.position, kind=kind, skipped=step.skipped)
    if kind is StepKind.MANUAL_TASK:
        preview.task = step.task
        return preview
    fields = context
    if fields is None:
        fields = {**sample_fields(step.subject), **sample_fields(step.body)}
    budget = Budget(deadline=deadline)
    try:
        if kind is StepKind.SMS:
            preview.body = render(step.body, fields, budget)
            shape = measure(preview.body)
            preview.sms = SmsShapeView(
                characters=shape.characters, encoding=shape.encoding, segments=shape.segments
            )
        else:
            rendered = render_message(step.subject, step.body, fields, budget)
            preview.subject, preview.body = rendered.subject, rendered.body
    except MissingField as missing:
        preview.problem = f"the prospect has no value for {{{{ {missing.field} }}}}"
    except (TemplateTooExpensive, UnsafeTemplate) as refused:
        preview.problem = str(refused)
    return preview
