"""Problems with a request, reported as the field and the reason (answered as 4xx by the API)."""

from __future__ import annotations

from pydantic import BaseModel


class Problem(BaseModel):
    """One thing wrong with a request."""

    field: str
    reason: str
    prospect_ids: list[int] | None = None


class ProblemResponse(BaseModel):
    """Body of every 4xx answer."""

    detail: list[Problem]


class ProblemError(Exception):
    """Raise to answer ``status`` with a list of problems; nothing has been changed."""

    def __init__(
        self, status: int, problems: list[Problem], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(problems[0].reason if problems else "error")
        self.status = status
        self.problems = problems
        self.headers = headers


def not_found(kind: str, ident: int | str) -> ProblemError:
    """404 for an unknown id, naming the kind and id."""
    return ProblemError(404, [Problem(field=f"{kind}_id", reason=f"{kind} {ident} not found")])


def conflict(field: str, reason: str) -> ProblemError:
    """409: the request is valid but the object's state does not allow it."""
    return ProblemError(409, [Problem(field=field, reason=reason)])
