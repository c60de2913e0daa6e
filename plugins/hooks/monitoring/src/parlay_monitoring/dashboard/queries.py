"""The dashboard's reads: SQLAlchemy Core queries on the monitoring database, each answer a JSON-able dict.

Every aggregate is computed by the database and every list is paginated. What would need every row of a large
run comes from a sample of its tasks (`sql.plan_sample`), and each such answer says whether it is exact.
`Queries` gathers the lists of runs and tasks and one task (here), courses in time (`timelines`) and what tasks
took (`usage`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from parlay_monitoring.dashboard import sql
from parlay_monitoring.dashboard.reader import (
    QUIET,
    block,
    node,
    paginate,
    resource,
    status,
    task,
    try_,
    unix_time,
    workflow,
)
from parlay_monitoring.dashboard.sql import DONE, FAILED, unindexed
from parlay_monitoring.dashboard.timelines import Timelines
from parlay_monitoring.dashboard.usage import Usage


class Queries(Timelines, Usage):
    """Every read of the dashboard, on one database."""

    def workflows(self, page: int = 1, per_page: int = 25) -> dict[str, Any]:
        """The runs in the database, newest first, with their tasks done and failed."""
        page, per_page, offset = paginate(page, per_page, 200)
        w = workflow.c
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(workflow)).scalar() or 0
            rows = [
                dict(r)
                for r in conn.execute(
                    select(workflow).order_by(func.coalesce(w.time_began_unix, 0).desc()).limit(per_page).offset(offset)
                ).mappings()
            ]
            live_ids = [r["run_id"] for r in rows if r["time_completed"] is None or not r.get("task_counts")]
            live_counts: dict[str, dict[str, int]] = {run_id: {} for run_id in live_ids}
            last_change = {
                run_id: conn.execute(
                    select(func.max(status.c.timestamp_unix)).where(status.c.run_id == run_id)
                ).scalar()
                for run_id in live_ids
            }
            if live_ids:
                for run_id, state, n in conn.execute(
                    select(task.c.run_id, task.c.parlay_state, func.count())
                    .where(task.c.run_id.in_(live_ids))
                    .group_by(task.c.run_id, task.c.parlay_state)
                ):
                    live_counts[run_id][str(state)] = n
        now = self.clock()
        items = []
        for r in rows:
            counts = live_counts.get(r["run_id"])
            if counts is None:
                try:
                    counts = {str(k): int(v) for k, v in json.loads(r["task_counts"]).items()}
                except (TypeError, ValueError, AttributeError):
                    counts = {}
            began, completed = unix_time(r, "time_began"), unix_time(r, "time_completed")
            last = last_change.get(r["run_id"])
            quiet = completed is None and last is not None and now - last > QUIET
            items.append(
                {
                    "run_id": r["run_id"],
                    "name": r["workflow_name"],
                    "version": r["workflow_version"],
                    "began": began,
                    "completed": completed,
                    "duration": None if began is None else (completed or (last if quiet else now)) - began,
                    "live": completed is None and not quiet,
                    "quiet": quiet,
                    "last_change": last_change.get(r["run_id"]),
                    "host": r["host"],
                    "user": r["user"],
                    "rundir": r["rundir"],
                    "tasks": {
                        "total": sum(counts.values()),
                        "done": sum(n for s, n in counts.items() if s in DONE) or r["tasks_completed_count"],
                        "failed": sum(n for s, n in counts.items() if s in FAILED) or r["tasks_failed_count"],
                        "by_state": counts,
                    },
                }
            )
        return {"total": total, "page": page, "per_page": per_page, "items": items, "now": now}

    def workflow(self, run_id: str) -> dict[str, Any] | None:
        """One run: its row, tasks by state, tries, apps, blocks and nodes."""
        with self.engine.connect() as conn:
            info = self.run(conn, run_id)
            if info is None:
                return None
            tries = conn.execute(select(func.count()).select_from(try_).where(try_.c.run_id == run_id)).scalar()
            apps = conn.execute(
                select(task.c.task_func_name, func.count())
                .where(task.c.run_id == run_id)
                .group_by(task.c.task_func_name)
                .order_by(func.count().desc())
            ).all()
            blocks = conn.execute(
                select(func.count()).select_from(
                    select(block.c.executor_label, block.c.block_id)
                    .where(block.c.run_id == run_id)
                    .distinct()
                    .subquery()
                )
            ).scalar()
            nodes = conn.execute(
                select(func.count()).select_from(
                    select(node.c.executor_label, node.c.uid).where(node.c.run_id == run_id).distinct().subquery()
                )
            ).scalar()
            has_resources = (
                conn.execute(select(resource.c.task_id).where(resource.c.run_id == run_id).limit(1)).first() is not None
            )
        r = info.row
        return {
            "run_id": run_id,
            "name": r["workflow_name"],
            "version": r["workflow_version"],
            "host": r["host"],
            "user": r["user"],
            "rundir": r["rundir"],
            "began": info.start,
            "completed": unix_time(r, "time_completed"),
            "start": info.start,
            "end": info.end,
            "live": info.live,
            "quiet": info.quiet,
            "last_change": info.last_change,
            "now": self.clock(),
            "tasks": info.tasks,
            "counts": {s: info.counts[s] for s in sql.ordered_states(info.counts)},
            "done": sum(n for s, n in info.counts.items() if s in DONE),
            "failed": sum(n for s, n in info.counts.items() if s in FAILED),
            "tries": tries,
            "apps": [{"name": name, "tasks": n} for name, n in apps],
            "blocks": blocks,
            "nodes": nodes,
            "has_resources": has_resources,
        }

    # --- task lists and one task ------------------------------------------------------------------

    def tasks(
        self, run_id: str, state: str | None = None, app: str | None = None, page: int = 1, per_page: int = 50
    ) -> dict[str, Any] | None:
        """A page of a run's tasks in id order, optionally of some states (comma-separated) and one app."""
        page, per_page, offset = paginate(page, per_page)
        states = [s for s in (state or "").split(",") if s]
        t = task.c
        with self.engine.connect() as conn:
            info = self.run(conn, run_id)
            if info is None:
                return None
            n_states = sum(info.counts.get(s, 0) for s in states) if states else None
            n_app = None
            if app:
                n_app = conn.execute(select(func.count()).where(t.run_id == run_id, t.task_func_name == app)).scalar()
            total = info.tasks if not states and not app else n_states if not app else n_app if not states else None
            # drive the query by the smaller index; a long list is read in key order instead of sorted
            small = 50_000
            by_state = n_states is not None and n_states <= small and (n_app is None or n_states <= n_app)
            by_app = not by_state and n_app is not None and n_app <= small
            conditions = [t.run_id == run_id if (by_state or by_app) else unindexed(t.run_id) == run_id]
            if states:
                column = t.parlay_state if by_state else unindexed(t.parlay_state)
                conditions.append(column.in_(states))
            if app:
                conditions.append((t.task_func_name if by_app else unindexed(t.task_func_name)) == app)
            rows = conn.execute(
                select(
                    t.task_id,
                    t.task_func_name,
                    t.parlay_state,
                    t.parlay_executor,
                    t.time_invoked_unix,
                    t.time_returned_unix,
                    t.task_fail_count,
                    func.substr(t.task_exception, 1, 300),
                )
                .where(*conditions)
                .order_by(t.task_id)
                .limit(per_page + 1)
                .offset(offset)
            ).all()
        items = [
            {
                "task_id": r[0],
                "app": r[1],
                "state": r[2],
                "executor": r[3],
                "invoked": r[4],
                "returned": r[5],
                "fail_count": r[6],
                "exception": r[7],
            }
            for r in rows[:per_page]
        ]
        return {
            "total": total,
            "page": page,
            "per_page": per_page,
            "has_more": len(rows) > per_page,
            "items": items,
            "state": state,
            "app": app,
        }

    def task(self, run_id: str, task_id: int) -> dict[str, Any] | None:
        """One task: its row, tries, status changes, dependencies, dependents (within the next
        `dependents_window` ids) and resource samples."""
        t, y, st, rs = task.c, try_.c, status.c, resource.c
        with self.engine.connect() as conn:
            row = conn.execute(select(task).where(t.run_id == run_id, t.task_id == task_id)).mappings().first()
            if row is None:
                return None
            run = conn.execute(
                select(workflow.c.workflow_name, workflow.c.rundir).where(workflow.c.run_id == run_id)
            ).first()
            most = conn.execute(select(func.max(y.try_id))).scalar() or 0
            tries = [
                dict(r)
                for r in conn.execute(
                    select(try_)
                    .where(y.try_id.in_(range(most + 1)), y.task_id == task_id, y.run_id == run_id)
                    .order_by(y.try_id)
                ).mappings()
            ]
            changes = conn.execute(
                select(st.task_status_name, st.timestamp_unix, st.try_id)
                .where(st.task_id == task_id, st.run_id == run_id)
                .order_by(
                    sql.is_final(st.task_status_name), st.timestamp_unix, st.try_id, sql.state_rank(st.task_status_name)
                )
            ).all()
            depends = _ids(row["task_depends"])[:500]
            dependencies = []
            if depends:
                dependencies = conn.execute(
                    select(t.task_id, t.task_func_name, t.parlay_state)
                    .where(t.run_id == run_id, t.task_id.in_(depends))
                    .order_by(t.task_id)
                ).all()
            last = task_id + self.dependents_window
            pattern = f"%,{task_id},%"
            dependents = conn.execute(
                select(t.task_id, t.task_func_name, t.parlay_state)
                .where(
                    unindexed(t.run_id) == run_id,
                    t.task_id > task_id,
                    t.task_id <= last,
                    ("," + func.replace(func.coalesce(t.task_depends, ""), " ", "") + ",").like(pattern),
                )
                .order_by(t.task_id)
                .limit(200)
            ).all()
            samples = conn.execute(
                select(
                    rs.try_id,
                    rs.timestamp_unix,
                    rs.psutil_process_memory_resident,
                    rs.psutil_process_memory_virtual,
                    rs.psutil_process_time_user,
                    rs.psutil_process_time_system,
                    rs.psutil_process_disk_read,
                    rs.psutil_process_disk_write,
                    rs.psutil_process_memory_percent,
                )
                .where(rs.run_id == run_id, rs.task_id == task_id)
                .order_by(rs.timestamp_unix)
                .limit(5000)
            ).all()
        r = dict(row)
        return {
            "run_id": run_id,
            "workflow_name": run[0] if run else None,
            "rundir": run[1] if run else None,
            "task_id": task_id,
            "app": r["task_func_name"],
            "state": r["parlay_state"],
            "executor": r["parlay_executor"],
            "invoked": unix_time(r, "time_invoked"),
            "returned": unix_time(r, "time_returned"),
            "fail_count": r["task_fail_count"],
            "fail_cost": r["task_fail_cost"],
            "exception": r["task_exception"],
            "memoize": r["task_memoize"],
            "hashsum": r["task_hashsum"],
            "inputs": r["task_inputs"],
            "outputs": r["task_outputs"],
            "stdin": r["task_stdin"],
            "stdout": r["task_stdout"],
            "stderr": r["task_stderr"],
            "tries": [_try(y_) for y_ in tries],
            "states": [{"state": s, "time": ts, "try_id": k} for s, ts, k in changes],
            "dependencies": [{"task_id": i, "app": a, "state": s} for i, a, s in dependencies],
            "missing_dependencies": sorted(set(depends) - {d[0] for d in dependencies}),
            "dependents": [{"task_id": i, "app": a, "state": s} for i, a, s in dependents],
            "dependents_searched_to": last,
            "resources": [
                {
                    "try_id": s[0],
                    "time": s[1],
                    "rss": s[2],
                    "vms": s[3],
                    "cpu_user": s[4],
                    "cpu_system": s[5],
                    "read": s[6],
                    "write": s[7],
                    "memory_percent": s[8],
                }
                for s in samples
            ],
        }

    def stream(self, run_id: str, task_id: int, which: str) -> tuple[str | None, str | None] | None:
        """The stdout or stderr path recorded for a task, and its run's folder; None when there is no such task."""
        column = {"stdout": task.c.task_stdout, "stderr": task.c.task_stderr}[which]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(column, workflow.c.rundir)
                .select_from(task.outerjoin(workflow, workflow.c.run_id == task.c.run_id))
                .where(task.c.run_id == run_id, task.c.task_id == task_id)
            ).first()
        return None if row is None else (row[0], row[1])


def _try(row: dict[str, Any]) -> dict[str, Any]:
    times = {k: row[f"task_try_time_{k}"] for k in ("launched", "running", "returned")}
    times.update({f"{k}_unix": row[f"time_{k}_unix"] for k in ("launched", "running", "returned")})
    return {
        "try_id": row["try_id"],
        "executor": row["task_executor"],
        "block_id": row["block_id"],
        "host": row["hostname"],
        **{k: unix_time(times, k) for k in ("launched", "running", "returned")},
        "exception": row["try_exception"],
        "fail_history": row["task_fail_history"],
        "joins": row["task_joins"],
    }


def _ids(text: str | None) -> list[int]:
    out = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if part.lstrip("-").isdigit():
            out.append(int(part))
    return out
