"""Which arguments of a task are dependencies, and how they are replaced by their results.

Shallow (the default): futures passed directly as arguments, keyword arguments or elements of `inputs`.
Deep: also futures nested in lists, tuples, sets and dict keys and values.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

#: `Config.dependency_resolver` values, by Parsl's names too (`DEEP_DEPENDENCY_RESOLVER`).
SHALLOW, DEEP = "shallow", "deep"


class ShallowResolver:
    """Futures given directly as arguments, keyword arguments or elements of `inputs`."""

    def gather(self, args: tuple, kwargs: dict[str, Any]) -> list[Future]:
        deps = [a for a in args if isinstance(a, Future)]
        for name, value in kwargs.items():
            if isinstance(value, Future):
                deps.append(value)
            elif name == "inputs" and isinstance(value, (list, tuple)):
                deps.extend(v for v in value if isinstance(v, Future))
        return deps

    def unwrap(self, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        args = tuple(a.result() if isinstance(a, Future) else a for a in args)
        new_kwargs = {}
        for name, value in kwargs.items():
            if isinstance(value, Future):
                value = value.result()
            elif name == "inputs" and isinstance(value, (list, tuple)):
                value = [v.result() if isinstance(v, Future) else v for v in value]
            new_kwargs[name] = value
        return args, new_kwargs


class DeepResolver:
    """Futures anywhere inside lists, tuples, sets and dicts (keys and values)."""

    def gather(self, args: tuple, kwargs: dict[str, Any]) -> list[Future]:
        deps: list[Future] = []
        _walk(args, deps)
        _walk(kwargs, deps)
        return deps

    def unwrap(self, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        return _replace(args), _replace(kwargs)


def _walk(value: Any, found: list[Future]) -> None:
    if isinstance(value, Future):
        found.append(value)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _walk(item, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(key, found)
            _walk(item, found)


def _replace(value: Any) -> Any:
    if isinstance(value, Future):
        return value.result()
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(_replace(v) for v in value))
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_replace(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_replace(k), _replace(v)) for k, v in value.items())
    return value


RESOLVERS = {SHALLOW: ShallowResolver(), DEEP: DeepResolver()}
