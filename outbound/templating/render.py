"""Render subjects and bodies in jinja2's sandbox with StrictUndefined, on a budget.

A field a prospect lacks (or has empty) must never become a blank in a sent
mail: rendering raises :class:`MissingField`, and :func:`find_missing_fields`
lets campaign start reject the whole campaign before anything is sent.

Every render spends from a :class:`~outbound.templating.budget.Budget`
(``outbound.templating.sandbox``): over it, :class:`TemplateTooExpensive`. A
template reaching for what the sandbox forbids raises :class:`UnsafeTemplate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import SecurityError

from outbound.templating.budget import Budget, TemplateTooExpensive, spending
from outbound.templating.sandbox import BudgetedEnvironment

_ENVIRONMENT = BudgetedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
__all__ = ["Budget", "MissingField", "TemplateTooExpensive", "UnsafeTemplate", "render"]


class MissingField(Exception):
    """A template used a field the prospect does not have."""

    def __init__(self, field: str) -> None:
        super().__init__(f"template uses field {field!r}, which this prospect lacks")
        self.field = field


class UnsafeTemplate(Exception):
    """The sandbox refused something the template does (``{{ ''.__class__ }}``, say)."""


@dataclass(frozen=True)
class RenderedMessage:
    """Subject and plain-text body after personalisation."""

    subject: str
    body: str


@dataclass(frozen=True)
class MissingFieldProblem:
    """One field some prospects lack, for the 422 at campaign start."""

    field: str
    prospect_ids: list[int]


def syntax_error(source: str) -> str | None:
    """The template's syntax error as a sentence, or None when it parses."""
    try:
        _ENVIRONMENT.parse(source)
    except TemplateSyntaxError as error:
        return f"template syntax error on line {error.lineno}: {error.message}"
    except RecursionError:  # jinja's parser recurses per level of {{ {{ {{ … or ((( …
        return "template syntax error: expressions nested too deeply"
    return None


def fields_used(source: str) -> frozenset[str]:
    """Top-level variable names a template reads."""
    return _fields_used(source)


@lru_cache(maxsize=1024)
def _fields_used(source: str) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(_ENVIRONMENT.parse(source)))


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    """Compiling costs far more than rendering, and every prospect of a step shares the
    source: a send compiled its subject and body anew each time (a jinja2 template is
    safe to render from many threads at once)."""
    return _ENVIRONMENT.from_string(source)


def render(source: str, context: Mapping[str, object], budget: Budget | None = None) -> str:
    """Render one template within ``budget`` (a fresh one by default).

    Raises :class:`MissingField`, :class:`TemplateTooExpensive` or :class:`UnsafeTemplate`.
    """
    budget = budget or Budget()
    parts: list[str] = []
    written = 0
    try:
        with spending(budget):
            for chunk in _compiled(source).generate(dict(context)):
                written += len(chunk)
                budget.fits(written, "an output")
                budget.check_time()
                parts.append(chunk)
    except SecurityError as error:
        raise UnsafeTemplate(str(error)) from None
    except UndefinedError:
        missing = sorted(fields_used(source) - context.keys())
        raise MissingField(missing[0] if missing else "unknown") from None
    except RecursionError:
        raise TemplateTooExpensive("macros or loops nested too deep") from None
    return "".join(parts)


def render_message(
    subject: str, body: str, context: Mapping[str, object], budget: Budget | None = None
) -> RenderedMessage:
    """Render a step (subject and body from one budget); the subject is collapsed to one
    line so it is a safe header."""
    budget = budget or Budget()
    # One line, no control characters: a prospect's field must not break the header.
    rendered = "".join(c if c.isprintable() else " " for c in render(subject, context, budget))
    rendered_subject = " ".join(rendered.split())
    return RenderedMessage(subject=rendered_subject, body=render(body, context, budget))


def find_missing_fields(
    templates: Iterable[str], contexts: Mapping[int, Mapping[str, object]]
) -> list[MissingFieldProblem]:
    """For each field the templates use, the prospects (by id) whose context lacks it."""
    used: set[str] = set()
    for source in templates:
        used |= fields_used(source)
    problems = []
    for field in sorted(used):
        lacking = sorted(pid for pid, context in contexts.items() if field not in context)
        if lacking:
            problems.append(MissingFieldProblem(field=field, prospect_ids=lacking))
    return problems
