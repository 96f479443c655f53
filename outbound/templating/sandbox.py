"""jinja2's sandbox, with every costly thing a template can do charged to a budget.

``SandboxedEnvironment`` stops a template from reaching Python's internals;
:class:`BudgetedEnvironment` also stops it from spending without limit
(``outbound.templating.budget``). What it charges, and where:

* loops: each ``{% for %}`` is rewritten at parse time to iterate through a
  counting generator (one iteration each item), and ``range`` refuses a range
  longer than all the iterations a render may make;
* operators: ``* ** + %`` (and the rest) are intercepted; a repetition, a
  power or a ``%``-format whose result would be too large is refused before
  it is built;
* calls and filters: counted as operations; those that can grow their input
  many times (widths of ``center``/``ljust``/``zfill``…, ``replace``,
  ``join``, ``indent``, ``expandtabs``, ``format``, ``batch``) are refused
  when the result they would build is too large, and every result is
  measured and charged;
* output: every piece of text written (top level, macros, ``set`` blocks)
  goes through a charging filter too, so text built in a loop is counted
  where it is built, not only when it reaches the output;
* ``~`` (concatenation) is rewritten to a charging filter.

Every charge checks the render's deadline, so a render over its time stops
at its next step. A few filters whose cost cannot be bounded cheaply
(``striptags``, ``urlize``, ``wordwrap``, ``xmlattr``) and the ``lipsum``
global are not offered, and strings offer only the methods listed in
``_STR_METHODS`` (none of them grows a string without a size argument we check).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from typing import Any

from jinja2 import nodes
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import pass_context
from jinja2.visitor import NodeTransformer

from outbound.templating.budget import Budget, current, size_of

_LOOP, _EMIT, _CONCAT = "outbound_loop", "outbound_emit", "outbound_concat"
_NOT_OFFERED = frozenset({"striptags", "urlize", "wordwrap", "xmlattr"})
_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "center", "count", "endswith", "expandtabs", "find",
        "format", "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal",
        "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join", "ljust",
        "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind",
        "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines",
        "startswith", "strip", "swapcase", "title", "upper", "zfill",
    }
)  # fmt: skip
_WIDTHS = frozenset({"center", "ljust", "rjust", "zfill"})
_PERCENT_SPEC = re.compile(r"%[#0 +\-]*(\d+|\*)?(?:\.(\d+|\*))?")
_DIGITS = re.compile(r"\d+")
_VALUE_ARGUMENTS = frozenset({"format", "default", "d", "replace", "join", "indent"})
"""Filters whose integer arguments are values, not sizes (or are sized below)."""


class BudgetedEnvironment(SandboxedEnvironment):
    """A sandbox whose renders spend from ``budget.current()`` (see the module docstring)."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _budgeted_range
        self.globals.pop("lipsum", None)
        offered = {k: v for k, v in self.filters.items() if k not in _NOT_OFFERED}
        self.filters = {name: _budgeted_filter(name, f) for name, f in offered.items()}
        self.filters.update({_LOOP: _counted, _EMIT: _emitted, _CONCAT: _concatenated})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        rewritten = _Charging().visit(tree)
        assert isinstance(rewritten, nodes.Template)
        return rewritten

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr not in _STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        current().operate()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        current().operate()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = current()
        budget.operate()
        _check_binop(budget, operator, left, right)
        result = self.binop_table[operator](left, right)
        _charge(budget, result)
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.operate()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and getattr(__obj, "__name__", "") == "join" and args:
            args = (_materialised(args[0]), *args[1:])
        budget.fits(_call_size(budget, __obj, owner, args, kwargs), "a value")
        result = super().call(__context, __obj, *args, **kwargs)
        _charge(budget, result)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        pattern: str = value.__self__
        mapping = value.__name__ == "format_map"

        def budgeted(*args: Any, **kwargs: Any) -> str:
            budget = current()
            values = list(args[0].values()) if mapping and args else [*args, *kwargs.values()]
            budget.fits(_format_size(budget, pattern, values), "a formatted string")
            return wrapped(*args, **kwargs)

        return functools.update_wrapper(budgeted, wrapped)


