"""Request and response shapes of campaigns and their steps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from outbound.domain.company_rules import CompanyRuleFields
from outbound.domain.days_off import DaysOffFields
from outbound.domain.problems import FieldProblem
from outbound.domain.schedule import ClockTime, SendDays, TimeZoneSource, check_window
from outbound.domain.statuses import AddressType, CampaignStatus, StepKind, ThreadMode
from outbound.domain.validators import single_line
from outbound.scheduling.when_to_send import WhenToSend

MAX_POOL = 20

SubjectTemplate = Annotated[str, Field(min_length=1, max_length=998), AfterValidator(single_line)]


TaskText = Annotated[str, Field(min_length=1, max_length=2000)]


class StepCreate(BaseModel):
    """One step, and how long to wait after the previous one: an email (subject and body
    templates), a text (``sms``: a body template, at most 1,600 characters) or a manual
    task (``task`` says what to do; it goes on the to-do list)."""

    kind: StepKind = StepKind.EMAIL
    subject: SubjectTemplate | None = None
    body: Annotated[str, Field(min_length=1)] | None = None
    task: TaskText | None = Field(default=None, description="What to do (manual tasks only).")
    delay_days: Annotated[int, Field(ge=0, le=365)] = 0
    delay_minutes: Annotated[int, Field(ge=0, le=60 * 24 * 365)] = 0
    thread_mode: ThreadMode = ThreadMode.NEW_THREAD

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> StepCreate:
        needed, name = _KIND_FIELDS[self.kind]
        missing = [field for field in needed if getattr(self, field) is None]
        if missing:
            raise FieldProblem(missing[0], f"{name} step needs {' and '.join(missing)}")
        extra = [
            f
            for f in ("subject", "body", "task")
            if f not in needed and getattr(self, f) is not None
        ]
        if extra:
            raise FieldProblem(extra[0], _extra_reason(self.kind, extra[0]))
        if self.kind is StepKind.SMS and self.thread_mode is ThreadMode.SAME_THREAD:
            raise FieldProblem("thread_mode", "an sms step has no thread; use new_thread")
        return self


def _extra_reason(kind: StepKind, field: str) -> str:
    if kind is StepKind.MANUAL_TASK:
        return "a manual_task step has no subject or body"
    if field == "task":
        return f"task is for manual_task steps; {_KIND_FIELDS[kind][1]} step has none"
    return "an sms step has no subject (a text is its body only)"


_KIND_FIELDS: dict[StepKind, tuple[tuple[str, ...], str]] = {
    StepKind.EMAIL: (("subject", "body"), "an email"),
    StepKind.SMS: (("body",), "an sms"),
    StepKind.MANUAL_TASK: (("task",), "a manual_task"),
}


class StepEdit(BaseModel):
    """Fields to change on a step; what is left out stays as it is."""

    subject: SubjectTemplate | None = None
    body: Annotated[str, Field(min_length=1)] | None = None
    task: TaskText | None = None
    delay_days: Annotated[int, Field(ge=0, le=365)] | None = None
    delay_minutes: Annotated[int, Field(ge=0, le=60 * 24 * 365)] | None = None
    thread_mode: ThreadMode | None = None


class CampaignSchedule(BaseModel):
    """When and to which address a campaign sends; unset days and hours follow the mailbox's."""

    address_preference: AddressType | None = Field(
        default=None, description="Prefer personal or work addresses (else relevance order)."
    )
    only_preferred_type: bool = Field(
        default=False, description="Don't send to other address types if the preferred one fails."
    )

    send_days: SendDays | None = None
    send_start: ClockTime | None = None
    send_end: ClockTime | None = None
    time_zone_source: TimeZoneSource = Field(
        default=TimeZoneSource.MAILBOX,
        description="'prospect': follow each prospect's own time zone when known.",
    )
    when_to_send: WhenToSend = WhenToSend.WHEN_STARTED
    specific_time: ClockTime | None = Field(
        default=None, description="Required for when_to_send = specific_time."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSchedule:
        if (self.send_start is None) != (self.send_end is None):
            missing = "send_end" if self.send_end is None else "send_start"
            raise FieldProblem(missing, "give both send_start and send_end, or neither")
        if self.send_start is not None and self.send_end is not None:
            check_window(self.send_start, self.send_end)
        if self.only_preferred_type and self.address_preference is None:
            raise FieldProblem(
                "address_preference", "only_preferred_type needs an address_preference"
            )
        if self.when_to_send is WhenToSend.SPECIFIC_TIME and self.specific_time is None:
            raise FieldProblem("specific_time", "when_to_send = specific_time needs it (HH:MM)")
        return self


class CampaignTracking(BaseModel):
    """Open and click tracking, off unless asked for: a plain-text message from a person's
    own mailbox is what 1:1 outreach looks like, and it often performs better."""

    track_opens: bool = Field(
        default=False, description="Send an HTML alternative with a 1×1 pixel (opens)."
    )
    track_clicks: bool = Field(
        default=False, description="Rewrite the body's links to a signed redirect (clicks)."
    )


class CampaignSenders(BaseModel):
    """What a campaign sends through: a mailbox for its email steps, an SMS sender for its
    sms steps (an all-SMS campaign needs no mailbox; an email-only one no sender)."""

    mailbox_id: int | None = Field(
        default=None, description="Required for email steps (unless mailbox_pool is given)."
    )
    mailbox_pool: Annotated[list[int], Field(max_length=MAX_POOL)] = Field(
        default_factory=list,
        description=f"Rotation: 2 to {MAX_POOL} mailboxes the email steps go from. Each "
        "prospect is given the one with the earliest free slot at their first message and "
        "keeps it (one thread, one mailbox). mailbox_id, if given, must be one of them.",
    )
    sms_sender_id: int | None = Field(default=None, description="Required for sms steps.")

    @model_validator(mode="after")
    def _pool_holds_the_mailbox(self) -> CampaignSenders:
        pool = self.mailbox_pool
        if not pool:
            return self
        if len(pool) < 2:
            raise FieldProblem(
                "mailbox_pool", "a pool has 2 mailboxes or more; else use mailbox_id"
            )
        if len(set(pool)) != len(pool):
            raise FieldProblem("mailbox_pool", "each mailbox may appear once")
        if self.mailbox_id is None:
            self.mailbox_id = pool[0]
        elif self.mailbox_id not in pool:
            raise FieldProblem("mailbox_id", "must be one of mailbox_pool (or left out)")
        return self


def senders_problem(
    kinds: Iterable[StepKind], mailbox_id: int | None, sms_sender_id: int | None
) -> FieldProblem | None:
    """The sender a campaign with steps of ``kinds`` lacks, if any."""
    present = set(kinds)
    if StepKind.EMAIL in present and mailbox_id is None:
        return FieldProblem("mailbox_id", "mailbox_id is required for email steps")
    if StepKind.SMS in present and sms_sender_id is None:
        return FieldProblem("sms_sender_id", "sms_sender_id is required for sms steps")
    return None


class CampaignCreate(
    CampaignSchedule, CampaignTracking, CampaignSenders, DaysOffFields, CompanyRuleFields
):
    """A new campaign with its ordered steps."""

    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(single_line)]
    steps: Annotated[list[StepCreate], Field(min_length=1, max_length=50)]
    grace_seconds: Annotated[int | None, Field(ge=0, le=7 * 24 * 3600)] = Field(
        default=None,
        description="Wait after Start before the first send (default 20 minutes).",
    )

    @field_validator("steps")
    @classmethod
    def _threads_follow_emails(cls, steps: list[StepCreate]) -> list[StepCreate]:
        problem = thread_problem([(step.kind, step.thread_mode) for step in steps])
        if problem is not None:
            raise ValueError(problem)
        return steps

    @model_validator(mode="after")
    def _senders_for_its_steps(self) -> CampaignCreate:
        problem = senders_problem(
            (step.kind for step in self.steps), self.mailbox_id, self.sms_sender_id
        )
        if problem is not None:
            raise problem
        return self


