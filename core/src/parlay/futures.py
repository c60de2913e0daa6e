"""The futures an app call returns: `AppFuture` for the task, `DataFuture` for each output file."""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, _base
from typing import TYPE_CHECKING, Any

from parlay.dataflow.states import States

if TYPE_CHECKING:
    from parlay.dataflow.taskrecord import TaskRecord
    from parlay.files import File


class SharedConditionFuture(Future):
    """A `concurrent.futures.Future` without a condition of its own.

    A condition (a lock and a deque) per future costs time at every submission and about a kilobyte
    for every task in flight or kept; here futures share a few conditions, picked by identity. A
    completion may then wake a thread waiting on another future, so `result()` and `exception()` wait
    in a loop until their own future is done.
    """

    def __init__(self) -> None:
        # Future.__init__ less its per-future condition; these are all the fields it sets.
        self._condition = _CONDITIONS[(id(self) >> 6) % len(_CONDITIONS)]
        self._state = _base.PENDING
        self._result = None
        self._exception = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Any] | tuple[()] = ()  # a list once a callback is added

    def add_done_callback(self, fn: Callable[[Future], object]) -> None:
        # Future.add_done_callback, with the callback list made on first use: most futures never get one
        with self._condition:
            if self._state not in _DONE_STATES:
                if self._done_callbacks:
                    self._done_callbacks.append(fn)  # type: ignore[union-attr]
                else:
                    self._done_callbacks = [fn]
                return
        try:
            fn(self)
        except Exception:
            _base.LOGGER.exception("exception calling callback for %r", self)

    def _wait(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._state not in _DONE_STATES:
                remaining = _SIGNAL_CHECK if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    return
                # never unbounded: a Ctrl-C that comes just before the main thread blocks is only seen when it wakes
                self._condition.wait(min(remaining, _SIGNAL_CHECK))

    # A finished future never changes again: its outcome is read without taking the shared condition.

    def result(self, timeout: float | None = None) -> Any:
        if self._state == _base.FINISHED and self._exception is None:
            return self._result
        self._wait(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state == _base.FINISHED:
            return self._exception
        self._wait(timeout)
        return super().exception(0)

    def cancelled(self) -> bool:
        return self._state in _CANCELLED_STATES


#: Reentrant (the default), so `concurrent.futures.wait` may hold one for several futures at once.
_CONDITIONS = tuple(threading.Condition() for _ in range(64))
_DONE_STATES = (_base.FINISHED, _base.CANCELLED, _base.CANCELLED_AND_NOTIFIED)
#: The longest a wait blocks before the waiting thread looks for signals (seconds).
_SIGNAL_CHECK = 0.5
_CANCELLED_STATES = (_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED)


class ExecutorFuture(SharedConditionFuture):
    """The future an executor returns for a task."""


class AppFuture(SharedConditionFuture):
    """The future of one task. Only the final outcome of its tries is visible.

    `fut[key]` and `fut.attr` are themselves tasks, run once this one has finished.
    """

    # set on the instance only by tasks that have them: a long run keeps many futures
    _outputs: Sequence[DataFuture] = ()
    _stdout: Any = None
    _stderr: Any = None

    def __init__(self, task_record: TaskRecord):
        super().__init__()
        self.task_record = task_record

    @property
    def tid(self) -> int:
        return self.task_record.id

    def task_status(self) -> str:
        """The task's state name (`pending`, `launched`, `running`, `exec_done`, ...)."""
        record = self.task_record
        if record.status is States.launched and record.exec_fu is not None and record.exec_fu.running():
            return States.running.value
        return record.status.value

    @property
    def outputs(self) -> list[DataFuture]:
        """A DataFuture for each output File, in the order of `outputs=`."""
        return list(self._outputs)

    @property
    def stdout(self) -> Any:
        """Where the task's standard output goes (a bash app's `stdout=`)."""
        return self._stdout

    @property
    def stderr(self) -> Any:
        """Where the task's standard error goes (a bash app's `stderr=`)."""
        return self._stderr

    def cancel(self) -> bool:
        """Cancel the task if it has not started; its dependents then fail with `DependencyError`."""
        return self.task_record.dfk.cancel_task(self.task_record)

    def _cancel_future(self) -> bool:
        return super().cancel()

    def __getitem__(self, key: Any) -> AppFuture:
        return self.task_record.dfk.lift(operator.getitem, self, key)

    def __getattr__(self, name: str) -> AppFuture:
        if name.startswith("_") or "task_record" not in self.__dict__:
            raise AttributeError(name)
        return self.task_record.dfk.lift(getattr, self, name)

    def __repr__(self) -> str:
        return f"<AppFuture task {self.tid} {self.task_status()}>"


class DataFuture(SharedConditionFuture):
    """The future of one output `File` of a task: resolves to the File when the task succeeds."""

    def __init__(self, parent: Future, file_obj: File, tid: int | None = None):
        super().__init__()
        self.parent = parent
        self.file_obj = file_obj
        self._tid = tid
        parent.add_done_callback(self._parent_done)

    def _parent_done(self, parent: Future) -> None:
        if parent.cancelled():
            super().cancel()
        elif parent.exception() is not None:
            self.set_exception(parent.exception())
        else:
            self.set_result(self.file_obj)

    @property
    def tid(self) -> int | None:
        return self._tid

    @property
    def filepath(self) -> str:
        return self.file_obj.filepath

    @property
    def filename(self) -> str:
        return self.file_obj.filename

    def cancel(self) -> bool:
        """A DataFuture follows its task; cancel the task's AppFuture instead."""
        return False

    def __fspath__(self) -> str:
        return self.file_obj.filepath

    def __repr__(self) -> str:
        return f"<DataFuture {self.file_obj!r} of task {self._tid}>"
