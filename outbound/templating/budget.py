"""What one render may spend, and the account of what it has spent.

A step's templates are written by users of the API, so a render is treated as
untrusted work: it gets a fixed allowance of loop iterations, operations
(calls, attribute lookups, operators), characters produced and wall-clock
time. The sandbox (``outbound.templating.sandbox``) charges every one of
those to the :class:`Budget` of the render in progress, and checks the clock
at each charge, so a render over any limit stops with
:class:`TemplateTooExpensive` instead of running on.

Sizes are charged *before* an operation builds its result where that result
could be large (``'a' * 10**9``, ``s.center(10**9)``, a join of many copies
of one long string): :func:`size_of` measures a value as the characters it
would print as, stopping as soon as it is over the limit, so measuring a
huge or self-referencing value is itself cheap.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

MAX_BODY_CHARS = 20_000
"""Longest body template (the subject's limit, 998, is the header line's)."""


@dataclass(frozen=True)
class Limits:
    """The allowance of one render (subject and body together at send time)."""

    characters: int = 100_000
    """Characters of output, and of any value built on the way."""
    iterations: int = 10_000
    """Loop iterations, summed over every loop (and items of any ``range``)."""
    operations: int = 100_000
    """Calls, filters, attribute lookups and arithmetic."""
    seconds: float = 1.0
    """Wall-clock time."""
    integer_bits: int = 4_096
    """Bits of any integer computed (``10**10**10`` would take a gigabyte)."""


LIMITS = Limits()


class TemplateTooExpensive(Exception):
    """A render went over one of its limits; ``limit`` says which, in words."""

    def __init__(self, limit: str) -> None:
        super().__init__(f"the template exceeds its rendering budget: {limit}")
        self.limit = limit


class Budget:
    """The running account of one render; every charge also checks the clock."""

    def __init__(self, limits: Limits = LIMITS, deadline: float | None = None) -> None:
        self.limits = limits
        own = time.monotonic() + limits.seconds
        self.deadline = own if deadline is None else min(own, deadline)
        self.iterations = 0
        self.operations = 0
        self.produced = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateTooExpensive(f"rendering took over {self.limits.seconds:g} s")

    def iterate(self) -> None:
        self.iterations += 1
        if self.iterations > self.limits.iterations:
            raise TemplateTooExpensive(f"over {self.limits.iterations:,} loop iterations")
        self.check_time()

    def loop_of(self, items: int) -> None:
        """A ``range`` of ``items``: refused at once when it alone is over the limit."""
        if items > self.limits.iterations:
            raise TemplateTooExpensive(
                f"a range of {items:,} items (over {self.limits.iterations:,} loop iterations)"
            )

    def operate(self) -> None:
        self.operations += 1
        if self.operations > self.limits.operations:
            raise TemplateTooExpensive(f"over {self.limits.operations:,} operations")
        self.check_time()

    def produce(self, characters: int) -> None:
        """Characters written anywhere (output, a macro's text, a ``set`` block)."""
        self.produced += characters
        if self.produced > 10 * self.limits.characters:
            raise TemplateTooExpensive(
                f"over {10 * self.limits.characters:,} characters written on the way"
            )
        self.check_time()

    def fits(self, size: int, what: str = "a value") -> None:
        """Refuse ``what`` (about to be built, or just built) if it is over the size limit."""
        if size > self.limits.characters:
            raise TemplateTooExpensive(f"{what} of over {self.limits.characters:,} characters")

    def fits_integer(self, bits: int) -> None:
        if bits > self.limits.integer_bits:
            raise TemplateTooExpensive(f"a number of over {self.limits.integer_bits:,} bits")


_CURRENT: ContextVar[Budget] = ContextVar("outbound_render_budget")


def current() -> Budget:
    """The budget of the render in progress in this thread (``spending`` sets it)."""
    try:
        return _CURRENT.get()
    except LookupError:
        raise RuntimeError("templates render only through outbound.templating.render") from None


class spending:
    """``with spending(budget):`` charges the sandbox's work in this thread to ``budget``."""

    def __init__(self, budget: Budget) -> None:
        self._budget = budget

    def __enter__(self) -> Budget:
        self._token = _CURRENT.set(self._budget)
        return self._budget

    def __exit__(self, *_exc: object) -> None:
        _CURRENT.reset(self._token)


def size_of(value: object, cap: int) -> int:
    """About how many characters ``value`` prints as; stops counting past ``cap``.

    Strings count their length, integers their digits, containers their items
    (each item at least one, each repeated reference again, as printing would),
    anything else one. Iterative, so deep nesting or a list holding itself
    costs at most ``cap`` steps.
    """
    total = 1  # each value counts one as it is found, and the rest of its length when seen
    pending: list[object] = [value]
    while pending and total <= cap:
        item = pending.pop()
        children: Iterable[object] = ()
        if isinstance(item, str | bytes):
            total += max(len(item) - 1, 0)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += abs(item).bit_length() // 4
        elif isinstance(item, Mapping):
            children = itertools.chain.from_iterable(item.items())
        elif isinstance(item, list | tuple | set | frozenset):
            children = item
        found = list(itertools.islice(children, max(cap - total + 1, 0)))
        total += len(found)
        pending += found
    return total
