"""`parlay.monitoring.X` is X from the package of the installed `monitoring` hooks plugin, imported on first
use (`from parlay.monitoring import MonitoringHub`); without that plugin, `BackendNotFound` names the
package to install."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from parlay.plugins.registry import find

    backend = find("hooks", "monitoring")
    package = importlib.import_module(backend.value.partition(":")[0].split(".")[0])
    try:
        value = getattr(package, name)
    except AttributeError:
        raise ImportError(f"{backend.distribution} {backend.version} provides no {name!r}", name=name) from None
    globals()[name] = value
    return value
