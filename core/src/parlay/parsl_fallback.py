"""`parsl_attributes`: the `__getattr__` of real parlay modules that Parsl's names also reach. It imports
nothing of parlay until a name is missing, so any module may use it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def parsl_attributes(module_name: str) -> Callable[[str], Any]:
    """`__getattr__` for a real parlay module that Parsl's names also reach (`parlay.errors.ParslError`): names
    in `parlay.parsl_names` resolve (or say what to use instead), others are AttributeErrors. The table is
    imported only when a name is missing."""

    def __getattr__(name: str) -> Any:
        if not name.startswith("_"):
            from parlay.parsl_names import TABLE, parsl_path, resolve

            parsl = f"{parsl_path(module_name)}.{name}"
            if parsl in TABLE:
                return resolve(parsl)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__
