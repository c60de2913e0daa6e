"""What every dashboard query starts from: the monitoring tables, one run's counts and time span (cached), and
the tries of a sample of its tasks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from parlay_monitoring import schema
from parlay_monitoring.dashboard import sql
from parlay_monitoring.dashboard.sql import Sample, unindexed

workflow, task, try_, status = schema.workflow, schema.task, schema.try_, schema.status
block, node, resource = schema.block, schema.node, schema.resource

#: A run with no end recorded and no change for this long is drawn up to its last change, not up to now.
QUIET = 3600.0


@dataclass
class Run:
    """What most answers about one run need: its row, its tasks by state, and its time span."""

    run_id: str
    row: dict[str, Any]
    counts: dict[str, int]
    first_id: int
    start: float
    end: float
    live: bool  # no end recorded, and changes within the last hour
    last_change: float | None
    quiet: bool  # no end recorded, and no change for an hour: stopped without saying so, or long tries
    tasks: int = field(init=False)

    def __post_init__(self) -> None:
        self.tasks = sum(self.counts.values())


def unix_time(row: Any, name: str) -> float | None:
    """A time of a row in seconds since the epoch: its `<name>_unix` column, else its DateTime column."""
    value = row.get(f"{name}_unix")
    if value is None and row.get(name) is not None:
        value = row[name].timestamp()
    return value


def paginate(page: int, per_page: int, limit: int = 500) -> tuple[int, int, int]:
    per_page = min(max(1, per_page), limit)
    page = max(1, page)
    return page, per_page, (page - 1) * per_page


class Reader:
    """Reads one monitoring database. Thread-safe: each call uses its own connection."""

    #: Tasks whose status histories draw the tasks-by-state chart of a larger run.
    chart_sample = 20_000
    #: Tasks whose tries and resource samples give run-time percentiles and resource use of a larger run.
    stats_sample = 50_000
    #: Tasks whose tries give the Gantt chart's busy lanes of a larger run.
    lanes_sample = 20_000
    #: The most tries the Gantt chart draws one by one; above, it draws busy tries per lane and time bucket.
    max_bars = 2_000
    #: The most lanes (executor and block) the Gantt chart draws.
    max_lanes = 200
    #: The most tries the Gantt chart buckets from every row; above, from the sample.
    exact_lanes = 50_000
    #: How many following task ids the task page searches for tasks that depend on it.
    dependents_window = 10_000

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time):
        self.engine = engine
        self.dialect = engine.dialect.name
        self.clock = clock
        self._runs: dict[str, tuple[float, Run]] = {}
        self._lock = threading.Lock()

    # --- runs -------------------------------------------------------------------------------------

    def run(self, conn: Connection, run_id: str) -> Run | None:
        """The run `run_id` (cached for `ttl_of` it)."""
        now = self.clock()
        with self._lock:
            cached = self._runs.get(run_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = conn.execute(select(workflow).where(workflow.c.run_id == run_id)).mappings().first()
        if row is None:
            return None
        row = dict(row)
        counts = {
            str(state): n
            for state, n in conn.execute(
                select(task.c.parlay_state, func.count()).where(task.c.run_id == run_id).group_by(task.c.parlay_state)
            )
        }
        first_id = conn.execute(select(func.min(task.c.task_id)).where(unindexed(task.c.run_id) == run_id)).scalar()
        last_change = conn.execute(select(func.max(status.c.timestamp_unix)).where(status.c.run_id == run_id)).scalar()
        first_change = conn.execute(select(func.min(status.c.timestamp_unix)).where(status.c.run_id == run_id)).scalar()
        began = unix_time(row, "time_began") or first_change or now
        completed = unix_time(row, "time_completed")
        if completed is not None:
            end = max(completed, last_change or completed)
        elif last_change is not None and now - last_change > QUIET:
            end = last_change
        else:
            end = now
        quiet = completed is None and last_change is not None and now - last_change > QUIET
        live = completed is None and not quiet
        info = Run(run_id, row, counts, first_id or 0, began, max(end, began + 1e-3), live, last_change, quiet)
        with self._lock:
            self._runs[run_id] = (now + self.ttl_of(info), info)
        return info

    @staticmethod
    def ttl_of(info: Run) -> float:
        """How long answers about a run stay true: a live run changes all the time, an ended one never."""
        return 2.0 if info.live else 30.0 if info.quiet else 600.0

    def ttl(self, run_id: str) -> float:
        """How long answers about run `run_id` may be reused (2 s when there is no such run yet)."""
        with self.engine.connect() as conn:
            info = self.run(conn, run_id)
        return 2.0 if info is None else self.ttl_of(info)

    def _sampled_tries(self, conn: Connection, sample: Sample, run_id: str) -> tuple[Any, Any]:
        """FROM and WHERE of a sample's tries (the try table's key starts with try_id: name each one)."""
        if sample.exact:
            return try_, try_.c.run_id == run_id
        source, _ = sql.sampled(try_, sample, run_id)
        most = conn.execute(select(func.max(try_.c.try_id))).scalar() or 0
        return source, try_.c.try_id.in_(range(most + 1))
