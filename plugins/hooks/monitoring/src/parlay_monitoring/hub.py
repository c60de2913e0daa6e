"""`MonitoringHub`: Parsl's monitoring options, and the hooks that record a run in the monitoring database.

The hooks run on the kernel's threads and only append a tuple (`events`) to the writer's bounded queue (when
it is full, they wait for the writer: `Writer.make_room`); the writer's thread does the rest (`writer`). The
database libraries are imported when a run is configured.
"""

from __future__ import annotations

import datetime
import getpass
import logging
import os
import socket
import sys
import time
from typing import Any

from parlay.errors import ConfigurationError
from parlay.options import Check, declare, flag, invalid, non_negative, option, optional, state, text
from parlay.plugins import hookimpl
from parlay_monitoring.events import BLOCK, FINAL, NODE, REPORT, TASK, brief, details, future_ids

logger = logging.getLogger("parlay.monitoring")


def _port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _port_range(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_port, value)) and value[0] <= value[1]


def _database_url(instance: Any, attribute: Any, value: Any) -> None:
    """None, or a database URL monitoring can write to (SQLite or PostgreSQL, with its driver installed)."""
    if value is None:
        return
    if not isinstance(value, str) or "://" not in value:
        raise invalid(instance, attribute.name, value, "expected a database URL (`sqlite:///path`, `postgresql://...`)")
    from parlay_monitoring.writer import resolve_url

    try:
        resolve_url(value)
    except ValueError as exc:
        raise invalid(instance, attribute.name, value, str(exc)) from None


_ignored = "ignored: parlay's workers send what they record back with each result"


