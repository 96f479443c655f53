"""Personalisation never sends a blank: missing or empty fields are errors."""

from __future__ import annotations

import pytest

from outbound.templating.context import prospect_context
from outbound.templating.render import (
    MissingField,
    UnsafeTemplate,
    fields_used,
    find_missing_fields,
    render,
    render_message,
    syntax_error,
)


def test_renders_standard_and_custom_fields() -> None:
    context = prospect_context(
        {"first_name": " Ann ", "company": "Acme", "title": ""}, {"role": "CTO"}, "ann@example.com"
    )

    rendered = render_message(
        "{{ first_name }}, {{ role }} at {{ company }}?",
        "Hi {{ first_name }} ({{ email }})",
        context,
    )

    assert rendered.subject == "Ann, CTO at Acme?"
    assert rendered.body == "Hi Ann (ann@example.com)"


def test_an_empty_field_is_missing_not_blank() -> None:
    context = prospect_context({"first_name": "", "last_name": "Lee"}, {"team": "  "}, None)

    assert set(context) == {"last_name"}
    with pytest.raises(MissingField) as missing:
        render("Hi {{ first_name }}", context)
    assert missing.value.field == "first_name"


def test_missing_field_inside_a_filter_or_condition_is_still_missing() -> None:
    with pytest.raises(MissingField):
        render("{{ company | upper }}", {"first_name": "Ann"})


def test_find_missing_fields_names_each_field_and_the_prospects_lacking_it() -> None:
    problems = find_missing_fields(
        ["Hi {{ first_name }}", "{{ company }} / {{ first_name }}"],
        {1: {"first_name": "A", "company": "C"}, 2: {"company": "C"}, 3: {}},
    )

    assert [(p.field, p.prospect_ids) for p in problems] == [
        ("company", [3]),
        ("first_name", [2, 3]),
    ]


def test_subject_becomes_one_line_even_if_a_field_holds_a_newline() -> None:
    rendered = render_message("Hi {{ name }}", "", {"name": "Ann\r\nBcc: evil@example.com\x00"})

    assert rendered.subject == "Hi Ann Bcc: evil@example.com"


def test_the_sandbox_refuses_unsafe_attribute_access() -> None:
    with pytest.raises(UnsafeTemplate):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_syntax_errors_are_reported_with_their_line() -> None:
    assert syntax_error("Hi {{ first_name }}") is None
    error = syntax_error("line one\nHi {{ first_name")
    assert error is not None and "line 2" in error


def test_fields_used_lists_top_level_variables_only() -> None:
    assert fields_used("{% for x in items %}{{ x }}{% endfor %}{{ a.b }}") == {"items", "a"}
