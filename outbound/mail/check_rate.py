"""How often a user may make the server connect to a mail server on their behalf.

The login checks (``POST /mailboxes/{id}/reconnect``, ``PUT /mailboxes/{id}/imap``,
and the one Start makes) connect wherever a mailbox's settings point, so each
workspace (:func:`rate_key`) gets at most :data:`CHECKS` of them per
:data:`WINDOW_SECONDS`: enough to start a campaign on each of a team's
mailboxes, too few to scan a network. Counted in this process:
with several API processes the limit is per process.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from outbound.domain.problems import Problem, ProblemError
from outbound.mail.hosts import HostPolicy
from outbound.settings import Settings

CHECKS = 60
WINDOW_SECONDS = 300.0


class TooManyChecks(ProblemError):
    """429: the key used up its checks; says when the next one is allowed."""

    def __init__(self, retry_after: float) -> None:
        seconds = max(math.ceil(retry_after), 1)
        super().__init__(
            429,
            [
                Problem(
                    field="mailbox_id",
                    reason=(
                        f"too many connection checks: at most {CHECKS} in "
                        f"{WINDOW_SECONDS / 60:g} minutes; try again in {seconds} s"
                    ),
                )
            ],
        )
        self.retry_after = seconds


def rate_key(workspace_id: int) -> str:
    """Whose checks are counted together: the workspace's."""
    return f"workspace:{workspace_id}"


@dataclass
class ConnectionChecks:
    """The host policy and the rate of login checks, one per API process."""

    hosts: HostPolicy
    clock: Callable[[], float] = time.monotonic
    _recent: dict[str, deque[float]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionChecks:
        return cls(HostPolicy.from_settings(settings))

    def take(self, key: str) -> None:
        """Count one check for ``key``; raises :class:`TooManyChecks` when over the rate."""
        now = self.clock()
        recent = self._recent.setdefault(key, deque())
        while recent and recent[0] <= now - WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= CHECKS:
            raise TooManyChecks(recent[0] + WINDOW_SECONDS - now)
        recent.append(now)
        if len(self._recent) > 10_000:  # forget idle keys now and then
            for idle in [
                k for k, v in self._recent.items() if not v or v[-1] <= now - WINDOW_SECONDS
            ]:
                del self._recent[idle]

    def refuse_settings(self, host: str, port: int, host_field: str, port_field: str) -> None:
        """422 for a mail server's host or port the deployment does not allow, as far as
        can be told without DNS (names are checked at each connection)."""
        problems = [
            Problem(field=name, reason=reason)
            for name, reason in (
                (host_field, self.hosts.host_problem(host)),
                (port_field, self.hosts.port_problem(port)),
            )
            if reason is not None
        ]
        if problems:
            raise ProblemError(422, problems)