def thread_problem(steps: list[tuple[StepKind, ThreadMode]]) -> str | None:
    """Why these steps cannot thread as asked: a same-thread email replies to the email
    right before it, so the first step and a step after a manual task start a thread."""
    for index, (kind, mode) in enumerate(steps):
        if kind is not StepKind.EMAIL or mode is not ThreadMode.SAME_THREAD:
            continue
        if index == 0:
            return "the first step has no thread to reply in; use new_thread"
        previous = steps[index - 1][0]
        if previous is not StepKind.EMAIL:
            what = "an sms" if previous is StepKind.SMS else "a manual task"
            return f"step {index + 1} follows {what}, so it has no thread to reply in"
    return None


class StepPublic(BaseModel):
    """A stored step."""

    id: int
    position: int
    kind: StepKind
    subject: str | None
    body: str | None
    task: str | None
    delay_days: int
    delay_minutes: int
    thread_mode: ThreadMode
    skipped: bool = Field(description="Skipped for everyone: nobody gets it any more.")


class CampaignPublic(CampaignSchedule, CampaignTracking, DaysOffFields, CompanyRuleFields):
    """A campaign as the API shows it."""

    id: int
    name: str
    owner_user_id: int = Field(description="The user who created it (whose to-do list it feeds).")
    owner: str = Field(description="That user's email, or name.")
    mailbox_id: int | None = Field(description="The mailbox of its email steps, if any.")
    mailbox_pool: list[int] = Field(
        default_factory=list, description="Rotation: the mailboxes its email steps go from."
    )
    sms_sender_id: int | None = Field(default=None, description="The SMS sender of its texts.")
    sms_sender: str | None = Field(
        default=None, description="That sender's name and number (or messaging service)."
    )
    status: CampaignStatus
    grace_seconds: int
    steps: list[StepPublic]
    created_at: datetime
    started_at: datetime | None
    consent_accepted_by: str | None
    needs_attention: int = Field(
        default=0,
        description=(
            "Prospects Failed and waiting for a manual Retry (POST /campaigns/{id}/retry); "
            "the campaign stays InProgress until they are retried, skipped or stopped."
        ),
    )


class ConsentAttestation(BaseModel):
    """The run disclaimer (seed 004): every statement must be accepted to start."""

    recipients_consented: bool
    lawful_content: bool
    opt_out_included: bool
    opted_out_excluded: bool
    sms_consented: bool | None = Field(
        default=None,
        description="Required (true) when the campaign has sms steps: every recipient agreed "
        "to receive text messages at their number, and the texts say how to opt out (STOP).",
    )
    accepted_by: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(single_line)]

    @field_validator(
        "recipients_consented",
        "lawful_content",
        "opt_out_included",
        "opted_out_excluded",
        "sms_consented",
    )
    @classmethod
    def _must_accept(cls, accepted: bool | None) -> bool | None:
        if accepted is False:
            raise ValueError("must be accepted (true) to start the campaign")
        return accepted


class StartCampaign(BaseModel):
    """Body of POST /campaigns/{id}/start."""

    consent: ConsentAttestation
