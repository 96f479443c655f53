"""Tenant isolation in one place: every ORM query of an API request sees one workspace only.

An API request runs inside a :class:`Scope` (``request_scope()``, entered by
the app's middleware before any route code). The authentication dependency
fills in the caller's workspace; from then on every ORM statement the request
makes, in any session, in any thread it hands work to, is rewritten by the
``do_orm_execute`` hook below to add ``WHERE <row belongs to that workspace>``
for every table it touches (``with_loader_criteria``): ``session.get`` of
another workspace's id finds nothing, a join or a count leaves that
workspace's rows out, an UPDATE cannot reach them. New rows get the
workspace's id, and a row of another workspace cannot be written
(``before_flush``). So a route cannot forget to scope a query, and another
workspace's id answers exactly like a missing one.

A request whose route did not scope it (no authentication) and that queries
a workspace's table fails instead of seeing everything. Public routes, which
carry their own proof (a signed link, the webhook's secret), declare that
with ``Scope.system`` and look rows up by that proof. Outside requests
(workers, the command line, tests) there is no scope and nothing is filtered.

``TABLE_CRITERIA`` lists how each table belongs to a workspace; a test checks
that it names every table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, event, select
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import SQLModel, col

from outbound.store.tables import (
    ApiKey,
    AuditEntry,
    Campaign,
    Enrollment,
    EnrollmentStep,
    InboundEvent,
    Mailbox,
    MailboxGrant,
    Membership,
    Message,
    MessageLink,
    OAuthConnect,
    Prospect,
    ProspectAddress,
    ProspectPhone,
    SlotReservation,
    SmsSender,
    SmsSenderGrant,
    SmsSlotReservation,
    Step,
    Suppression,
    TrackedLink,
    TrackingEvent,
    User,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
    Workspace,
)

UNSCOPED = "outbound_unscoped"
"""Execution option of the few statements that must run before the workspace is known
(finding the caller's API key); see :func:`unscoped`."""


class UnscopedQuery(RuntimeError):
    """A request queried workspace data before (or without) saying whose workspace it is."""


@dataclass
class Scope:
    """Whose data the current request may see: a workspace, or (public routes) the rows
    its own proof names."""

    workspace_id: int | None = None
    system: bool = False


_current: ContextVar[Scope | None] = ContextVar("outbound_scope", default=None)


@contextmanager
def request_scope(*, system: bool = False) -> Iterator[Scope]:
    """The scope of one request, undecided until the caller is known."""
    scope = Scope(system=system)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def current_scope() -> Scope | None:
    """The scope of the request being served, if any."""
    return _current.get()


def unscoped(statement: Any) -> Any:
    """``statement`` run across workspaces: only for finding who is calling."""
    return statement.execution_options(**{UNSCOPED: True})


def _in_workspace(table: Any) -> Callable[[int], ColumnElement[bool]]:
    return lambda workspace: col(table.workspace_id) == workspace


def _campaigns(workspace: int) -> Any:
    return select(col(Campaign.id)).where(col(Campaign.workspace_id) == workspace)


def _enrollments(workspace: int) -> Any:
    return select(col(Enrollment.id)).where(col(Enrollment.workspace_id) == workspace)


def _mailboxes(workspace: int) -> Any:
    return select(col(Mailbox.id)).where(col(Mailbox.workspace_id) == workspace)


def _sms_senders(workspace: int) -> Any:
    return select(col(SmsSender.id)).where(col(SmsSender.workspace_id) == workspace)


def _messages(workspace: int) -> Any:
    return select(col(Message.id)).where(col(Message.enrollment_id).in_(_enrollments(workspace)))


TABLE_CRITERIA: dict[type[SQLModel], Callable[[int], ColumnElement[bool]]] = {
    Workspace: lambda workspace: col(Workspace.id) == workspace,
    User: lambda workspace: col(User.id).in_(
        select(col(Membership.user_id)).where(col(Membership.workspace_id) == workspace)
    ),
    Membership: _in_workspace(Membership),
    ApiKey: _in_workspace(ApiKey),
    MailboxGrant: _in_workspace(MailboxGrant),
    AuditEntry: _in_workspace(AuditEntry),
    Mailbox: _in_workspace(Mailbox),
    OAuthConnect: _in_workspace(OAuthConnect),
    Campaign: _in_workspace(Campaign),
    Prospect: _in_workspace(Prospect),
    ProspectAddress: _in_workspace(ProspectAddress),
    ProspectPhone: _in_workspace(ProspectPhone),
    Enrollment: _in_workspace(Enrollment),
    Suppression: _in_workspace(Suppression),
    Step: lambda workspace: col(Step.campaign_id).in_(_campaigns(workspace)),
    EnrollmentStep: lambda w: col(EnrollmentStep.enrollment_id).in_(_enrollments(w)),
    Message: lambda workspace: col(Message.enrollment_id).in_(_enrollments(workspace)),
    SlotReservation: lambda w: col(SlotReservation.mailbox_id).in_(_mailboxes(w)),
    InboundEvent: lambda workspace: col(InboundEvent.mailbox_id).in_(_mailboxes(workspace)),
    MessageLink: lambda workspace: col(MessageLink.message_row_id).in_(_messages(workspace)),
    TrackedLink: lambda workspace: col(TrackedLink.message_row_id).in_(_messages(workspace)),
    TrackingEvent: lambda w: col(TrackingEvent.message_row_id).in_(_messages(w)),
    SmsSender: _in_workspace(SmsSender),
    SmsSenderGrant: _in_workspace(SmsSenderGrant),
    SmsSlotReservation: lambda w: col(SmsSlotReservation.sender_id).in_(_sms_senders(w)),
    WebhookSubscription: _in_workspace(WebhookSubscription),
    WebhookEvent: _in_workspace(WebhookEvent),
    WebhookDelivery: _in_workspace(WebhookDelivery),
}


@event.listens_for(OrmSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    scope = _current.get()
    if scope is None or scope.system or state.execution_options.get(UNSCOPED):
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    workspace = _required(scope)
    state.statement = state.statement.options(
        *(
            with_loader_criteria(table, criterion(workspace), include_aliases=True)
            for table, criterion in TABLE_CRITERIA.items()
        )
    )


@event.listens_for(OrmSession, "before_flush")
def _stamp_new_rows(session: OrmSession, _context: object, _instances: object) -> None:
    scope = _current.get()
    if scope is None or scope.system:
        return
    workspace = _required(scope)
    for row in (*session.new, *session.dirty):
        if not hasattr(row, "workspace_id") or isinstance(row, Workspace):
            continue
        if row.workspace_id is None:
            row.workspace_id = workspace
        elif row.workspace_id != workspace:
            raise UnscopedQuery(
                f"a {type(row).__name__} of workspace {row.workspace_id} was written in a "
                f"request of workspace {workspace}"
            )


def _required(scope: Scope) -> int:
    if scope.workspace_id is None:
        raise UnscopedQuery(
            "workspace data was queried in a request that no authentication scoped; "
            "a management route needs the caller dependency (outbound.api.auth)"
        )
    return scope.workspace_id
