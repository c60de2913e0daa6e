"""`ParlayPoolExecutor` (also `ParslPoolExecutor`): a `concurrent.futures.Executor` whose calls run as parlay
tasks, so code written against `concurrent.futures` moves onto a cluster by changing the line that makes the
executor. Unlike Parsl's, cancelling works: `map` cancels what has not started when its timeout passes or
its caller stops, and `shutdown(cancel_futures=True)` cancels the queued tasks."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

from parlay.apps import PythonApp
from parlay.config import Config
from parlay.dataflow.kernel import DataFlowKernel
from parlay.dataflow.loader import load
from parlay.futures import AppFuture


class ParlayPoolExecutor(Executor):
    """Runs callables as parlay python apps, on a kernel it loads from `config` (and cleans up at `shutdown`)
    or on a running `dfk` (left running), on `executors` (labels, or 'all')."""

    def __init__(
        self,
        config: Config | None = None,
        dfk: DataFlowKernel | None = None,
        executors: str | Sequence[str] = "all",
    ):
        if (config is None) == (dfk is None):
            raise ValueError("ParlayPoolExecutor needs one of config= (a Config to load) or dfk= (a running kernel)")
        self.executors = executors
        self._owns_dfk = config is not None
        self._dfk: DataFlowKernel | None = load(config) if config is not None else dfk
        self._apps: dict[Callable[..., Any], PythonApp] = {}
        self._futures: weakref.WeakSet[AppFuture] = weakref.WeakSet()  # for shutdown(cancel_futures=True)

    @property
    def app_count(self) -> int:
        """How many functions have been made apps."""
        return len(self._apps)

    def get_app(self, fn: Callable[..., Any]) -> PythonApp:
        """The python app running `fn` (one per function, made on first use)."""
        app = self._apps.get(fn)
        if app is None:
            app = self._apps[fn] = PythonApp(fn, data_flow_kernel=self._dfk, executors=self.executors)
        return app

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> AppFuture:
        if self._dfk is None:
            raise RuntimeError("cannot submit after shutdown")
        future = self.get_app(fn)(*args, **kwargs)
        self._futures.add(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking calls; with `cancel_futures`, cancel those not started; with `wait`, wait for the rest.
        A kernel this executor loaded is cleaned up."""
        dfk, self._dfk = self._dfk, None
        if dfk is None:
            return
        if cancel_futures:
            for future in list(self._futures):
                future.cancel()
        if wait:
            dfk.wait_for_current_tasks()
        if self._owns_dfk:
            dfk.cleanup()


ParslPoolExecutor = ParlayPoolExecutor
