"""Long ``IN (…)`` lists in slices the database accepts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

IN_CHUNK = 5_000
"""Values per ``IN (…)``: SQLite refuses a statement of more than 32,766 parameters."""


def chunked(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``, for ``IN (…)`` queries of any length."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
