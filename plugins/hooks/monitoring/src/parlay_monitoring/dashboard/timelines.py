"""Queries of a run's course in time: tasks by state, tries per executor and block (the Gantt chart), blocks by
state and workers connected."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, func, select, tuple_

from parlay_monitoring.dashboard import sql
from parlay_monitoring.dashboard.reader import Reader, block, node, paginate, status, try_
from parlay_monitoring.dashboard.sql import FINAL, Sample, bucket, clamp, plan_sample


class Timelines(Reader):
    """States over time, the Gantt chart, blocks and nodes."""

    # --- tasks by state over time -----------------------------------------------------------------

    def states(self, run_id: str, buckets: int = 120) -> dict[str, Any] | None:
        """How many tasks were in each state at the end of each of `buckets` time buckets, from the status
        changes (of every task, or of a sample of a larger run, scaled to the run; a final state's curve is
        scaled to end at its exact count)."""
        buckets = min(max(buckets, 10), 600)
        with self.engine.connect() as conn:
            info = self.run(conn, run_id)
            if info is None:
                return None
            sample = plan_sample(info.first_id, info.tasks, self.chart_sample)
            step = (info.end - info.start) / buckets
            st = status.c
            source, where = sql.sampled(status, sample, run_id)
            previous = func.lag(st.task_status_name).over(
                partition_by=st.task_id,
                order_by=(
                    sql.is_final(st.task_status_name),
                    st.timestamp_unix,
                    st.try_id,
                    sql.state_rank(st.task_status_name),
                ),
            )
            changes = (
                select(
                    bucket(st.timestamp_unix, info.start, step, self.dialect).label("b"),
                    previous.label("previous"),
                    st.task_status_name.label("state"),
                )
                .select_from(source)
                .where(where)
                .subquery()
            )
            rows = conn.execute(
                select(changes.c.b, changes.c.previous, changes.c.state, func.count()).group_by(
                    changes.c.b, changes.c.previous, changes.c.state
                )
            ).all()
        series = sql.counts_over_time(rows, buckets)
        sampled_tasks = sum(n for _, previous, _, n in rows if previous is None)
        scale = 1.0 if sample.exact or not sampled_tasks else info.tasks / sampled_tasks
        out = {}
        for state in sql.ordered_states(series):
            values = series[state]
            factor = scale
            if not sample.exact and state in FINAL and values[-1] > 0 and info.counts.get(state):
                factor = info.counts[state] / values[-1]
            out[state] = [max(0, round(v * factor)) for v in values]
        return {
            "start": info.start,
            "end": info.end,
            "step": step,
            "times": [info.start + (i + 1) * step for i in range(buckets)],
            "states": list(out),
            "series": out,
            "sample": {**sample.describe(), "sampled_tasks": sampled_tasks},
            "live": info.live,
        }

    # --- Gantt ------------------------------------------------------------------------------------

    def gantt(
        self, run_id: str, start: float | None = None, end: float | None = None, buckets: int = 160
    ) -> dict[str, Any] | None:
        """Tries per executor and block (the first `max_lanes` lanes) between `start` and `end` (default: the
        whole run): each try as a bar when at most `max_bars` ran then, else how many tries were busy in each lane
        and time bucket (from every try up to `exact_lanes`, else from the sample)."""
        buckets = min(max(buckets, 10), 600)
        y = try_.c
        with self.engine.connect() as conn:
            info = self.run(conn, run_id)
            if info is None:
                return None
            a = info.start if start is None else max(start, info.start - 86400)
            b = info.end if end is None else end
            if b <= a:
                b = a + 1.0
            whole = a <= info.start and b >= info.end
            lanes = conn.execute(
                select(y.task_executor, y.block_id, func.count())
                .where(y.run_id == run_id)
                .group_by(y.task_executor, y.block_id)
            ).all()
            if whole:
                in_window = sum(n for *_, n in lanes)
            else:
                in_window = conn.execute(
                    select(func.count()).where(y.run_id == run_id, y.time_running_unix.between(a, b))
                ).scalar()
            lookback = 0.0 if whole else b - a
            now = self.clock()
            finish = func.coalesce(y.time_returned_unix, now if info.live else info.end)
            window = (y.time_running_unix >= a - lookback, y.time_running_unix <= b, finish >= a)
            answer: dict[str, Any] = {"start": a, "end": b, "run_start": info.start, "run_end": info.end}
            if in_window <= self.max_bars:
                rows = conn.execute(
                    select(
                        y.task_id,
                        y.try_id,
                        y.task_executor,
                        y.block_id,
                        y.parlay_func_name,
                        y.hostname,
                        y.time_launched_unix,
                        y.time_running_unix,
                        y.time_returned_unix,
                        y.try_exception.is_not(None),
                    )
                    .where(y.run_id == run_id, *window)
                    .order_by(y.time_running_unix)
                    .limit(self.max_bars + 1)
                ).all()
                answer["mode"] = "bars"
                answer["truncated"] = len(rows) > self.max_bars
                answer["bars"] = [
                    {
                        "task_id": r[0],
                        "try_id": r[1],
                        "lane": _lane(r[2], r[3]),
                        "app": r[4],
                        "host": r[5],
                        "launched": r[6],
                        "running": r[7],
                        "returned": r[8],
                        "failed": bool(r[9]),
                    }
                    for r in rows[: self.max_bars]
                ]
            else:
                step = (b - a) / buckets
                if in_window <= self.exact_lanes:
                    source, where, scale, sample = try_, y.run_id == run_id, 1.0, Sample(info.tasks)
                else:
                    sample = plan_sample(info.first_id, info.tasks, self.lanes_sample)
                    source, where = self._sampled_tries(conn, sample, run_id)
                    scale = info.tasks / max(1, sample.size)
                first = bucket(y.time_running_unix, a, step, self.dialect).label("first")
                last = bucket(finish, a, step, self.dialect).label("last")
                rows = conn.execute(
                    select(y.task_executor, y.block_id, first, last, func.count())
                    .select_from(source)
                    .where(where, *window)
                    .group_by(y.task_executor, y.block_id, first, last)
                ).all()
                cells: dict[str, list[float]] = {}
                for executor, block_id, i, j, n in rows:
                    diff = cells.setdefault(_lane(executor, block_id), [0.0] * (buckets + 1))
                    diff[clamp(i, buckets)] += n
                    diff[clamp(j, buckets) + 1] -= n
                for lane, diff in cells.items():
                    total, busy = 0.0, []
                    for d in diff[:buckets]:
                        total += d
                        busy.append(round(total * scale, 1))
                    cells[lane] = busy
                answer.update(mode="cells", step=step, cells=cells, sample=sample.describe())
            answer["tries_in_window"] = in_window
            ordered = sorted(lanes, key=lambda r: (r[0] or "", _block_order(r[1])))
            shown = {_lane(e, blk) for e, blk, _ in ordered[: self.max_lanes]}
            answer["lanes_total"] = len(ordered)
            answer["lanes"] = [
                {"lane": _lane(e, blk), "executor": e, "block_id": blk, "tries": n}
                for e, blk, n in ordered[: self.max_lanes]
            ]
            if answer["mode"] == "bars":
                answer["bars"] = [bar for bar in answer["bars"] if bar["lane"] in shown]
            else:
                answer["cells"] = {lane: cells for lane, cells in answer["cells"].items() if lane in shown}
            changes: dict[str, list[tuple[float, str]]] = {}
            bc = block.c
            for executor, block_id, state, ts in conn.execute(
                select(bc.executor_label, bc.block_id, bc.status, bc.timestamp_unix)
                .where(bc.run_id == run_id)
                .order_by(bc.timestamp_unix)
                .limit(20000)
            ):
                lane = _lane(executor, block_id)
                if lane in shown:
                    changes.setdefault(lane, []).append((ts, state))
            answer["blocks"] = changes
        return answer

    # --- blocks and nodes -------------------------------------------------------------------------

    def blocks(self, run_id: str, page: int = 1, per_page: int = 50, buckets: int = 120) -> dict[str, Any] | None:
        """A run's blocks (a page, each with its state changes) and nodes (a page), blocks by state and
        workers connected over time."""
        page, per_page, offset = paginate(page, per_page)
        bc, nc = block.c, node.c
        with self.engine.connect() as conn:
            info = self.run(conn, run_id)
            if info is None:
                return None
            step = (info.end - info.start) / buckets
            ids = select(bc.executor_label, bc.block_id).where(bc.run_id == run_id).distinct().subquery()
            total = conn.execute(select(func.count()).select_from(ids)).scalar()
            first = func.min(bc.timestamp_unix)
            page_rows = conn.execute(
                select(bc.executor_label, bc.block_id, first, func.max(bc.timestamp_unix), func.count())
                .where(bc.run_id == run_id)
                .group_by(bc.executor_label, bc.block_id)
                .order_by(first, bc.executor_label, bc.block_id)
                .limit(per_page)
                .offset(offset)
            ).all()
            keys = [(r[0], r[1]) for r in page_rows]
            history: dict[tuple[str, str], list[dict[str, Any]]] = {k: [] for k in keys}
            if keys:
                for executor, block_id, job_id, state, message, ts in conn.execute(
                    select(bc.executor_label, bc.block_id, bc.job_id, bc.status, bc.message, bc.timestamp_unix)
                    .where(bc.run_id == run_id, tuple_(bc.executor_label, bc.block_id).in_(keys))
                    .order_by(bc.timestamp_unix)
                ):
                    history[(executor, block_id)].append(
                        {"state": state, "time": ts, "job_id": job_id, "message": message}
                    )
            previous = func.lag(bc.status).over(
                partition_by=(bc.executor_label, bc.block_id), order_by=(bc.timestamp_unix, sql.state_rank(bc.status))
            )
            changes = (
                select(
                    bucket(bc.timestamp_unix, info.start, step, self.dialect).label("b"),
                    previous.label("previous"),
                    bc.status.label("state"),
                )
                .where(bc.run_id == run_id)
                .subquery()
            )
            block_series = sql.counts_over_time(
                conn.execute(
                    select(changes.c.b, changes.c.previous, changes.c.state, func.count()).group_by(
                        changes.c.b, changes.c.previous, changes.c.state
                    )
                ).all(),
                buckets,
            )
            # workers: + a node's workers when it joins, - when it leaves
            was_active = func.lag(nc.active).over(
                partition_by=(nc.executor_label, nc.uid), order_by=(nc.timestamp_unix, nc.id)
            )
            events = (
                select(
                    bucket(nc.timestamp_unix, info.start, step, self.dialect).label("b"),
                    nc.active.label("active"),
                    was_active.label("was_active"),
                    nc.worker_count.label("workers"),
                )
                .where(nc.run_id == run_id)
                .subquery()
            )
            e = events.c
            deltas = conn.execute(
                select(e.b, e.active, func.sum(e.workers), func.count())
                .where(func.coalesce(e.was_active, false()) != e.active)  # joined, or left
                .group_by(e.b, e.active)
            ).all()
            node_ids = select(
                nc.executor_label, nc.uid, func.max(nc.id).label("latest"), func.min(nc.timestamp_unix).label("first")
            )
            node_ids = node_ids.where(nc.run_id == run_id).group_by(nc.executor_label, nc.uid).subquery()
            node_total = conn.execute(select(func.count()).select_from(node_ids)).scalar()
            nodes = conn.execute(
                select(
                    nc.hostname,
                    nc.uid,
                    nc.executor_label,
                    nc.block_id,
                    nc.cpu_count,
                    nc.total_memory,
                    nc.worker_count,
                    nc.python_v,
                    nc.active,
                    node_ids.c.first,
                    nc.timestamp_unix,
                )
                .select_from(node_ids.join(node, node.c.id == node_ids.c.latest))
                .order_by(nc.hostname, nc.uid)
                .limit(per_page)
                .offset(offset)
            ).all()
        workers = [0.0] * (buckets + 1)
        for b, active, n_workers, _ in deltas:
            workers[clamp(b, buckets)] += (n_workers or 0) * (1 if active else -1)
        running, worker_series = 0.0, []
        for d in workers[:buckets]:
            running += d
            worker_series.append(running)
        return {
            "start": info.start,
            "end": info.end,
            "step": step,
            "times": [info.start + (i + 1) * step for i in range(buckets)],
            "page": page,
            "per_page": per_page,
            "blocks_total": total,
            "blocks": [
                {
                    "executor": r[0],
                    "block_id": r[1],
                    "first": r[2],
                    "last": r[3],
                    "changes": r[4],
                    "history": history[(r[0], r[1])],
                    "state": history[(r[0], r[1])][-1]["state"] if history[(r[0], r[1])] else None,
                    "job_id": next((h["job_id"] for h in reversed(history[(r[0], r[1])]) if h["job_id"]), None),
                }
                for r in page_rows
            ],
            "block_states": {s: block_series[s] for s in sql.ordered_states(block_series)},
            "workers": worker_series,
            "nodes_total": node_total,
            "nodes": [
                {
                    "hostname": n[0],
                    "uid": n[1],
                    "executor": n[2],
                    "block_id": n[3],
                    "cpu_count": n[4],
                    "memory": n[5],
                    "workers": n[6],
                    "python": n[7],
                    "active": bool(n[8]),
                    "first": n[9],
                    "last": n[10],
                }
                for n in nodes
            ],
        }


def _lane(executor: str | None, block_id: str | None) -> str:
    return f"{executor or '?'}" if block_id in (None, "") else f"{executor or '?'} / block {block_id}"


def _block_order(block_id: str | None) -> tuple[int, str]:
    if block_id is None:
        return (-1, "")
    return (int(block_id), "") if block_id.isdigit() else (1 << 30, block_id)
