"""The process-wide DataFlowKernel behind `parlay.load`, `parlay.dfk`, `parlay.clear` and friends.

Loading also makes the run safe to stop: interpreter exit (including Ctrl-C) and SIGTERM clean it up
(`parlay.dataflow.interrupts`).
"""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING

from parlay.dataflow import current, interrupts
from parlay.dataflow.current import dfk
from parlay.dataflow.kernel import DataFlowKernel
from parlay.errors import ConfigurationError

if TYPE_CHECKING:
    from parlay.config import Config

__all__ = ["clear", "dfk", "load", "wait_for_current_tasks"]

_lock = threading.Lock()
_atexit_registered = False


def load(config: Config | None = None) -> DataFlowKernel:
    """Start a DataFlowKernel for `config` (default: one thread pool) and make it current.

    Usable as a context manager: `with parlay.load(config):` cleans up on exit per `config.exit_mode`.
    """
    global _atexit_registered
    with _lock:
        if current.get() is not None:
            raise ConfigurationError("Config has already been loaded; call parlay.clear() or dfk().cleanup() first")
        interrupts.install_sigterm_handler()  # first: SIGTERM while the run starts stops what has started
        kernel = DataFlowKernel(config)
        current.make_current(kernel)
        if not _atexit_registered:
            atexit.register(_cleanup_at_exit)
            _atexit_registered = True
        return kernel


def clear() -> None:
    """Forget the current DataFlowKernel without cleaning it up."""
    current.clear()


def wait_for_current_tasks() -> None:
    """Block until every task of the current DataFlowKernel has finished."""
    dfk().wait_for_current_tasks()


def _cleanup_at_exit() -> None:
    kernel = current.get()
    if kernel is not None:
        kernel._stop(at_exit=True)
