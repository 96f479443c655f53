"""Build the template variables of a prospect.

Empty values are left out on purpose: ``Hi {{ first_name }}`` for a prospect
whose first name is blank must be reported as missing, not sent as "Hi ,".
"""

from __future__ import annotations

from collections.abc import Mapping

STANDARD_FIELDS = ("first_name", "last_name", "company", "title")
UNSUBSCRIBE_VARIABLE = "unsubscribe_url"
"""Filled in per message at send time (its signed one-click link), never a prospect's field."""


def prospect_context(
    standard: Mapping[str, str | None], custom: Mapping[str, str], email: str | None
) -> dict[str, str]:
    """Variables for one prospect: standard fields, ``email``, then custom fields."""
    context: dict[str, str] = {}
    for name in STANDARD_FIELDS:
        value = standard.get(name)
        if value and value.strip():
            context[name] = value.strip()
    if email:
        context["email"] = email
    for name, value in custom.items():
        if value is not None and str(value).strip():
            context[name] = str(value).strip()
    return context
