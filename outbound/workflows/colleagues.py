"""Company rules: the part of ``EnrollmentWorkflow`` that hears of colleagues' endings.

The ``colleague_ended`` signal comes from the database write that records a
colleague's ending (``activities.records`` → ``store.colleagues``): a prospect of
the same company in this campaign replied, bounced hard or opted out, or (one per
company) simply ended. With the campaign's rule ``stop`` the sequence ends Stopped
with the reason ``ColleagueReplied`` (``ColleagueBounced``, ``ColleagueOptedOut``),
its slot given back as after any stop; with ``pause`` it shows Paused with that
reason, and the user's Resume goes on. Nothing names the colleague's address. A
sequence already ended, or settled, is left as it is; the same colleague's ending
signalled twice acts once (``EnrollmentState.colleague_keys``).

One prospect per company at a time (``EnrollmentInput.one_per_company``): before
its first step the sequence asks whether an unfinished colleague was enrolled
before it (the ``company_turn`` local activity); while one is, it shows NotStarted
with the reason ``WaitingForColleague`` and waits for a ``colleague_ended`` signal
(or looks again every ``TURN_RECHECK``, should a signal be lost), then starts: its
first step takes a slot from then on (the grace delay long past).

Replay safety: only the new signal acts, and the turn is asked only when the new
optional input field is true, so a run that has neither issues exactly the
commands it always did.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from outbound.domain.company_rules import (
        COLLEAGUE_ENDED_SIGNAL,
        COLLEAGUE_REASONS,
        WAITING_FOR_COLLEAGUE,
        ColleagueEnded,
        CompanyRule,
        CompanyTurnRequest,
        colleague_reason,
    )
    from outbound.domain.sequence import EnrollmentInput, EnrollmentState
    from outbound.domain.statuses import ProspectStatus

from outbound.workflows.store_calls import local_write

TURN_RECHECK = timedelta(hours=6)
COLLEAGUE_KEYS_KEPT = 200
_REASONS = frozenset(COLLEAGUE_REASONS.values())


class ColleagueRules:
    """Company rules of ``EnrollmentWorkflow`` (a mixin: its state is in
    ``EnrollmentState.colleague_keys``, so continue-as-new carries it)."""

    _colleague_news = False  # a colleague ended since the turn was last asked

    if TYPE_CHECKING:  # what the workflow class provides
        _request: EnrollmentInput
        _state: EnrollmentState
        _paused: bool

        @property
        def _is_terminal(self) -> bool: ...
        def _touch(self) -> None: ...
        def _finish(self, status: ProspectStatus, reason: str | None = None) -> bool: ...
        async def _publish(self) -> None: ...
        async def _continue_as_new(self) -> None: ...

    @workflow.signal(name=COLLEAGUE_ENDED_SIGNAL)
    def colleague_ended(self, news: ColleagueEnded) -> None:
        """A colleague's sequence ended: apply the campaign's rule; a wait for the
        company's turn looks again."""
        self._colleague_news = True
        if news.rule is CompanyRule.OFF or news.key in self._state.colleague_keys:
            return
        self._state.colleague_keys = [*self._state.colleague_keys, news.key][-COLLEAGUE_KEYS_KEPT:]
        reason = colleague_reason(news.ended_as)
        if news.rule is CompanyRule.STOP:
            self._finish(ProspectStatus.STOPPED, reason)
        elif not self._state.status.is_settled:
            self._paused = True
            self._state.status, self._state.reason = ProspectStatus.PAUSED, reason
            self._touch()

    # -- hooks in the workflow -----------------------------------------------------------------

    def _end_colleague_pause(self) -> None:
        """The user resumes a prospect a colleague's ending paused: the reason goes."""
        if self._state.reason in _REASONS:
            self._state.reason = None

    async def _await_company_turn(self) -> None:
        """One prospect per company: before the first step, wait while a colleague enrolled
        earlier is under way (returns at once, without a command, when the option is off)."""
        if not self._request.one_per_company:
            return
        while not self._is_terminal and self._state.current_step == 0:
            self._colleague_news = False
            mine = await local_write(
                "company_turn",
                CompanyTurnRequest(enrollment_id=self._request.enrollment_id),
                bool,
            )
            if mine:
                break
            if self._state.reason is None and not self._state.status.is_settled:
                self._state.reason = WAITING_FOR_COLLEAGUE
                self._touch()
                await self._publish()
            await self._wait_for_colleague(workflow.now() + TURN_RECHECK)
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
        if self._state.reason == WAITING_FOR_COLLEAGUE:
            self._state.reason = None
            self._touch()

    async def _wait_for_colleague(self, until: datetime) -> None:
        with contextlib.suppress(TimeoutError):  # look again anyway
            await workflow.wait_condition(
                lambda: self._colleague_news or self._is_terminal,
                timeout=until - workflow.now(),
            )
