"""`parlay status RUN_DIR` from the monitoring database: the run's tasks by state, tries, first failures with
their errors, blocks (each one's latest state) and nodes."""

from __future__ import annotations

import datetime
import os
import sqlite3
import urllib.parse
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from parlay_monitoring import schema

#: The database a run writes to by default: `monitoring.db` beside its run directory (`runinfo/`), as Parsl's.
DATABASE = "monitoring.db"
#: How many failures and nodes the summary lists.
FIRST = 5
_ORDER = ("pending", "launched", "running", "joining", "exec_done", "memo_done", "failed", "dep_fail", "cancelled")


def database_path(run_dir: str) -> str:
    """Where the run's monitoring database is by default: `<run_dir>/../monitoring.db`."""
    return os.path.normpath(os.path.join(os.path.abspath(run_dir), os.pardir, DATABASE))


def report(run_dir: str) -> str | None:
    """A summary of the run in `run_dir` from its monitoring database; None when there is no database, or it
    holds no row for that run."""
    path = database_path(run_dir)
    if not os.path.isfile(path):
        return None
    uri = f"file:{urllib.parse.quote(path)}?mode=ro"  # read-only: never create or change the database
    engine = sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=10))
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(schema.workflow.name):
                return None
            workflow = _find_workflow(connection, run_dir)
            if workflow is None:
                return None
            return "\n".join(_summary(connection, workflow, run_dir, path))
    finally:
        engine.dispose()


def _find_workflow(connection: sa.Connection, run_dir: str) -> Any:
    """The workflow row whose `rundir` is `run_dir` (recorded absolute, or relative to where the run started),
    the latest when there are several."""
    target = os.path.realpath(run_dir)
    matches = [row for row in connection.execute(sa.select(schema.workflow)) if _same_folder(row.rundir, target)]
    if not matches:
        return None
    return max(matches, key=lambda row: row.time_began_unix or _unix(row.time_began) or 0.0)


def _same_folder(recorded: str | None, target: str) -> bool:
    if not recorded:
        return False
    if os.path.isabs(recorded):
        return os.path.realpath(recorded) == target
    parts = [part for part in os.path.normpath(recorded).split(os.sep) if part not in ("", os.curdir)]
    return bool(parts) and target.split(os.sep)[-len(parts) :] == parts


def _summary(connection: sa.Connection, workflow: Any, run_dir: str, path: str) -> list[str]:
    run_id = workflow.run_id
    lines = [f"run {run_id} (from the monitoring database {path})", f"  run dir:   {run_dir}"]
    named = " ".join(str(part) for part in (workflow.workflow_name, workflow.workflow_version) if part)
    lines.append(f"  workflow:  {named or '(unnamed)'} on {workflow.host}, by {workflow.user}")
    lines.append(f"  started:   {_stamp(workflow.time_began)}")
    if workflow.time_completed is not None:
        began = workflow.time_began_unix or _unix(workflow.time_began)
        ended = workflow.time_completed_unix or _unix(workflow.time_completed)
        took = f" (after {_seconds(ended - began)})" if began is not None and ended is not None else ""
        lines.append(f"  ended:     {_stamp(workflow.time_completed)}{took}")
    else:
        lines.append("  ended:     no: still running, or did not end cleanly (killed?)")
    lines += _tasks(connection, run_id)
    lines += _blocks(connection, run_id)
    lines += _nodes(connection, run_id)
    return lines


