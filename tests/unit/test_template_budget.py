"""Templates run on a budget: the attacks of issue 25 stop at once, ordinary templates render."""

from __future__ import annotations

import time

import pytest

from outbound.templating.budget import Budget, Limits, TemplateTooExpensive
from outbound.templating.render import UnsafeTemplate, render, render_message
from outbound.templating.trial import trial_deadline, trial_problem

BIG = "{% set s = 'ab' * 45000 %}"  # 90,000 characters: within the limit on its own
ATTACKS = {
    "nested range loops": "{% for i in range(100000) %}{% for j in range(100000) %}x"
    "{% endfor %}{% endfor %}",
    "nested loops under the range limit": "{% for i in range(3000) %}{% for j in range(3000) %}"
    "x{% endfor %}{% endfor %}",
    "repetition": "{{ 'a' * 10**9 }}",
    "repeated list": "{{ ([1] * 10**8)|length }}",
    "power": "{{ 10**(10**10) }}",
    "center": "{{ 'a'.center(10**9) }}",
    "ljust": "{{ 'a'.ljust(10**9) }}",
    "zfill": "{{ 'a'.zfill(10**9) }}",
    "format width": "{{ '{:>1000000000}'.format(1) }}",
    "nested format width": "{{ '{:>{}}'.format(1, 10**9) }}",
    "repeated format field": BIG + "{{ ('{0}' * 5000).format(s) }}",
    "percent width": "{{ '%1000000000s' % 'a' }}",
    "format filter width": "{{ '%1000000000s'|format('a') }}",
    "center filter": "{{ 'a'|center(10**9) }}",
    "indent filter": "{{ ('\\n' * 50000)|indent(50000) }}",
    "replace": BIG + "{{ s|replace('a', s) }}",
    "replace method": BIG + "{{ s.replace('a', s) }}",
    "join of copies": BIG + "{{ [s, s, s, s, s, s, s, s, s, s, s, s]|join }}",
    "join method of copies": BIG + "{{ ''.join([s, s, s, s, s, s, s, s, s, s, s, s]) }}",
    "join with long glue": BIG + "{{ range(5000)|map('string')|join(s) }}",
    "mapped widths": "{{ range(10000)|map('center', 90000)|join }}",
    "text built in a set block": "{% set x %}{% for i in range(10000) %}"
    + "y" * 5000
    + "{% endfor %}{% endset %}{{ x|length }}",
    "concatenation": BIG + "{{ (s ~ s ~ s)|length }}",
    "doubling a list": "{% set l = ['a' * 1000] %}{% for i in range(40) %}{{ l.extend(l) }}"
    "{% endfor %}",
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "exponential macro": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}"
    "{% endmacro %}{{ f(40) }}",
    "expandtabs": "{{ ('\\t' * 50000).expandtabs(50000) }}",
}


@pytest.mark.parametrize("template", ATTACKS.values(), ids=ATTACKS.keys())
def test_an_expensive_template_stops_within_its_budget(template: str) -> None:
    began = time.monotonic()

    with pytest.raises(TemplateTooExpensive):
        render(template, {})

    assert time.monotonic() - began < Limits().seconds + 0.5


def test_the_clock_stops_work_the_counters_allow() -> None:
    slow = BIG + (
        "{% for i in range(9000) %}{% if s.find('c') > 0 %}x{% endif %}"
        "{% if 'ca' in s %}y{% endif %}{% endfor %}done"
    )
    began = time.monotonic()

    with pytest.raises(TemplateTooExpensive, match=r"took over 0\.05 s"):
        render(slow, {}, Budget(Limits(seconds=0.05)))

    assert time.monotonic() - began < 0.5


def test_a_field_value_over_the_output_limit_is_too_expensive() -> None:
    with pytest.raises(TemplateTooExpensive, match="100,000 characters"):
        render("Hi {{ notes }}", {"notes": "x" * 200_000})


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ 'abc'.translate({97: 'x' * 999}) }}",
        "{{ range.__globals__ }}",
    ],
)
def test_what_the_sandbox_refuses_is_an_unsafe_template(template: str) -> None:
    with pytest.raises(UnsafeTemplate):
        render(template, {})


def test_ordinary_templates_render_as_before() -> None:
    template = (
        "Hi {{ first_name|title }}, {% for i in range(3) %}{{ loop.index }}{% endfor %} "
        "{{ '%05d' % 42 }} {{ '{:>5}'.format('x') }} {{ 'a,b'.split(',')|join('-') }} "
        "{{ company ~ '!' }} {{ (first_name * 2)|upper }} {{ 2 ** 10 }} "
        "{% macro sig(n) %}-- {{ n }}{% endmacro %}{{ sig('Bea') }}"
    )

    rendered = render_message(
        "{{ first_name }} at {{ company }}", template, {"first_name": "ann", "company": "Acme"}
    )

    assert rendered.subject == "ann at Acme"
    assert rendered.body == "Hi Ann, 123 00042     x a-b Acme! ANNANN 1024 -- Bea"


def test_the_trial_render_names_the_limit_and_passes_what_only_real_fields_make_costly() -> None:
    deadline = trial_deadline()

    nested = trial_problem(ATTACKS["nested range loops"], deadline)
    refused = trial_problem("{{ ''.__class__ }}", deadline)
    field_bound = "{% for i in range(n|int) %}{% for j in range(n|int) %}x{% endfor %}{% endfor %}"

    assert nested is not None and "10,000 loop iterations" in nested
    assert refused is not None and "sandbox refuses" in refused
    assert trial_problem(field_bound, deadline) is None  # n is a sample word: no loop
    assert trial_problem("Hi {{ first_name }} {{ 1 / (n|int) }}", deadline) is None
    with pytest.raises(TemplateTooExpensive):
        render(field_bound, {"n": "5000"})
