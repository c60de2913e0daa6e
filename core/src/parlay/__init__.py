"""parlay: parallel scripting for Python, from a laptop to a supercomputer.

Decorate functions with `python_app`, `bash_app` or `join_app`, `load()` a `Config`, and call the apps:
each call returns a future at once, and futures passed to other apps make the task graph.
Names are resolved on first use, so `import parlay` costs almost nothing.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "python_app": "parlay.apps",
    "bash_app": "parlay.apps",
    "join_app": "parlay.apps",
    "AUTO_LOGNAME": "parlay.apps",
    "Config": "parlay.config",
    "File": "parlay.files",
    "AppFuture": "parlay.futures",
    "DataFuture": "parlay.futures",
    "DataFlowKernel": "parlay.dataflow.kernel",
    "load": "parlay.dataflow.loader",
    "dfk": "parlay.dataflow.loader",
    "clear": "parlay.dataflow.loader",
    "wait_for_current_tasks": "parlay.dataflow.loader",
    "ThreadPoolExecutor": "parlay.executors.threads",
}
_SUBMODULES = ("errors", "utils", "executors", "providers", "launchers", "staging", "testing", "plugins")

__all__ = [*_EXPORTS, *_SUBMODULES]

if TYPE_CHECKING:
    from parlay.apps import AUTO_LOGNAME, bash_app, join_app, python_app
    from parlay.config import Config
    from parlay.dataflow.kernel import DataFlowKernel
    from parlay.dataflow.loader import clear, dfk, load, wait_for_current_tasks
    from parlay.executors.threads import ThreadPoolExecutor
    from parlay.files import File
    from parlay.futures import AppFuture, DataFuture


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"parlay.{name}")
    else:  # Parsl's top-level names (`parlay.set_stream_logger`, ...)
        from parlay.parsl_fallback import parsl_attributes

        value = parsl_attributes(__name__)(name)
    globals()[name] = value
    return value


class _ParslPaths:
    """Finds Parsl's module paths that parlay has no real module for (`parlay.app.app`, ...); consulted only
    after the usual finders found nothing, so it costs `import parlay` nothing."""

    @staticmethod
    def find_spec(fullname: str, path: Any = None, target: Any = None) -> Any:
        if not fullname.startswith("parlay."):
            return None
        from parlay.parsl_names import module_spec

        return module_spec(fullname)


sys.meta_path.append(_ParslPaths)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
