"""Test support for plugin authors: conformance suites every backend's tests inherit.

Names resolve on first use, so that importing a submodule that needs no pytest (`fake_scheduler`, which
each fake scheduler command imports) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CloudProviderConformance": "parlay.testing.cloud",
    "TIMEOUT": "parlay.testing.executors",
    "ExecutorConformance": "parlay.testing.executors",
    "process_alive": "parlay.testing.executors",
    "LocalMachine": "parlay.testing.machines",
    "LiveProviderConformance": "parlay.testing.providers",
    "ProviderConformance": "parlay.testing.providers",
    "StageInConformance": "parlay.testing.staging",
    "StagingConformance": "parlay.testing.staging",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # re-exported names, for type checkers
    from parlay.testing.cloud import CloudProviderConformance as CloudProviderConformance
    from parlay.testing.executors import TIMEOUT as TIMEOUT
    from parlay.testing.executors import ExecutorConformance as ExecutorConformance
    from parlay.testing.executors import process_alive as process_alive
    from parlay.testing.machines import LocalMachine as LocalMachine
    from parlay.testing.providers import LiveProviderConformance as LiveProviderConformance
    from parlay.testing.providers import ProviderConformance as ProviderConformance
    from parlay.testing.staging import StageInConformance as StageInConformance
    from parlay.testing.staging import StagingConformance as StagingConformance


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'parlay.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
