"""Events (`events`) turned into the rows of the monitoring tables (`schema`), on the writer's thread.

A `Batch` gathers the rows of one flush: each task's and each try's row as a list of every column of its
table (`TASK_COLUMNS`, `TRY_COLUMNS`), merged, so that a task that went through all its states within one
flush is written once; columns no event of the flush set are None, and the writer's upsert keeps what an
earlier flush wrote there. The rows of the tables that only grow (`status`, `resource`, `block`, `node`) are
tuples in `COLUMNS` order.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from parlay import machine
from parlay_monitoring import schema
from parlay_monitoring.events import BLOCK, FINAL, NODE, REPORT, TASK
from parlay_monitoring.probe import REPORT_KEY

#: Every column of the task and try tables, in the tables' order: a batch's rows of them are lists of these.
TASK_COLUMNS = tuple(column.name for column in schema.task.columns)
TRY_COLUMNS = tuple(column.name for column in schema.try_.columns)
#: Columns, by table, whose first value wins when a later flush writes the row again (a join app's try
#: returned when it started joining); in every other column the latest value that is not None wins.
FIRST_WINS = {"try": frozenset({"task_try_time_returned", "time_returned_unix"})}

#: Each column's place in those lists: `T.parlay_state`, `Y.hostname`.
T = SimpleNamespace(**{name: i for i, name in enumerate(TASK_COLUMNS)})
Y = SimpleNamespace(**{name: i for i, name in enumerate(TRY_COLUMNS)})

#: The tables that only grow: the columns of their rows in a batch (a subset of each table's, in its order).
COLUMNS = {
    "status": ("task_id", "task_status_name", "timestamp", "run_id", "try_id", "timestamp_unix"),
    "resource": (
        "try_id",
        "task_id",
        "run_id",
        "timestamp",
        "resource_monitoring_interval",
        "psutil_process_pid",
        "psutil_process_memory_percent",
        "psutil_process_children_count",
        "psutil_process_time_user",
        "psutil_process_time_system",
        "psutil_process_memory_virtual",
        "psutil_process_memory_resident",
        "psutil_process_disk_read",
        "psutil_process_disk_write",
        "psutil_process_status",
        "psutil_cpu_num",
        "psutil_process_num_ctx_switches_voluntary",
        "psutil_process_num_ctx_switches_involuntary",
        "parlay_func_name",
        "timestamp_unix",
    ),
    "block": ("run_id", "executor_label", "block_id", "job_id", "timestamp", "status", "message", "timestamp_unix"),
    "node": (
        "run_id",
        "hostname",
        "uid",
        "block_id",
        "cpu_count",
        "total_memory",
        "active",
        "worker_count",
        "python_v",
        "timestamp",
        "last_heartbeat",
        "executor_label",
        "timestamp_unix",
    ),
}

#: A time as the database stores a DateTime column (a datetime, or SQLite's text form).
Clock = Callable[[float], Any]


class Batch:
    """The rows of one flush."""

    def __init__(self, run_id: str, when: Clock):
        self.run_id = run_id
        self.when = when
        self.tasks: dict[int, list[Any]] = {}
        self.tries: dict[tuple[int, int], list[Any]] = {}
        self.status: list[tuple] = []
        self.resource: list[tuple] = []
        self.block: list[tuple] = []
        self.node: list[tuple] = []
        #: Tasks that reached `exec_done` and `failed` in this batch (the workflow row's counts).
        self.completed = 0
        self.failed = 0

    def __len__(self) -> int:
        return (
            len(self.tasks) + len(self.tries) + len(self.status) + len(self.resource) + len(self.block) + len(self.node)
        )

    def add(self, event: tuple) -> None:
        kind = event[0]
        if kind == TASK:
            self._task(event)
        elif kind == REPORT:
            self._report(*event[1:])
        elif kind == BLOCK:
            self._block(*event[1:])
        elif kind == NODE:
            self._node(*event[1:])

    # --- tasks and tries --------------------------------------------------------------------------

    def _try_row(self, task_id: int, try_id: int, func_name: str, executor: str) -> list[Any]:
        key = (task_id, try_id)
        row = self.tries.get(key)
        if row is None:
            row = self.tries[key] = [None] * len(TRY_COLUMNS)
            row[Y.try_id] = try_id
            row[Y.task_id] = task_id
            row[Y.run_id] = self.run_id
            row[Y.task_executor] = executor
            row[Y.parlay_func_name] = func_name
        return row

    def _task(self, event: tuple) -> None:
        _, task_id, try_id, old, new, ts, func_name, executor, memoize, fail_count, fail_cost, extra, exception = event
        when = self.when(ts)
        run_id = self.run_id
        row = self.tasks.get(task_id)
        if row is None:
            row = self.tasks[task_id] = [None] * len(TASK_COLUMNS)
            row[T.task_id] = task_id
            row[T.run_id] = run_id
            row[T.task_func_name] = func_name
            row[T.task_memoize] = "1" if memoize else "0"  # as Parsl's rows read in SQLite (a bool in a text column)
            row[T.parlay_executor] = executor
        row[T.task_fail_count] = fail_count
        row[T.task_fail_cost] = fail_cost
        row[T.parlay_state] = new
        status = self.status
        if old is None:
            row[T.task_time_invoked] = self.when(extra)
            row[T.time_invoked_unix] = extra
        elif new == "pending":  # a failed try, retried: `extra` is the task's fail history
            failed_try = self._try_row(task_id, try_id - 1, func_name, executor)
            self._returned(failed_try, when, ts)
            failed_try[Y.try_exception] = exception if exception is not None else extra[-1] if extra else None
            failed_try[Y.task_fail_history] = ",".join(extra)
            status.append((task_id, "fail_retryable", when, run_id, try_id - 1, ts))
        elif new == "joining":
            self._try_row(task_id, try_id, func_name, executor)[Y.task_joins] = _ids(extra)
        if new == "launched":
            attempt = self._try_row(task_id, try_id, func_name, executor)
            attempt[Y.task_try_time_launched] = when
            attempt[Y.time_launched_unix] = ts
        elif old == "launched" and new != "pending":  # the try's function has returned (or it was cancelled)
            attempt = self._try_row(task_id, try_id, func_name, executor)
            self._returned(attempt, when, ts)
            if exception is not None and new in ("failed", "cancelled"):
                attempt[Y.try_exception] = exception
        final = new in FINAL
        if final or (new == "launched" and try_id == 0):  # `extra` is details(task)
            depends, hashsum, files, history = extra
            row[T.task_depends] = _ids(depends) if depends else None
            row[T.task_hashsum] = hashsum
            if files is not None:
                inputs, outputs, stdin, stdout, stderr = files
                row[T.task_inputs] = _files(inputs)
                row[T.task_outputs] = _files(outputs)
                row[T.task_stdin] = _stream(stdin)
                row[T.task_stdout] = _stream(stdout)
                row[T.task_stderr] = _stream(stderr)
            if history and old == "launched":
                self._try_row(task_id, try_id, func_name, executor)[Y.task_fail_history] = ",".join(history)
        if final:
            row[T.task_time_returned] = when
            row[T.time_returned_unix] = ts
            if exception is not None:
                row[T.task_exception] = exception
            if new == "exec_done":
                self.completed += 1
            elif new == "failed":
                self.failed += 1
        status.append((task_id, new, when, run_id, try_id, ts))

    @staticmethod
    def _returned(attempt: list[Any], when: Any, ts: float) -> None:
        if attempt[Y.time_returned_unix] is None:  # a join app's try returned when it started joining
            attempt[Y.task_try_time_returned] = when
            attempt[Y.time_returned_unix] = ts

    def _report(self, task_id: int, try_id: int, func_name: str, executor: str, reports: list[dict]) -> None:
        report = next((r[REPORT_KEY] for r in reports if REPORT_KEY in r), None)
        if report is None:
            return
        hostname, pid, block_id, started, ended, interval, samples = report
        when, run_id = self.when, self.run_id
        attempt = self._try_row(task_id, try_id, func_name, executor)
        attempt[Y.hostname] = hostname
        attempt[Y.block_id] = block_id
        attempt[Y.task_try_time_running] = when(started)
        attempt[Y.time_running_unix] = started
        if interval is None:  # no resource monitoring: as in Parsl, no `running` statuses (the try has its time)
            return
        self.status.append((task_id, "running", when(started), run_id, try_id, started))
        self.status.append((task_id, "running_ended", when(ended), run_id, try_id, ended))
        resource = self.resource
        for ts, user, system, rss, vms, percent, read, write, voluntary, involuntary, children, state, cpu in samples:
            resource.append(
                (
                    try_id,
                    task_id,
                    run_id,
                    when(ts),
                    interval,
                    pid,
                    percent,
                    children,
                    user,
                    system,
                    vms,
                    rss,
                    read,
                    write,
                    state,
                    cpu,
                    voluntary,
                    involuntary,
                    func_name,
                    ts,
                )
            )

    # --- blocks and nodes -------------------------------------------------------------------------

    def _block(self, executor: str, block_id: str, job_id: str | None, state: str, message: str, ts: float) -> None:
        job = None if job_id is None else str(job_id)
        self.block.append((self.run_id, executor, str(block_id), job, self.when(ts), state, message or None, ts))

    def _node(
        self,
        executor: str,
        block_id: str | None,
        node_id: str,
        hostname: str,
        workers: int | None,
        python: str | None,
        cpu_count: int | None,
        total_memory: int | None,
        joined: bool,
        ts: float,
    ) -> None:
        if cpu_count is None and hostname == _HOST:  # a node on this machine: what we know of it
            cpu_count, total_memory = _LOCAL
        when = self.when(ts)
        self.node.append(
            (
                self.run_id,
                hostname or "",
                str(node_id),
                "" if block_id is None else str(block_id),
                cpu_count or 0,
                total_memory or 0,
                joined,
                workers or 0,
                python or "",
                when,
                when,
                executor,
                ts,
            )
        )


def _ids(ids: Any) -> str | None:
    return ",".join(str(i) for i in ids if i is not None) or None if ids else None


def _name(item: Any) -> str:
    url = getattr(item, "url", None)  # a File: its URL; a DataFuture: its file's
    if url is None and hasattr(item, "file_obj"):
        url = getattr(item.file_obj, "url", None)
    return url if url is not None else os.fspath(item) if isinstance(item, (str, os.PathLike)) else str(item)


def _files(items: Any) -> str | None:
    if not items:
        return None
    if isinstance(items, (str, os.PathLike)):
        return _name(items)
    return ", ".join(_name(item) for item in items)


def _stream(spec: Any) -> str | None:
    """A stdout/stderr/stdin as the app was given it: a path, `(path, mode)`, or a File."""
    if spec is None:
        return None
    if isinstance(spec, tuple) and spec:
        spec = spec[0]
    return _name(spec)


_HOST = socket.gethostname()
_LOCAL = (machine.cpu_count(), machine.total_memory())
