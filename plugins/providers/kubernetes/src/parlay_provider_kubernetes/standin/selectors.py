"""Kubernetes label selectors, as the API server reads `labelSelector`: requirements separated by commas,
each `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key` or `!key`."""

from __future__ import annotations

import re
from collections.abc import Callable

Labels = dict[str, str]
_SET = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def parse(text: str) -> Callable[[Labels], bool]:
    """A test of an object's labels; an empty selector selects everything. Raises ValueError naming the
    requirement that does not parse."""
    tests = [_requirement(part) for part in _split(text) if part.strip()]
    return lambda labels: all(test(labels) for test in tests)


def _split(text: str) -> list[str]:
    """The requirements: commas inside `in (...)` lists do not separate them."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _requirement(text: str) -> Callable[[Labels], bool]:
    if match := _SET.match(text):
        key, operator, listed = match.groups()
        values = {value.strip() for value in listed.split(",")}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQUALITY.match(text):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS.match(text):
        negated, key = match.groups()
        return lambda labels: (key in labels) != bool(negated)
    raise ValueError(f"unable to parse requirement: {text.strip()!r}")
