"""The futures an app call returns: `AppFuture` for the task, `DataFuture` for each output file."""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, _base
from typing import TYPE_CHECKING, Any

from parlay.dataflow.states import States

#: Finished futures share one condition: a waiting condition (a lock and a deque) per future would cost
#: about a kilobyte for every task a long run keeps a future of.
_SETTLED = threading.Condition()


def release_condition(future: Future) -> None:
    """Swap a finished future's own condition for the shared one. Done under the old condition, so a
    thread that acquired it (as `concurrent.futures.wait` does) also releases that same one."""
    with future._condition:  # type: ignore[attr-defined]
        future._condition = _SETTLED  # type: ignore[attr-defined]
        future._done_callbacks = ()  # type: ignore[attr-defined]  # a finished future never adds more


class ExecutorFuture(Future):
    """The future an executor returns for a task. All of them share one condition, because the kernel
    only completes them and follows them with callbacks; a lock and a deque per task cost time at every
    submission and about a kilobyte for every task in flight. Waiting on one still works: `result()`
    and `exception()` wait until this future, not any other, is done."""

    def __init__(self) -> None:
        # Future.__init__ without its per-future condition; these are all the fields it sets.
        self._condition = _EXECUTOR_CONDITION
        self._state = _base.PENDING
        self._result = None
        self._exception = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Any] = []

    def _wait(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._state not in _DONE_STATES:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return
                self._condition.wait(remaining)

    def result(self, timeout: float | None = None) -> Any:
        self._wait(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._wait(timeout)
        return super().exception(0)


_EXECUTOR_CONDITION = threading.Condition()
_DONE_STATES = (_base.FINISHED, _base.CANCELLED, _base.CANCELLED_AND_NOTIFIED)


if TYPE_CHECKING:
    from parlay.dataflow.taskrecord import TaskRecord
    from parlay.files import File


class AppFuture(Future):
    """The future of one task. Only the final outcome of its tries is visible.

    `fut[key]` and `fut.attr` are themselves tasks, run once this one has finished.
    """

    def __init__(self, task_record: TaskRecord):
        super().__init__()
        self.task_record = task_record
        self._outputs: Sequence[DataFuture] = ()
        self._stdout: Any = None
        self._stderr: Any = None

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


class DataFuture(Future):
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
        release_condition(self)

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
