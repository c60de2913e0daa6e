"""Backend options, declared once with attrs: each option is a field with a default, a one-line meaning
(which the generated docs show) and checks, run when the backend is built and whenever an option is
assigned. A failed check raises the class's `option_error` (`ConfigurationError` unless the class says
otherwise) naming `Class.option=value` and what is allowed.

A plugin declares only its own options; `declare` gives inherited ones the plugin's defaults::

    @declare(defaults={"label": "mysched", "cmd_timeout": 30})
    class MySchedulerProvider(ClusterProvider):
        queue: str | None = option(None, "the queue to submit to (`--queue`)", optional(name), positional=True)
        exclusive: bool = option(False, "whole nodes, shared with no other job (`--exclusive`)", flag)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

import attrs

from parlay.errors import ConfigurationError

#: The field-metadata key of an option's one-line meaning.
HELP = "help"
#: The default of an option that must be given.
REQUIRED: Any = attrs.NOTHING

T = TypeVar("T", bound=type)


Validator = Callable[[Any, attrs.Attribute, Any], None]


def option(default: Any, help: str, *checks: Validator, positional: bool = False) -> Any:
    """An option: its default (`REQUIRED`, a value, or `attrs.Factory(...)` for a fresh object each time),
    its one-line meaning and its checks. Options are keyword-only unless `positional` (mandatory positional
    options come first, the others in the order they are declared, the parent class's first)."""
    return attrs.field(default=default, validator=list(checks) or None, kw_only=not positional, metadata={HELP: help})


def state(default: Any = None, *, factory: Callable[[], Any] | None = None) -> Any:
    """Runtime state (job tables, locks, caches): an attribute set by `__init__` but not an option, so not a
    constructor argument, not in the docs and not in the repr."""
    if factory is not None:
        return attrs.field(init=False, repr=False, factory=factory)
    return attrs.field(init=False, repr=False, default=default)


@overload
def declare(cls: T, /) -> T: ...
@overload
def declare(
    *, defaults: Mapping[str, Any] = ..., help: Mapping[str, str] = ..., internal: Iterable[str] = ...
) -> Callable[[T], T]: ...
def declare(
    cls: T | None = None,
    /,
    *,
    defaults: Mapping[str, Any] | None = None,
    help: Mapping[str, str] | None = None,
    internal: Iterable[str] = (),
) -> T | Callable[[T], T]:
    """Make `cls` an attrs class of options (mutable, compared by identity, checked on assignment).

    `defaults` and `help` give inherited options this class's default and meaning; `internal` names inherited
    options this class sets itself (in `__attrs_post_init__`) or leaves at their default: they stay attributes
    but are neither constructor arguments nor documented. Every option must have a meaning."""
    changes = {"defaults": dict(defaults or {}), "help": dict(help or {}), "internal": set(internal)}

    def build(cls: T) -> T:
        return attrs.define(
            cls, slots=False, eq=False, auto_attribs=True, field_transformer=lambda c, f: _redeclare(c, f, changes)
        )

    return build if cls is None else build(cls)


def _redeclare(cls: type, fields: list[attrs.Attribute], changes: dict[str, Any]) -> list[attrs.Attribute]:
    names = {field.name for field in fields}
    for what, named in changes.items():
        unknown = sorted(set(named) - names)
        if unknown:
            raise TypeError(f"declare({what}=...) of {cls.__name__}: no option named {', '.join(unknown)}")
    result = []
    for field in fields:
        if field.name in changes["defaults"]:
            field = field.evolve(default=changes["defaults"][field.name])
        if field.name in changes["help"]:
            field = field.evolve(metadata={**field.metadata, HELP: changes["help"][field.name]})
        if field.name in changes["internal"]:
            field = field.evolve(init=False)
        if any(field.name in named for named in changes.values()):
            field = field.evolve(inherited=False)  # so that subclasses inherit it as this class redeclares it
        if field.init and not field.metadata.get(HELP):
            raise TypeError(f"{cls.__name__}.{field.name} is an option without a meaning: declare it with option()")
        result.append(field)
    mandatory = [f for f in result if f.init and not f.kw_only and f.default is attrs.NOTHING]
    return mandatory + [f for f in result if f not in mandatory]


def options_of(cls: type) -> list[attrs.Attribute]:
    """The options of an attrs-declared class: its constructor's fields."""
    return [field for field in attrs.fields(cls) if field.init]


# --- checks -----------------------------------------------------------------------------------------


def invalid(instance: Any, name: str, value: Any, explanation: str) -> Exception:
    """The error for option `name` of `instance` set to `value`: `Class.name=value: explanation`."""
    error = getattr(type(instance), "option_error", ConfigurationError)
    return error(f"{type(instance).__name__}.{name}={value!r}: {explanation}")


@attrs.frozen
class Check:
    """An attrs validator: values for which `test` is true pass; others raise `invalid(...)` saying that
    `expected` was expected. Plugins make their own for what only they allow."""

    test: Callable[[Any], bool]
    expected: str

    def __call__(self, instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not self.test(value):
            raise invalid(instance, attribute.name, value, f"expected {self.expected}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def count(minimum: int) -> Check:
    """An integer (not a bool) >= `minimum`."""
    return Check(lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum, f"an integer >= {minimum}")


def amount(unit: str) -> Check:
    """A number > 0 of `unit` (seconds, gigabytes)."""
    return Check(lambda v: _is_number(v) and v > 0, f"{unit} > 0")


def non_negative(unit: str) -> Check:
    """A number >= 0 of `unit`."""
    return Check(lambda v: _is_number(v) and v >= 0, f"{unit} >= 0")


def optional(check: Check) -> Check:
    """None, or what `check` allows."""
    return Check(lambda v: v is None or check.test(v), f"{check.expected}, or None")


def one_of(*allowed: Any) -> Check:
    """One of `allowed`, of the same type (so True is not 1)."""
    shown = repr(allowed[0]) if len(allowed) == 1 else "one of " + ", ".join(map(repr, allowed))
    return Check(lambda v: any(type(v) is type(a) and v == a for a in allowed), shown)


#: A scheduler name (partition, queue, account, project, parallel environment...): a non-empty string
#: without spaces.
name = Check(lambda v: isinstance(v, str) and bool(v) and not any(c.isspace() for c in v), "a name without spaces")
#: True or False.
flag = Check(lambda v: isinstance(v, bool), "True or False")
#: A number from 0 to 1.
fraction = Check(lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1")
#: A string (lines of a script, verbatim).
text = Check(lambda v: isinstance(v, str), "a string")
#: A string of one line (surrounding blanks aside): command-line flags inserted verbatim.
one_line = Check(lambda v: isinstance(v, str) and len(v.strip().splitlines()) <= 1, "a string of one line")


def parse_duration(value: str | float | int | None, field: str) -> float | None:
    """Seconds from a number or an "HH:MM:SS" / "MM:SS" string; the error names `field`."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            parts = [float(p) for p in value.split(":")]
        except ValueError:
            parts = []
        if not 1 <= len(parts) <= 3:
            raise ConfigurationError(f"{field}={value!r}: expected seconds or 'HH:MM:SS'")
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + part
    else:
        raise ConfigurationError(f"{field}={value!r}: expected seconds or 'HH:MM:SS'")
    if seconds <= 0:
        raise ConfigurationError(f"{field}={value!r}: must be positive")
    return seconds


def duration(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Seconds (a number > 0) or an 'HH:MM:SS' string, as `walltime` takes them."""
    if value is None:
        raise invalid(instance, attribute.name, value, "expected seconds or 'HH:MM:SS'")
    parse_duration(value, f"{type(instance).__name__}.{attribute.name}")
