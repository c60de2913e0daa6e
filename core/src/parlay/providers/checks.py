"""Checks of provider options: each raises `ConfigurationError` naming `Owner.field`, the value and what
is allowed, so a wrong config fails when it is built, not when a job is submitted."""

from __future__ import annotations

from typing import Any

from parlay.errors import ConfigurationError


def check_count(owner: str, field: str, value: Any, minimum: int, optional: bool = False) -> None:
    """An integer >= `minimum` (or None when `optional`)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{owner}.{field}={value!r}: expected an integer >= {minimum}" + _or_none(optional))


def check_amount(owner: str, field: str, value: Any, unit: str, optional: bool = True) -> None:
    """A number > 0 of `unit` (gigabytes, seconds), or None when `optional`."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigurationError(f"{owner}.{field}={value!r}: expected {unit} > 0" + _or_none(optional))


def check_name(owner: str, field: str, value: Any) -> None:
    """A scheduler name (partition, queue, account, project...): None, or a non-empty string without spaces."""
    if value is not None and (not isinstance(value, str) or not value or any(c.isspace() for c in value)):
        raise ConfigurationError(f"{owner}.{field}={value!r}: expected a name without spaces, or None")


def check_flag(owner: str, field: str, value: Any) -> None:
    """True or False."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{owner}.{field}={value!r}: expected True or False")


def _or_none(optional: bool) -> str:
    return " or None" if optional else ""
