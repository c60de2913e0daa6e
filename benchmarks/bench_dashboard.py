"""The monitoring dashboard on a large run: how long each JSON endpoint takes to answer.

    python benchmarks/bench_dashboard.py [--tasks 1000000] [--db PATH] [--repeat 5]

Generates a monitoring database (SQLite) holding one completed run of `--tasks` tasks (one try each, 2% with two;
~3 status rows per task over an hour; four apps; ~1% failed; 32 blocks of 4 nodes; a resource row for every
4th task) plus a few small realistic runs, with the generator of the plugin's tests; or reuses `--db` when that
file exists (it is kept). Then serves it with `parlay dashboard`'s server and requests every endpoint
`--repeat` times, each with a query string of its own so that the server's answer cache does not serve it,
and prints the first (the run's summary not yet cached), median and worst time of each, then the time to load a
run's page as a browser does (its requests at once).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 2.0  # seconds: the dashboard's budget for one answer


def build(data, path: Path, tasks: int) -> tuple[str, str]:
    """The database at `path` (generated unless it is there): the large run's id and the realistic failing run's."""
    from sqlalchemy import create_engine, select

    from parlay_monitoring import schema

    run_id = f"bench-{tasks}"
    if not path.exists():
        started = time.perf_counter()
        engine = data.create_database(f"sqlite:///{path}")
        large = data.add_large_run(engine, run_id, tasks)
        real = data.add_realistic_runs(engine, path.parent / "files")
        engine.dispose()
        size = path.stat().st_size / 2**20
        print(
            f"generated {tasks:,} tasks, {large.tries:,} tries, {large.status_rows:,} status rows, "
            f"{large.resource_rows:,} resource rows in {time.perf_counter() - started:.0f} s ({size:,.0f} MiB)"
        )
        return run_id, real.pipeline
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        names = dict(connection.execute(select(schema.workflow.c.workflow_name, schema.workflow.c.run_id)).all())
    engine.dispose()
    if run_id not in names.values():
        sys.exit(f"{path} holds no run {run_id}: give --tasks as when it was generated")
    print(f"reusing {path}")
    return run_id, names["variant-calling"]


def get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=300) as response:
        response.read()
        assert response.status == 200, url
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="the database file to use (generated there when missing; kept)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from parlay_monitoring import testing as data  # generated runs, shared with the dashboard's tests

    folder = None
    if args.db is None:
        folder = tempfile.TemporaryDirectory(prefix="bench-dashboard-")
        args.db = Path(folder.name) / "monitoring.db"
    run_id, small_run = build(data, args.db, args.tasks)
    with data.serving(args.db) as server:
        base = server.url.rstrip("/")
        api = f"{base}/api/workflows/{run_id}"
        started = time.perf_counter()
        summary = data.get_json(api)  # the run's counts are cached from here on, as after a page's first request
        print(f"first request of the run (counts not cached yet): {(time.perf_counter() - started) * 1000:.0f} ms")
        start = summary["start"]
        failed = data.get_json(f"{api}/tasks?state=failed&per_page=1")["items"][0]["task_id"]
        middle = args.tasks // 2
        endpoints = {
            "runs": f"{base}/api/workflows?",
            "run summary": f"{api}?",
            "states over time": f"{api}/states?",
            "apps (percentiles)": f"{api}/apps?",
            "gantt, whole run": f"{api}/gantt?",
            "gantt, 10 minutes": f"{api}/gantt?start={start + 1200}&end={start + 1800}&",
            "gantt, 10 seconds (bars)": f"{api}/gantt?start={start + 1200}&end={start + 1210}&",
            "failed tasks, page 100": f"{api}/tasks?state=failed&page=100&per_page=20&",
            "tasks, page 10,000": f"{api}/tasks?page=10000&per_page=25&",
            "tasks of a state and app": f"{api}/tasks?state=exec_done&app=simulate&page=500&per_page=25&",
            "one failed task": f"{api}/tasks/{failed}?",
            "one task mid-run": f"{api}/tasks/{middle}?",
            "blocks and nodes": f"{api}/blocks?",
            "resources": f"{api}/resources?",
            "small run: states": f"{base}/api/workflows/{small_run}/states?",
            "page (HTML)": f"{base}/workflows/{run_id}?",
        }
        print(f"\n{'endpoint':<28} {'first':>8} {'median':>8} {'worst':>8}   ({args.repeat} requests, ms)")
        worst_all = 0.0
        for name, url in endpoints.items():
            times = [get(f"{url}nocache={i}") for i in range(args.repeat)]
            worst_all = max(worst_all, max(times))
            print(
                f"{name:<28} {times[0] * 1000:8.0f} {statistics.median(times) * 1000:8.0f} {max(times) * 1000:8.0f}"
                + ("   OVER 2 s" if max(times) > LIMIT else "")
            )
        page = [
            "?",
            "/states?",
            "/apps?",
            "/gantt?",
            "/tasks?state=failed&page=1&per_page=20&",
            "/tasks?page=1&per_page=25&",
        ]
        loads = []
        with concurrent.futures.ThreadPoolExecutor(len(page)) as pool:
            for i in range(args.repeat):
                started = time.perf_counter()
                list(pool.map(get, [f"{api}{p}load={i}" for p in page]))
                loads.append(time.perf_counter() - started)
        print(
            f"\na run's page, its {len(page)} requests at once: median {statistics.median(loads) * 1000:.0f} ms, "
            f"worst {max(loads) * 1000:.0f} ms"
        )
        print(f"slowest single answer: {worst_all * 1000:.0f} ms ({'within' if worst_all <= LIMIT else 'OVER'} 2 s)")
    if folder is not None:
        folder.cleanup()
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
