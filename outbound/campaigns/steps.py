"""A campaign's steps: create, edit, delete and skip for everyone, also while it runs.

A running campaign's prospects hold the steps' timing in their workflows, so
every change here is followed by a ``revise_steps`` fan-out (``revise_everyone``)
that hands each workflow the current plan; a workflow applies it to the steps
it has not reached. Content (subject, body, task) is read at send time.

The rules users see: a step nobody has reached can be edited or deleted; a
step that has active recipients cannot be deleted (409 naming how many) but
can be skipped for everyone; a step some prospects already passed stays, as it
is part of their history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlmodel import Session, col, func, select

from outbound.domain.campaigns import (
    StepCreate,
    StepEdit,
    StepPublic,
    senders_problem,
    thread_problem,
)
from outbound.domain.problems import Problem, ProblemError, conflict, not_found
from outbound.domain.sequence import StepPlan
from outbound.domain.statuses import CampaignStatus, ProspectStatus, StepKind, ThreadMode
from outbound.store.tables import Campaign, Enrollment, Step
from outbound.templating.budget import MAX_BODY_CHARS
from outbound.templating.render import syntax_error
from outbound.templating.trial import trial_deadline, trial_problem

MAX_SMS_BODY_CHARS = 1_600
"""Longest sms body template: the provider's limit on a message (Twilio: 1,600 characters)."""

_ENDED = [s.value for s in ProspectStatus if s.is_terminal]
_LAUNCHED = frozenset({CampaignStatus.IN_PROGRESS, CampaignStatus.PAUSED})
_EDITABLE = frozenset({CampaignStatus.DRAFT, CampaignStatus.READY, *_LAUNCHED})


def step_row(campaign_id: int, position: int, step: StepCreate) -> Step:
    """The stored form of a new step (a manual task keeps empty subject and body)."""
    return Step(
        campaign_id=campaign_id,
        position=position,
        kind=step.kind.value,
        subject=step.subject or "",
        body=step.body or "",
        task=step.task,
        delay_days=step.delay_days,
        delay_minutes=step.delay_minutes,
        thread_mode=step.thread_mode.value,
    )


def step_public(step: Step) -> StepPublic:
    manual = step.kind == StepKind.MANUAL_TASK
    return StepPublic(
        id=step.id or 0,
        position=step.position,
        kind=StepKind(step.kind),
        subject=None if step.kind != StepKind.EMAIL else step.subject,
        body=None if manual else step.body,
        task=step.task,
        delay_days=step.delay_days,
        delay_minutes=step.delay_minutes,
        thread_mode=ThreadMode(step.thread_mode),
        skipped=step.skipped,
    )


def step_plans(steps: Sequence[Step]) -> list[StepPlan]:
    """Scheduling view of a campaign's steps (what each workflow holds)."""
    return [
        StepPlan(
            step_id=s.id or 0,
            position=s.position,
            thread_mode=ThreadMode(s.thread_mode),
            delay=timedelta(days=s.delay_days, minutes=s.delay_minutes),
            kind=StepKind(s.kind),
            skipped=s.skipped,
        )
        for s in sorted(steps, key=lambda s: s.position)
    ]


def template_problems(
    steps: Sequence[tuple[int, StepCreate | StepEdit]], kinds: Sequence[StepKind] | None = None
) -> list[Problem]:
    """Templates that cannot be accepted, named ``steps[i].subject`` / ``.body``: syntax
    errors, a body over its length (an sms body: 1,600 characters), and what a test render
    with sample fields finds (``outbound.templating.trial``: over budget, or refused by the
    sandbox). ``kinds``: each step's kind, when the steps do not say (edits)."""
    deadline = trial_deadline()
    problems = []
    for number, (index, step) in enumerate(steps):
        kind = kinds[number] if kinds is not None else getattr(step, "kind", StepKind.EMAIL)
        for part, source in (("subject", step.subject), ("body", step.body)):
            if source is None:
                continue
            reason = _template_problem(part, source, deadline, kind)
            if reason is not None:
                problems.append(
                    Problem(
                        field=f"steps[{index}].{part}",
                        reason=f"step {index + 1}'s {part}: {reason}",
                    )
                )
    return problems


def _template_problem(part: str, source: str, deadline: float, kind: StepKind) -> str | None:
    limit = MAX_SMS_BODY_CHARS if kind is StepKind.SMS else MAX_BODY_CHARS
    if part == "body" and len(source) > limit:
        what = "an sms body template" if kind is StepKind.SMS else "a body template"
        return f"{what} has at most {limit:,} characters (this one has {len(source):,})"
    return syntax_error(source) or trial_problem(source, deadline)


def append_step(session: Session, campaign_id: int, body: StepCreate) -> bool:
    """Add a step at the end; True when running workflows must hear of it."""
    campaign = _editable(session, campaign_id)
    count = len(_steps(session, campaign_id))
    _refuse_bad_templates([(count, body)])
    lacking = senders_problem([body.kind], campaign.mailbox_id, campaign.sms_sender_id)
    if lacking is not None:
        raise ProblemError(422, [Problem(field=lacking.field, reason=lacking.reason)])
    if count >= 50:
        raise ProblemError(422, [Problem(field="steps", reason="a campaign has at most 50 steps")])
    session.add(step_row(campaign_id, count + 1, body))
    _check_threads(session, campaign_id)
    session.commit()
    return campaign.status in _LAUNCHED