@declare
class MonitoringHub:
    """Records every task, try, state change, block, node and resource sample of a run in a database
    (`Config(monitoring=MonitoringHub(...))`), with Parsl's tables and options."""

    hub_address: str | None = option(
        None, f"{_ignored} (Parsl's UDP address)", optional(Check(lambda v: isinstance(v, str), "an address"))
    )
    hub_port: int | None = option(None, f"{_ignored} (Parsl's UDP port)", optional(Check(_port, "a port number")))
    hub_port_range: tuple[int, int] | None = option(
        None, f"{_ignored} (Parsl's ZMQ ports)", optional(Check(_port_range, "a (low, high) pair of ports"))
    )
    client_address: str | None = option(
        None, f"{_ignored} (older Parsl)", optional(Check(lambda v: isinstance(v, str), "an address"))
    )
    client_port_range: tuple[int, int] | None = option(
        None, f"{_ignored} (older Parsl)", optional(Check(_port_range, "a (low, high) pair of ports"))
    )
    logdir: str | None = option(
        None,
        "ignored: monitoring logs to the run's log (`runinfo/NNN/parlay.log`) (older Parsl)",
        optional(Check(lambda v: isinstance(v, (str, os.PathLike)), "a folder")),
    )
    workflow_name: str | None = option(
        None, "the run's name in the database; None: the name of the script that started it", optional(text)
    )
    workflow_version: str | None = option(
        None, "the run's version in the database; None: when it began (`YYYY-MM-DD HH:MM:SS`)", optional(text)
    )
    logging_endpoint: str | None = option(
        None,
        "the database, as an SQLAlchemy URL (`sqlite:///path`, `postgresql://user:password@host/db`); None: "
        "`sqlite:///<Config.run_dir>/monitoring.db`, shared by the runs of that folder",
        _database_url,
    )
    monitoring_debug: bool = option(False, "log each write to the database (in the run's log)", flag)
    resource_monitoring_enabled: bool = option(
        True, "sample the CPU, memory and I/O of the process running each task, on its worker", flag
    )
    resource_monitoring_interval: float = option(
        30,
        "seconds between samples while a task runs (and one at its end); 0: only at its end",
        non_negative("seconds"),
    )

    _writer: Any = state()
    _probe: Any = state()

    # --- the run starts and ends ------------------------------------------------------------------

    @hookimpl
    def parlay_configure(self, config: Any) -> None:
        from parlay_monitoring.writer import Writer, resolve_url

        if self._writer is not None and self._writer.running:
            raise ConfigurationError("this MonitoringHub is recording another run: give each run a MonitoringHub")
        url = self.logging_endpoint
        if url is None:
            url = f"sqlite:///{os.path.abspath(os.fspath(config.run_dir))}/monitoring.db"
        try:
            resolved = resolve_url(url)
        except ValueError as exc:
            raise invalid(self, "logging_endpoint", url, str(exc)) from None
        if self.monitoring_debug:
            logger.setLevel(logging.DEBUG)
        self._writer = Writer(resolved, debug=self.monitoring_debug)
        if self.resource_monitoring_enabled:
            from parlay_monitoring.probe import resource_probe

            self._probe = resource_probe(float(self.resource_monitoring_interval))
        else:
            from parlay_monitoring.probe import where_probe

            self._probe = where_probe()

    @hookimpl
    def parlay_workflow_started(self, run_id: str, run_dir: str) -> None:
        writer = self._writer
        if writer is None:
            return
        began = time.time()
        writer.start(
            {
                "run_id": run_id,
                "workflow_name": self.workflow_name or script_name(),
                "workflow_version": self.workflow_version or str(datetime.datetime.fromtimestamp(int(began))),
                "time_began": began,
                "host": socket.gethostname(),
                "user": _user(),
                "rundir": os.path.abspath(run_dir),
                "tasks_failed_count": 0,
                "tasks_completed_count": 0,
            },
            run_dir,
        )

    @hookimpl
    def parlay_workflow_finished(self, task_counts: dict[str, int]) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.finish(time.time(), task_counts)

    # --- tasks: a tuple on the queue, nothing more ------------------------------------------------

    @hookimpl
    def parlay_task_state_changed(
        self,
        task_id: int,
        func_name: str,
        old_state: str | None,
        new_state: str,
        executor: str,
        exception: BaseException | None,
        try_id: int,
        timestamp: float,
        task: Any,
    ) -> None:
        writer = self._writer
        if writer is None or not writer.accepting:
            return
        if old_state is None:
            extra: Any = task.time_invoked
        elif (new_state == "launched" and not try_id) or new_state in FINAL:
            extra = details(task)
        elif new_state == "pending":
            extra = task.fail_history
        elif new_state == "joining":
            extra = future_ids(task.joins)
        else:
            extra = None
        queue = writer.queue
        if len(queue) < writer.max_queued or writer.make_room():
            queue.append(
                (
                    TASK,
                    task_id,
                    try_id,
                    old_state,
                    new_state,
                    timestamp,
                    func_name,
                    executor,
                    task.memoize,
                    task.fail_count,
                    task.fail_cost,
                    extra,
                    None if exception is None else brief(exception),
                )
            )
        else:
            writer.drop()

    @hookimpl
    def parlay_task_probe(self) -> Any:
        writer = self._writer
        return self._probe if writer is not None and writer.accepting else None

    @hookimpl
    def parlay_task_reported(self, task_id: int, try_id: int, func_name: str, executor: str, reports: list) -> None:
        self._put((REPORT, task_id, try_id, func_name, executor, reports))

    # --- blocks and nodes -------------------------------------------------------------------------

    @hookimpl
    def parlay_block_state_changed(
        self, executor: str, block_id: str, job_id: str | None, state: str, message: str
    ) -> None:
        self._put((BLOCK, executor, block_id, job_id, state, message, time.time()))

    @hookimpl
    def parlay_node_state_changed(self, executor: str, block_id: str | None, node: dict, state: str) -> None:
        self._put(
            (
                NODE,
                executor,
                block_id if block_id is not None else node.get("block_id"),
                node.get("id"),
                node.get("hostname"),
                node.get("workers"),
                node.get("python"),
                node.get("cpu_count"),
                node.get("total_memory"),
                state == "joined",
                time.time(),
            )
        )

    def _put(self, event: tuple) -> None:
        writer = self._writer
        if writer is None or not writer.accepting:
            return
        if len(writer.queue) < writer.max_queued or writer.make_room():
            writer.queue.append(event)
        else:
            writer.drop()


def script_name() -> str:
    """The file name of the script that started the run (the first caller outside parlay), as Parsl names a
    workflow by default."""
    import pluggy

    import parlay

    skip = tuple(
        os.path.dirname(os.path.abspath(module.__file__)) + os.sep
        for module in (parlay, pluggy, sys.modules[__name__.rpartition(".")[0]])
        if module.__file__
    )
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith("<") and not os.path.abspath(filename).startswith(skip):
            return os.path.basename(filename)
        frame = frame.f_back
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "unnamed"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"
