"""Module attributes that resolve backend classes through entry points on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def backend_attributes(kind: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for the package of one backend kind (`parlay.executors`, ...)."""
    import sys

    module = sys.modules[f"parlay.{kind}"]

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        from parlay.plugins.registry import resolve_attribute

        value = resolve_attribute(kind, name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        from parlay.plugins.registry import available

        return sorted({*vars(module), *(b.class_name for b in available(kind))})

    return __getattr__, __dir__
