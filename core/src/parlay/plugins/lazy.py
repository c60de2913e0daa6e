"""Module attributes that resolve backend classes through entry points on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def backend_attributes(kind: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for the package of one backend kind (`parlay.executors`, ...).

    A name no installed plugin provides raises `BackendNotFound`, an ImportError rather than an
    AttributeError: Python turns an AttributeError met by `from parlay.providers import X` into its bare
    "cannot import name", losing the message that names the package to install. Private names and the
    package's own submodules still raise AttributeError, so the import system can find the submodules.
    """
    import importlib.util
    import sys

    module = sys.modules[f"parlay.{kind}"]

    def __getattr__(name: str) -> Any:
        if name.startswith("_") or importlib.util.find_spec(f"{module.__name__}.{name}") is not None:
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
        from parlay.parsl_names import refuse_if_absent
        from parlay.plugins.registry import resolve_attribute

        refuse_if_absent(f"parsl.{kind}.{name}")  # Parsl's WorkQueueExecutor...: say what to use instead
        value = resolve_attribute(kind, name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        from parlay.plugins.registry import available

        return sorted({*vars(module), *(b.class_name for b in available(kind))})

    return __getattr__, __dir__
