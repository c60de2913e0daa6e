"""parlay monitoring: Parsl's `MonitoringHub` for parlay. `Config(monitoring=MonitoringHub(...))` records every
task, try, state change, block, node and resource sample of a run in a database (SQLite by default, or
PostgreSQL), with Parsl's tables. Importing this package loads nothing more: every run of a process loads its
hooks module (`commands`), and only a run that uses the hub loads the rest."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"MonitoringHub": "parlay_monitoring.hub", "MonitoringWarning": "parlay_monitoring.errors"}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