def _tasks(connection: sa.Connection, run_id: str) -> list[str]:
    task, try_ = schema.task, schema.try_
    counts = dict(
        connection.execute(
            sa.select(task.c.parlay_state, sa.func.count()).where(task.c.run_id == run_id).group_by(task.c.parlay_state)
        ).all()
    )
    total = sum(counts.values())
    by_state = ", ".join(f"{counts[state]} {state or 'unknown'}" for state in _ordered(counts))
    lines = [f"  tasks:     {total}{f' ({by_state})' if by_state else ''}"]
    tries, tried = connection.execute(
        sa.select(sa.func.count(), sa.func.count(sa.distinct(try_.c.task_id))).where(try_.c.run_id == run_id)
    ).one()
    if tries:
        retries = tries - tried
        lines.append(f"  tries:     {tries} ({retries} retr{'y' if retries == 1 else 'ies'})")
    failed = task.c.parlay_state.in_(("failed", "dep_fail"))
    count = sum(counts.get(state, 0) for state in ("failed", "dep_fail"))
    first = connection.execute(
        sa.select(task.c.task_id, task.c.task_func_name, task.c.parlay_state, task.c.task_exception)
        .where(task.c.run_id == run_id, failed)
        .order_by(
            (task.c.parlay_state != "failed"),  # root failures before the tasks they left unrun
            sa.func.coalesce(task.c.time_returned_unix, 1e18),
            task.c.task_id,
        )
        .limit(FIRST)
    ).all()
    if first:
        lines.append(f"  failures ({count}{', first' if count > len(first) else ''}):")
        for row in first:
            error = (row.task_exception or "(no error recorded)").strip().splitlines() or ["?"]
            state = "" if row.parlay_state == "failed" else f" {row.parlay_state}"
            lines.append(f"    task {row.task_id} ({row.task_func_name}){state}: {error[0]}")
    return lines


def _blocks(connection: sa.Connection, run_id: str) -> list[str]:
    block = schema.block
    rows = connection.execute(sa.select(block).where(block.c.run_id == run_id)).all()
    latest = _latest(rows, lambda row: (row.executor_label, row.block_id))
    if not latest:
        return ["  blocks:    none recorded"]
    lines = [f"  blocks ({len(latest)}):"]
    for row in sorted(latest, key=lambda row: (row.executor_label, _number(row.block_id))):
        job = f"job {row.job_id}, " if row.job_id else ""
        state = f"{row.status} at {_stamp(row.timestamp)}" + (f" ({row.message})" if row.message else "")
        lines.append(f"    {row.executor_label} block {row.block_id}: {job}{state}")
    return lines


def _nodes(connection: sa.Connection, run_id: str) -> list[str]:
    node = schema.node
    rows = connection.execute(sa.select(node).where(node.c.run_id == run_id)).all()
    latest = sorted(
        _latest(rows, lambda row: (row.executor_label, row.uid)),
        key=lambda row: (row.executor_label or "", _number(row.block_id), row.hostname),
    )
    if not latest:
        return []
    active = sum(1 for row in latest if row.active)
    lines = [f"  nodes ({len(latest)}, {active} active{', first' if len(latest) > FIRST else ''}):"]
    for row in latest[:FIRST]:
        executor = f"{row.executor_label} " if row.executor_label else ""
        state = "active" if row.active else "gone"
        lines.append(f"    {row.hostname}: {executor}block {row.block_id}, {row.worker_count} workers, {state}")
    return lines


def _latest(rows: Iterable[Any], key: Any) -> list[Any]:
    """The latest row of each `key(row)`, by time."""
    latest: dict[Any, Any] = {}
    for row in sorted(rows, key=lambda row: row.timestamp_unix or _unix(row.timestamp) or 0.0):
        latest[key(row)] = row
    return list(latest.values())


def _ordered(counts: dict[Any, int]) -> list[Any]:
    known = [state for state in _ORDER if counts.get(state)]
    return known + sorted((state for state in counts if state not in _ORDER and counts[state]), key=str)


def _number(text: Any) -> tuple[int, str]:
    text = str(text)
    return (int(text), "") if text.isdigit() else (1 << 62, text)


def _unix(moment: datetime.datetime | None) -> float | None:
    return moment.timestamp() if isinstance(moment, datetime.datetime) else None


def _stamp(moment: Any) -> str:
    if isinstance(moment, datetime.datetime):
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return "unknown" if moment is None else str(moment)


def _seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"
