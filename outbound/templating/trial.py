"""A test render with sample fields, made when a step is created or edited.

What it finds is refused at once (422) instead of failing a send days later:
a template the sandbox refuses (``{{ ''.__class__ }}``), and one whose render
already goes over its budget with ordinary field values (two nested
``range(100000)`` loops, ``'a' * 10**9``). What only real field values
reveal (a field used as a loop bound, a huge field) is caught at send time,
where the step fails as ``TemplateTooExpensive``. Other errors of the trial
(a sample value where a number was meant, say) say nothing about the real
fields and are ignored.
"""

from __future__ import annotations

import time

from outbound.templating.budget import Budget, TemplateTooExpensive
from outbound.templating.context import STANDARD_FIELDS, UNSUBSCRIBE_VARIABLE
from outbound.templating.render import UnsafeTemplate, fields_used, render

TRIAL_SECONDS = 3.0
"""All trial renders of one request together, so fifty slow steps cannot hold it for long."""
_SAMPLES = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Example Engines Ltd",
    "title": "Head of Engineering",
    "email": "ada.lovelace@example.com",
    UNSUBSCRIBE_VARIABLE: "https://outbound.invalid/unsubscribe/" + "x" * 64,
}
assert set(STANDARD_FIELDS) <= set(_SAMPLES)


def sample_fields(source: str) -> dict[str, str]:
    """A value for every field ``source`` uses: realistic ones for the standard fields."""
    return {name: _SAMPLES.get(name, f"sample {name}") for name in fields_used(source)}


def trial_deadline() -> float:
    """The deadline shared by the trial renders of one request (``time.monotonic``)."""
    return time.monotonic() + TRIAL_SECONDS


def trial_problem(source: str, deadline: float) -> str | None:
    """Why ``source`` cannot be accepted, found by rendering it with sample fields; or None."""
    try:
        render(source, sample_fields(source), Budget(deadline=deadline))
    except TemplateTooExpensive as error:
        return f"exceeds its rendering budget with sample fields: {error.limit}"
    except UnsafeTemplate as error:
        return f"the template sandbox refuses it: {error}"
    except Exception:  # the real fields may well render (see the module docstring)
        return None
    return None
