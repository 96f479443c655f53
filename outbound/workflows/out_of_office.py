"""Out of office until a date: the part of ``EnrollmentWorkflow`` that waits for a return.

The ``out_of_office`` signal (an auto-reply stated a return date; ``inbound.actions``)
holds the sequence until the start of the day it names (the day after the return
date), in the campaign window's zone. Meanwhile the step in progress gives its slot
back (its message shows Waiting), shows Pending, and the prospect shows Paused with
the reason ``OutOfOffice until YYYY-MM-DD``. Then the step takes a new slot at or
after that instant (the mailbox's limits hold: no flood on the day people return),
and later steps follow their delays from its send. Email and SMS steps wait; a
manual task leaves the to-do list and comes back at the first opening of the window
after the return.

A user's Resume ends the wait at once; Pause, Stop, a reply, an opt-out act as
always. Should the user pause during the wait, the user's pause takes over the
status, and Resume then ends it (the wait goes on if its day has not come). A later
auto-reply with another date replaces the first; one for a day already begun is
ignored.

Replay safety: only the new signal sets ``EnrollmentState.out_of_office_until``;
while it is None every hook returns at once, without a command, so a run that never
receives the signal issues exactly the commands it always did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, time
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from outbound.domain.sequence import EnrollmentInput, EnrollmentState, OutOfOffice, StepState
    from outbound.domain.statuses import ProspectStatus, StepStatus
    from outbound.scheduling.windows import local_date, local_datetime

OUT_OF_OFFICE = "OutOfOffice"


class OutOfOfficeSteps:
    """The out-of-office wait of ``EnrollmentWorkflow`` (a mixin: its state is in
    ``EnrollmentState.out_of_office_until``, so continue-as-new carries it)."""

    if TYPE_CHECKING:  # what the workflow class provides
        _request: EnrollmentInput
        _state: EnrollmentState

        def _touch(self) -> None: ...
        def _first_time(self, key: str) -> bool: ...
        def _running_status(self) -> ProspectStatus: ...
        async def _publish(self) -> None: ...
        async def _sleep_until(self, moment: datetime) -> bool: ...

    @workflow.signal
    def out_of_office(self, notice: OutOfOffice) -> None:
        """An auto-reply states a return date: nothing goes before ``notice.resume_on``."""
        if not self._first_time(notice.key) or self._state.status.is_settled:
            return
        until = local_datetime(notice.resume_on, time(0), self._request.schedule.window.zone_name)
        if until <= workflow.now():
            return
        self._state.out_of_office_until = until
        self._touch()

    # -- hooks in the workflow -----------------------------------------------------------------

    def _paused_by_user(self) -> bool:
        """At start (or after continue-as-new): whether a Paused status is the user's, not
        the out-of-office wait's."""
        return self._state.status is ProspectStatus.PAUSED and not self._shows_out_of_office()

    def _pause_over_out_of_office(self) -> None:
        """The user pauses during the wait: the status is the user's now."""
        if self._shows_out_of_office():
            self._state.reason = None

    def _resume_out_of_office(self) -> None:
        """The user resumes a prospect held only by the wait: it ends at once."""
        if self._state.out_of_office_until is not None and not self._state.status.is_settled:
            self._end_out_of_office()
            self._touch()

    async def _waits_out_of_office(
        self, step: StepState, release: Callable[[], Awaitable[None]] | None
    ) -> bool:
        """While the wait holds: give the slot back (``release``), show Paused, sleep until
        its end or a change; True when it waited (the caller's loop looks again)."""
        until = self._state.out_of_office_until
        if until is None:
            return False
        if until <= workflow.now():
            self._end_out_of_office()
            self._touch()
            return False
        if release is not None:
            await release()
        step.status = StepStatus.PENDING
        self._state.status, self._state.reason = ProspectStatus.PAUSED, self._out_of_office_reason()
        await self._publish()
        await self._sleep_until(until)
        return True

    # -- state ---------------------------------------------------------------------------------

    def _out_of_office_reason(self) -> str | None:
        until = self._state.out_of_office_until
        if until is None:
            return None
        day = local_date(until, self._request.schedule.window.zone_name)
        return f"{OUT_OF_OFFICE} until {day.isoformat()}"

    def _shows_out_of_office(self) -> bool:
        reason = self._out_of_office_reason()
        return reason is not None and self._state.reason == reason

    def _end_out_of_office(self) -> None:
        if self._shows_out_of_office():
            self._state.reason = None
        self._state.out_of_office_until = None
        if not self._state.status.is_settled:
            self._state.status = self._running_status()