def edit_step(session: Session, campaign_id: int, position: int, body: StepEdit) -> bool:
    """Change a step nobody has reached; True when running workflows must hear of it."""
    campaign = _editable(session, campaign_id)
    step = _step(session, campaign_id, position)
    reached = _reached(session, campaign_id, position)
    if reached:
        raise conflict(
            "position",
            f"step {position} has been reached by {reached} prospect(s) and can no longer be "
            "edited; skip it for everyone or add a new step",
        )
    kind = StepKind(step.kind)
    _refuse_bad_templates([(position - 1, body)], [kind])
    changes = body.model_dump(exclude_unset=True)
    wrong = sorted(set(changes) & _NOT_OF_KIND[kind])
    if wrong:
        name = {StepKind.EMAIL: "an email", StepKind.SMS: "an sms"}.get(kind, "a manual_task")
        raise ProblemError(
            422, [Problem(field=field, reason=f"{name} step has no {field}") for field in wrong]
        )
    for name, value in changes.items():
        if value is None:
            raise ProblemError(422, [Problem(field=name, reason="cannot be null")])
        setattr(step, name, value.value if isinstance(value, ThreadMode) else value)
    session.add(step)
    _check_threads(session, campaign_id, field="thread_mode")
    session.commit()
    return campaign.status in _LAUNCHED


def delete_step(session: Session, campaign_id: int, position: int) -> bool:
    """Delete a step nobody has reached and renumber the rest; True when workflows must hear."""
    campaign = _editable(session, campaign_id)
    step = _step(session, campaign_id, position)
    active = _active_on(session, campaign_id, position)
    if active:
        raise conflict(
            "position",
            f"step {position} has {active} active recipient(s) and cannot be deleted; "
            f"skip it for everyone instead (POST /campaigns/{campaign_id}/steps/{position}/skip)",
        )
    reached = _reached(session, campaign_id, position)
    if reached:
        raise conflict(
            "position",
            f"step {position} is in the history of {reached} prospect(s) and cannot be "
            "deleted; skip it for everyone instead",
        )
    later = [s for s in _steps(session, campaign_id) if s.position > position]
    if not later and position == 1:
        raise ProblemError(
            422, [Problem(field="position", reason="a campaign needs at least one step")]
        )
    session.delete(step)
    session.flush()
    for following in later:  # one at a time: (campaign, position) stays unique throughout
        following.position -= 1
        session.add(following)
        session.flush()
    _check_threads(session, campaign_id)
    session.commit()
    return campaign.status in _LAUNCHED


def skip_for_everyone(session: Session, campaign_id: int, position: int) -> bool:
    """Nobody gets step ``position`` from now on; True when running workflows must hear of it."""
    campaign = _editable(session, campaign_id)
    step = _step(session, campaign_id, position)
    step.skipped = True
    session.add(step)
    session.commit()
    return campaign.status in _LAUNCHED


def current_plans(session: Session, campaign_id: int) -> list[StepPlan]:
    return step_plans(_steps(session, campaign_id))


def _editable(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise not_found("campaign", campaign_id)
    if campaign.status not in _EDITABLE:
        raise conflict("status", f"campaign is {campaign.status}; its steps can no longer change")
    return campaign


def _steps(session: Session, campaign_id: int) -> list[Step]:
    return list(
        session.exec(
            select(Step).where(Step.campaign_id == campaign_id).order_by(col(Step.position))
        )
    )


def _step(session: Session, campaign_id: int, position: int) -> Step:
    step = session.exec(
        select(Step).where(Step.campaign_id == campaign_id, Step.position == position)
    ).first()
    if step is None:
        raise not_found("step", f"{position} of campaign {campaign_id}")
    return step


def _reached(session: Session, campaign_id: int, position: int) -> int:
    """Prospects whose sequence has got to step ``position`` (in progress or past it)."""
    return session.exec(
        select(func.count()).where(
            Enrollment.campaign_id == campaign_id, Enrollment.current_step >= position
        )
    ).one()


def _active_on(session: Session, campaign_id: int, position: int) -> int:
    """Prospects whose sequence is on step ``position`` and has not ended."""
    return session.exec(
        select(func.count()).where(
            Enrollment.campaign_id == campaign_id,
            Enrollment.current_step == position,
            col(Enrollment.status).not_in(_ENDED),
        )
    ).one()


def _check_threads(session: Session, campaign_id: int, field: str = "position") -> None:
    """Refuse (and roll back) a change that leaves a same-thread step with no thread."""
    session.flush()
    steps = _steps(session, campaign_id)
    problem = thread_problem([(StepKind(s.kind), ThreadMode(s.thread_mode)) for s in steps])
    if problem is not None:
        session.rollback()
        raise ProblemError(422, [Problem(field=field, reason=problem)])


_NOT_OF_KIND = {
    StepKind.EMAIL: {"task"},
    StepKind.SMS: {"subject", "task", "thread_mode"},
    StepKind.MANUAL_TASK: {"subject", "body"},
}


def _refuse_bad_templates(
    steps: Sequence[tuple[int, StepCreate | StepEdit]], kinds: Sequence[StepKind] | None = None
) -> None:
    problems = template_problems(steps, kinds)
    if problems:
        raise ProblemError(422, problems)