class _Charging(NodeTransformer):
    """Route loops, written text and ``~`` through the charging filters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, _LOOP)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            _filter(nodes.Const(child.data, lineno=child.lineno), _EMIT)
            if isinstance(child, nodes.TemplateData)
            else _filter(child, _EMIT)
            for child in node.nodes
        ]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.List(node.nodes, lineno=node.lineno), _CONCAT)


def _filter(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


@pass_context
def _counted(_context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    budget = current()
    for item in iterable:
        budget.iterate()
        yield item


@pass_context
def _emitted(_context: Context, value: Any) -> Any:
    budget = current()
    size = size_of(value, budget.limits.characters)
    budget.fits(size, "a printed value")
    budget.produce(size)
    return value


@pass_context
def _concatenated(_context: Context, values: list[Any]) -> str:
    budget = current()
    size = size_of(values, budget.limits.characters)
    budget.fits(size, "a joined string (~)")
    budget.produce(size)
    return "".join(map(str, values))


def _budgeted_range(*args: int) -> range:
    numbers = range(*args)
    try:
        items = len(numbers)
    except OverflowError:
        items = current().limits.iterations + 1
    current().loop_of(items)
    return numbers


def _budgeted_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    passes = getattr(function, "jinja_pass_arg", None) is not None  # context first

    @functools.wraps(function)
    def budgeted(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.operate()
        value, rest = (args[1], args[2:]) if passes else (args[0], args[1:])
        if name == "join":
            value = _materialised(value)
            args = (args[0], value, *rest) if passes else (value, *rest)
        budget.fits(_filter_size(budget, name, value, rest, kwargs), f"the result of |{name}")
        result = function(*args, **kwargs)
        _charge(budget, result)
        return result

    return budgeted


def _materialised(items: Any) -> Any:
    """A one-shot iterable as a list, so its size can be known before a join."""
    return items if isinstance(items, (Sized, Undefined)) else list(items)


def _charge(budget: Budget, result: Any) -> None:
    size = size_of(result, budget.limits.characters)
    budget.fits(size, "a value")
    budget.produce(size)


def _check_binop(budget: Budget, op: str, left: Any, right: Any) -> None:
    cap = budget.limits.characters
    if _is_int(left) and _is_int(right):
        bits = max(abs(left).bit_length(), abs(right).bit_length(), 1)
        if op == "*":
            budget.fits_integer(abs(left).bit_length() + abs(right).bit_length())
        elif op == "**" and right > 0 and abs(left) > 1:
            budget.fits_integer(right if right > cap else abs(left).bit_length() * right)
        else:
            budget.fits_integer(bits + 1)
    elif op == "*" and (_is_int(left) or _is_int(right)):
        times, repeated = (left, right) if _is_int(left) else (right, left)
        if times > 0:
            budget.fits(size_of(repeated, cap) * times, "a repeated value")
    elif op == "+":
        budget.fits(size_of(left, cap) + size_of(right, cap), "a sum")
    elif op == "%" and isinstance(left, str):
        budget.fits(_percent_size(budget, left, right), "a %-formatted string")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _largest_int(values: Iterable[Any]) -> int:
    return max((abs(v) for v in values if _is_int(v)), default=0)


def _percent_size(budget: Budget, pattern: str, arguments: Any) -> int:
    """At most how long ``pattern % arguments`` is."""
    cap = budget.limits.characters
    if isinstance(arguments, Mapping):
        values: list[Any] = list(arguments.values())
    elif isinstance(arguments, tuple):
        values = list(arguments)
    else:
        values = [arguments]
    widest = 0
    for spec in _PERCENT_SPEC.finditer(pattern):
        for number in spec.groups():
            if number == "*":
                widest = max(widest, _largest_int(values))
            elif number:
                widest = max(widest, int(number) if len(number) < 10 else cap + 1)
    largest = max((size_of(v, cap) for v in values), default=0)
    return len(pattern) + pattern.count("%") * (largest + widest)


def _format_size(budget: Budget, pattern: str, values: list[Any]) -> int:
    """At most how long ``pattern.format(*values)`` is."""
    cap = budget.limits.characters
    fields = widest = 0
    for _literal, field, spec, _conversion in string.Formatter().parse(pattern):
        if field is None:
            continue
        fields += 1
        for number in _DIGITS.findall(spec or ""):
            widest = max(widest, int(number) if len(number) < 10 else cap + 1)
        if spec and "{" in spec:
            widest = max(widest, _largest_int(values))
    largest = max((size_of(v, cap) for v in values), default=0)
    return len(pattern) + fields * (largest + widest)


def _call_size(
    budget: Budget, function: Any, owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> int:
    """At most how large the arguments and the result of a call are."""
    cap = budget.limits.characters
    given = (owner, args, tuple(kwargs.values())) if owner is not None else (args, kwargs)
    size = size_of(given, cap)
    if not isinstance(owner, str):
        return size
    name = getattr(function, "__name__", "")
    if name in _WIDTHS and args and _is_int(args[0]):
        size += args[0]
    elif name == "expandtabs":
        size += owner.count("\t") * _largest_int([*args, *kwargs.values(), 8])
    elif name == "replace":
        size += _replace_growth(owner, args)
    elif name == "join" and args and isinstance(args[0], Sized):
        size += len(owner) * len(args[0])
    return size


def _replace_growth(text: Any, args: tuple[Any, ...] | list[Any]) -> int:
    if len(args) < 2 or not isinstance(text, str):
        return 0
    old, new = str(args[0]), str(args[1])
    hits = len(text) + 1 if not old else text.count(old)
    return hits * len(new)


def _filter_size(
    budget: Budget, name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> int:
    """At most how large a filter's input and result are."""
    cap = budget.limits.characters
    size = size_of((value, args, tuple(kwargs.values())), cap)
    if name == "format":
        size += _percent_size(budget, str(value), kwargs or args)
    elif name == "replace":
        size += _replace_growth(value, args)
    elif name == "join" and isinstance(value, Sized):
        glue = args[0] if args else kwargs.get("d", "")
        size += len(str(glue)) * len(value)
    elif name == "indent" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 4)
        size += (value.count("\n") + 1) * (width if _is_int(width) else len(str(width)))
    if name not in _VALUE_ARGUMENTS:
        size += sum(abs(a) for a in (*args, *kwargs.values()) if _is_int(a))
    return size
