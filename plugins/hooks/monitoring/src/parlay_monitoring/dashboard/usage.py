"""Queries of what a run's tasks took: run time per app (with percentiles) and resource use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, func, select

from parlay_monitoring.dashboard import sql
from parlay_monitoring.dashboard.reader import Reader, Run, paginate, resource, task, try_
from parlay_monitoring.dashboard.sql import DONE, FAILED, bucket, clamp, plan_sample, unindexed

QUANTILES = (0.5, 0.9, 0.99)


class Usage(Reader):
    """Apps and resources."""

    # --- apps ---------------------------------------------------------------------------------------

    def apps(self, run_id: str) -> dict[str, Any] | None:
        """Per app: tasks by state (exact), and the run time of its tries (running to returned): mean, max and
        percentiles (exact in PostgreSQL; in SQLite over every try up to `stats_sample` tasks, else a sample)."""
        with self.engine.connect() as conn:
            info = self.run(conn, run_id)
            if info is None:
                return None
            t = task.c
            totals = dict(
                conn.execute(
                    select(t.task_func_name, func.count()).where(t.run_id == run_id).group_by(t.task_func_name)
                ).all()
            )
            by_app: dict[str, dict[str, int]] = {app: {} for app in totals}
            if info.counts:
                # every state but the commonest through the state index; the commonest is what remains
                commonest = max(info.counts, key=lambda s: info.counts[s])
                others = [s for s in info.counts if s != commonest and s != "None"]
                if others:
                    name = unindexed(t.task_func_name)  # grouping by the app index would read every task
                    for app, state, n in conn.execute(
                        select(name, t.parlay_state, func.count())
                        .where(t.run_id == run_id, t.parlay_state.in_(others))
                        .group_by(name, t.parlay_state)
                    ):
                        by_app.setdefault(app, {})[state] = n
                for app, states in by_app.items():
                    rest = totals.get(app, 0) - sum(states.values())
                    if rest > 0:
                        states[commonest] = rest
            runtimes, method = self._runtimes(conn, info)
        apps = []
        for app in sorted(totals, key=lambda a: -totals[a]):
            states = by_app.get(app, {})
            apps.append(
                {
                    "name": app,
                    "tasks": totals[app],
                    "states": {s: states[s] for s in sql.ordered_states(states)},
                    "done": sum(n for s, n in states.items() if s in DONE),
                    "failed": sum(n for s, n in states.items() if s in FAILED),
                    "runtime": runtimes.get(app),
                }
            )
        return {"apps": apps, "runtime_method": method}

    def _runtimes(self, conn: Connection, info: Run) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        y = try_.c
        duration = y.time_returned_unix - func.coalesce(y.time_running_unix, y.time_launched_unix)
        measured = (
            y.time_returned_unix.is_not(None),
            func.coalesce(y.time_running_unix, y.time_launched_unix).is_not(None),
        )
        out: dict[str, dict[str, Any]] = {}
        if self.dialect == "postgresql":
            quantiles = [func.percentile_cont(p).within_group(duration) for p in QUANTILES]
            for app, n, mean, longest, *qs in conn.execute(
                select(y.parlay_func_name, func.count(), func.avg(duration), func.max(duration), *quantiles)
                .where(y.run_id == info.run_id, *measured)
                .group_by(y.parlay_func_name)
            ):
                figures = {_qname(p): q for p, q in zip(QUANTILES, qs, strict=True)}
                out[app] = {"tries": n, "mean": mean, "max": longest, **figures}
            return out, {"exact": True, "how": "percentile_cont over every try, in PostgreSQL"}
        sample = plan_sample(info.first_id, info.tasks, self.stats_sample)
        source, where = self._sampled_tries(conn, sample, info.run_id)
        app = y.parlay_func_name
        ranked = (
            select(
                app.label("app"),
                duration.label("d"),
                func.row_number().over(partition_by=app, order_by=duration).label("rank"),
                func.count().over(partition_by=app).label("n"),
                func.avg(duration).over(partition_by=app).label("mean"),
                func.max(duration).over(partition_by=app).label("longest"),
            )
            .select_from(source)
            .where(where, *measured)
            .subquery()
        )
        r = ranked.c
        values: dict[str, dict[int, float]] = {}
        for name, n, mean, longest, rank, d in conn.execute(
            select(r.app, r.n, r.mean, r.longest, r.rank, r.d).where(sql.rank_condition(r.rank, r.n, QUANTILES))
        ):
            out.setdefault(name, {"tries": n, "mean": mean, "max": longest})
            values.setdefault(name, {})[rank] = d
        for name, figures in out.items():
            for p in QUANTILES:
                figures[_qname(p)] = sql.interpolate(values[name], figures["tries"], p)
        how = "every try, in SQL" if sample.exact else f"the tries of {sample.size:,} of {sample.tasks:,} tasks, in SQL"
        return out, {"exact": sample.exact, "how": how, **sample.describe()}

    # --- resources --------------------------------------------------------------------------------

    def resources(self, run_id: str, page: int = 1, per_page: int = 20, buckets: int = 100) -> dict[str, Any] | None:
        """Resource use per app (tries measured, peak resident memory, CPU time, I/O), the resident memory of
        running tries over time per app (each try's latest sample until its next one), histograms of peak memory,
        and the tries with the largest peak memory (a page): from every sample, or from the samples of the sampled
        tasks of a larger run."""
        page, per_page, offset = paginate(page, per_page, 100)
        rs = resource.c
        with self.engine.connect() as conn:
            info = self.run(conn, run_id)
            if info is None:
                return None
            rows_by_app = dict(
                conn.execute(
                    select(rs.parlay_func_name, func.count()).where(rs.run_id == run_id).group_by(rs.parlay_func_name)
                ).all()
            )
            sample = plan_sample(info.first_id, info.tasks, self.stats_sample)
            source, where = sql.sampled(resource, sample, run_id, by_key=False)
            scale = 1.0 if sample.exact else info.tasks / max(1, sample.size)
            cpu = func.coalesce(rs.psutil_process_time_user, 0) + func.coalesce(rs.psutil_process_time_system, 0)
            per_try = (
                select(
                    rs.task_id.label("task_id"),
                    rs.try_id.label("try_id"),
                    func.max(rs.parlay_func_name).label("app"),
                    func.max(rs.psutil_process_memory_resident).label("rss"),
                    func.max(rs.psutil_process_memory_virtual).label("vms"),
                    func.max(cpu).label("cpu"),
                    func.max(rs.psutil_process_disk_read).label("read"),
                    func.max(rs.psutil_process_disk_write).label("write"),
                    func.min(rs.timestamp_unix).label("first"),
                    func.max(rs.timestamp_unix).label("last"),
                    func.count().label("samples"),
                )
                .select_from(source)
                .where(where)
                .group_by(rs.task_id, rs.try_id)
                .subquery()
            )
            p = per_try.c
            apps = conn.execute(
                select(
                    p.app,
                    func.count(),
                    func.avg(p.rss),
                    func.max(p.rss),
                    func.sum(p.cpu),
                    func.avg(p.cpu),
                    func.max(p.cpu),
                    func.sum(p.read),
                    func.sum(p.write),
                    func.sum(p.samples),
                )
                .group_by(p.app)
                .order_by(p.app)
            ).all()
            tries_total = conn.execute(select(func.count()).select_from(per_try)).scalar() or 0
            top = conn.execute(
                select(p.task_id, p.try_id, p.app, p.rss, p.vms, p.cpu, p.read, p.write, p.first, p.last)
                .order_by(p.rss.desc(), p.task_id)
                .limit(per_page)
                .offset(offset)
            ).all()
            histograms: dict[str, list[int]] = {}
            peak = max((a[3] or 0 for a in apps), default=0)
            bins = 30
            width = peak / bins if peak else 1.0
            for app, b, n in conn.execute(
                select(p.app, bucket(p.rss, 0.0, width, self.dialect).label("b"), func.count())
                .where(p.rss.is_not(None))
                .group_by(p.app, "b")
            ):
                histograms.setdefault(app, [0] * bins)[clamp(b, bins)] += n
            step = (info.end - info.start) / buckets
            # memory in use: each try holds its latest sample's RSS until its next sample, and none after its last
            rss = func.coalesce(rs.psutil_process_memory_resident, 0)
            order = {"partition_by": (rs.task_id, rs.try_id), "order_by": rs.timestamp_unix}
            change = case((func.lead(rs.timestamp_unix).over(**order).is_(None), 0), else_=rss) - func.coalesce(
                func.lag(rss).over(**order), 0
            )
            changes = (
                select(
                    bucket(rs.timestamp_unix, info.start, step, self.dialect).label("b"),
                    rs.parlay_func_name.label("app"),
                    change.label("change"),
                )
                .select_from(source)
                .where(where)
                .subquery()
            )
            deltas: dict[str, list[float]] = {}
            for b, app, total in conn.execute(
                select(changes.c.b, changes.c.app, func.sum(changes.c.change)).group_by(changes.c.b, changes.c.app)
            ):
                deltas.setdefault(app, [0.0] * buckets)[clamp(b, buckets)] += (total or 0) * scale
            memory = {}
            for app, values in deltas.items():
                level, series = 0.0, []
                for d in values:
                    level += d
                    series.append(max(0.0, level))
                memory[app] = series
        return {
            "sample": sample.describe(),
            "scale": scale,
            "rows_by_app": rows_by_app,
            "apps": [
                {
                    "name": a[0],
                    "tries": a[1],
                    "rss_mean": a[2],
                    "rss_max": a[3],
                    "cpu_total": (a[4] or 0) * scale,
                    "cpu_mean": a[5],
                    "cpu_max": a[6],
                    "read_total": (a[7] or 0) * scale,
                    "write_total": (a[8] or 0) * scale,
                    "samples": a[9],
                }
                for a in apps
            ],
            "histogram": {"bins": bins, "width": width, "counts": histograms},
            "memory": {"start": info.start, "step": step, "series": memory},
            "top": {
                "page": page,
                "per_page": per_page,
                "total": tries_total,
                "items": [
                    {
                        "task_id": r[0],
                        "try_id": r[1],
                        "app": r[2],
                        "rss": r[3],
                        "vms": r[4],
                        "cpu": r[5],
                        "read": r[6],
                        "write": r[7],
                        "first": r[8],
                        "last": r[9],
                    }
                    for r in top
                ],
            },
        }


def _qname(p: float) -> str:
    return f"p{round(p * 100):d}"
