"""The record the DataFlowKernel keeps for each task while it is alive."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from parlay.dataflow.states import States

if TYPE_CHECKING:
    from parlay.apps import AppBase
    from parlay.dataflow.kernel import DataFlowKernel
    from parlay.futures import AppFuture


class TaskRecord:
    """One task: what to run, where, and how it went. `record["fail_count"]` works as in Parsl's dict."""

    __slots__ = (
        "app",
        "app_fu",
        "args",
        "depends",
        "dfk",
        "exec_fu",
        "executor",
        "fail_cost",
        "fail_count",
        "fail_history",
        "from_memo",
        "hashsum",
        "id",
        "ignore_for_cache",
        "joins",
        "kwargs",
        "memoize",
        "pending_deps",
        "probed",
        "resource_specification",
        "runner",
        "status",
        "time_invoked",
        "time_returned",
        "try_id",
    )

    def __init__(
        self,
        dfk: DataFlowKernel,
        tid: int,
        app: AppBase,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        executor: str,
        resource_specification: dict[str, Any],
        memoize: bool,
        ignore_for_cache: frozenset[str],
        time_invoked: float,
    ):
        self.dfk = dfk
        self.id = tid
        self.app = app
        self.args = args
        self.kwargs = kwargs
        self.executor = executor
        self.resource_specification = resource_specification
        self.memoize = memoize
        self.ignore_for_cache = ignore_for_cache
        self.time_invoked = time_invoked
        self.time_returned: float | None = None
        self.status = States.pending
        self.depends: Sequence[Future] = ()
        self.pending_deps = 0
        self.fail_count = 0
        self.fail_cost = 0.0
        self.fail_history: Sequence[str] = ()  # a new list on each failure: most tasks never fail
        self.try_id = 0
        self.from_memo = False
        self.hashsum: str | None = None
        self.joins: Future | list[Future] | None = None
        self.exec_fu: Future | None = None
        self.app_fu: AppFuture
        #: What the executor runs: the app's runner, or that wrapped by in-task staging.
        self.runner = app.runner
        #: Whether the current try runs with plugins' probes (`parlay_task_probe`) around it.
        self.probed = False

    @property
    def func_name(self) -> str:
        return self.app.__name__

    @property
    def func(self) -> Any:
        return self.app.func

    @property
    def join(self) -> bool:
        return self.app.kind == "join"

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def __repr__(self) -> str:
        return f"<task {self.id} {self.func_name} {self.status}>"
