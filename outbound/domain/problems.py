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


class FieldProblem(ValueError):
    """Raise in a model-level validator to name the field at fault, not the whole body.

    Pydantic reports a model validator's error at the model's own location; the
    API's error handler appends ``field`` to it (``steps[0]`` + ``subject``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


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
