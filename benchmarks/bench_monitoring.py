"""What monitoring costs: htex throughput with monitoring off, on without resource monitoring, and on with
resources sampled every second, side by side (and Parsl's MonitoringHub the same way, when it is installed);
and a database of a million tasks for the dashboard's timings.

    python benchmarks/bench_monitoring.py [--tasks 20000] [--runs 5] [--quick]
    python benchmarks/bench_monitoring.py --fill-million PATH [--tasks 1000000]

Two workers on this machine (LocalProvider), no-op tasks all submitted at once, the default SQLite database
(runinfo/monitoring.db); each run a fresh process, the modes interleaved; the median and the worst of
`--runs` runs. "tasks/s" counts from the first submission to the last result; "with shutdown" also counts
the end of the run, where monitoring writes what it still holds. Parsl is measured when PARLAY_PEER_PYTHON
(or .venv-peers, which `python3 dev.py bench` creates) has it; its MonitoringHub needs `parsl[monitoring]`.

`--fill-million PATH` writes a completed run of 1,000,000 tasks into the SQLite file PATH (or a database
URL) through the writer's executemany: an hour, five apps, ~1% failed, one try per task, three statuses per
task (pending, launched, final), resource samples for one task in twenty, four blocks and their nodes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = {  # mode -> MonitoringHub options, None: no monitoring
    "off": None,
    "on, resources off": {"resource_monitoring_enabled": False},
    "on, resources 1 s": {"resource_monitoring_enabled": True, "resource_monitoring_interval": 1},
}


# --- one run, in a fresh process ---------------------------------------------------------------------


def one_run(framework: str, mode: str, n: int) -> dict[str, float]:
    lib = importlib.import_module(framework)
    executors = importlib.import_module(f"{framework}.executors")
    providers = importlib.import_module(f"{framework}.providers")

    @lib.python_app
    def noop(*args):
        return None

    executor = executors.HighThroughputExecutor(max_workers_per_node=2, provider=providers.LocalProvider())
    options = MODES[mode]
    monitoring = None
    if options is not None:
        hub_class = importlib.import_module(f"{framework}.monitoring").MonitoringHub
        monitoring = hub_class(**options)
    run_dir = tempfile.mkdtemp()
    config = lib.Config(executors=[executor], run_dir=run_dir, initialize_logging=False, monitoring=monitoring)
    began = time.perf_counter()
    with lib.load(config):
        noop().result()
        started = time.perf_counter()
        futures = [noop() for _ in range(n)]
        for future in futures:
            future.result()
        ended = time.perf_counter()
    finished = time.perf_counter()
    import resource

    cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))  # fmt: skip
    figures = {"throughput": n / (ended - started), "with_shutdown": n / (finished - started),
               "startup": started - began, "cpu": cpu}  # fmt: skip
    database = os.path.join(run_dir, "monitoring.db")
    if options is not None and os.path.exists(database):
        import sqlite3

        with sqlite3.connect(database) as connection:
            figures["status_rows"] = connection.execute("SELECT count(*) FROM status").fetchone()[0]
            figures["resource_rows"] = connection.execute("SELECT count(*) FROM resource").fetchone()[0]
    return figures


PARSL_RUNS = 3


def tasks(framework: str, mode: str, n: int) -> int:
    """Tasks per run: Parsl gets fewer, so that a run takes seconds rather than minutes."""
    if framework != "parsl":
        return n
    return min(n, 300 if "resources 1 s" in mode else 2_000)


def measure(python: str, framework: str, mode: str, n: int) -> dict[str, float] | None:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(python) + os.pathsep + env.get("PATH", "")  # Parsl starts its own scripts
    command = [python, os.path.abspath(__file__), "--one-run", framework, mode, str(n)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode:
        print(f"  {framework} ({mode}) failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def peer_python() -> str | None:
    peer = os.environ.get("PARLAY_PEER_PYTHON")
    if not peer:
        candidate = os.path.join(os.path.dirname(HERE), ".venv-peers", "bin", "python")
        peer = candidate if os.path.exists(candidate) else None
    if not peer or not os.path.exists(peer):
        return None
    if subprocess.run([peer, "-c", "import parsl"], capture_output=True).returncode == 0:
        return peer
    return None


def throughput(args: argparse.Namespace) -> None:
    sides = {"parlay": sys.executable}
    peer = peer_python()
    if peer:
        sides["parsl"] = peer
        if subprocess.run([peer, "-c", "import parsl.monitoring.db_manager"], capture_output=True).returncode:
            print("(Parsl's MonitoringHub needs parsl[monitoring]: only Parsl without monitoring is measured)")
    else:
        print("(Parsl not measured: set PARLAY_PEER_PYTHON to an interpreter that has it, or run dev.py bench)")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for run in range(args.runs):
        for name, python in sides.items():
            if name == "parsl" and run >= PARSL_RUNS:
                continue
            for mode in MODES:
                figures = measure(python, name, mode, tasks(name, mode, args.tasks))
                if figures is not None:
                    results.setdefault((name, mode), []).append(figures)
                    print(f"  run {run + 1} {name} {mode}: {figures['throughput']:,.0f} tasks/s", file=sys.stderr)

    print(f"\nhtex, 2 workers, LocalProvider, {args.tasks:,} no-op tasks at once; median (worst) of {args.runs} runs")
    if "parsl" in sides:
        few, fewer = tasks("parsl", "off", args.tasks), tasks("parsl", "on, resources 1 s", args.tasks)
        print(
            f"(Parsl: {few:,} tasks, {fewer:,} with resources, as it forks a monitoring process per task; "
            f"{min(args.runs, PARSL_RUNS)} runs)"
        )
    print(f"{'':30}{'tasks/s':>20}{'with shutdown':>22}{'vs off':>10}   rows written")
    for name in sides:
        off = results.get((name, "off"))
        for mode in MODES:
            runs = results.get((name, mode))
            if not runs:
                continue
            cells = ""
            for key in ("throughput", "with_shutdown"):
                values = [r[key] for r in runs]
                cells += f"{statistics.median(values):>12,.0f} ({min(values):>6,.0f})"
            ratio = ""
            if off:
                ratio = f"{statistics.median(r['throughput'] for r in runs) / statistics.median(r['throughput'] for r in off):>9.0%}"  # noqa: E501
            written = ""
            if "status_rows" in runs[-1]:
                written = f"   {runs[-1]['status_rows']:,} status, {runs[-1]['resource_rows']:,} resource"
            print(f"{name + ' ' + mode:30}{cells}{ratio:>10}{written}")


# --- a million tasks ----------------------------------------------------------------------------------


APPS = (("simulate", 0.45, 20.0), ("analyze", 0.3, 6.0), ("fetch", 0.15, 1.0), ("plot", 0.07, 3.0),
        ("summarize", 0.03, 40.0))  # fmt: skip
FAILURES = ("ValueError: energy diverged", "KeyError: 'sample'", "TimeoutError: no answer after 30 s",
            "RuntimeError: plot failed", "MemoryError")  # fmt: skip


def fill_million(target: str, n: int) -> None:
    """A completed run of `n` tasks in `target` (a path for SQLite, or a URL), written through the writer."""
    import datetime
    import socket
    import uuid

    from parlay_monitoring import schema
    from parlay_monitoring.rows import COLUMNS
    from parlay_monitoring.writer import Database, resolve_url

    url = target if "://" in target else f"sqlite:///{os.path.abspath(target)}"
    database = Database(resolve_url(url))
    database.create()
    rng = random.Random(1)
    run_id = str(uuid.uuid4())
    t0 = time.time() - 3600
    when = database.when
    started = time.perf_counter()
    with database.connection.begin():
        database.connection.execute(schema.workflow.insert().values(
            run_id=run_id, workflow_name="million.py", workflow_version="1",
            time_began=datetime.datetime.fromtimestamp(t0), time_completed=datetime.datetime.fromtimestamp(t0 + 3600),
            host=socket.gethostname(), user="bench",
            rundir="/tmp/runinfo/000", tasks_failed_count=0, tasks_completed_count=0, time_began_unix=t0,
            time_completed_unix=t0 + 3600))  # fmt: skip
    task_columns = ("task_id", "run_id", "task_depends", "task_func_name", "task_memoize", "task_hashsum",
                    "task_time_invoked", "task_time_returned", "task_fail_count", "task_fail_cost", "parlay_executor",
                    "parlay_state", "task_exception", "time_invoked_unix", "time_returned_unix")  # fmt: skip
    try_columns = ("try_id", "task_id", "run_id", "block_id", "hostname", "task_executor", "task_try_time_launched",
                   "task_try_time_running", "task_try_time_returned", "parlay_func_name", "try_exception",
                   "time_launched_unix", "time_running_unix", "time_returned_unix")  # fmt: skip
    names, weights = [a[0] for a in APPS], [a[1] for a in APPS]
    durations = {a[0]: a[2] for a in APPS}
    counts = {"exec_done": 0, "failed": 0}
    chunk = 50_000
    for first in range(0, n, chunk):
        tasks, tries, status, resource = [], [], [], []
        for task_id in range(first, min(n, first + chunk)):
            app = rng.choices(names, weights)[0]
            invoked = t0 + 3600 * task_id / n
            launched = invoked + rng.expovariate(1 / 0.5)
            running = launched + rng.expovariate(1 / 0.05)
            returned = running + rng.lognormvariate(0, 0.5) * durations[app]
            failed = rng.random() < 0.01
            state = "failed" if failed else "exec_done"
            counts[state] += 1
            error = FAILURES[names.index(app)] if failed else None
            block = str(task_id % 4)
            depends = str(task_id - 1) if app == "analyze" and task_id else None
            tasks.append((task_id, run_id, depends, app, "0", None, when(invoked), when(returned), int(failed),
                          float(failed), "htex", state, error, invoked, returned))  # fmt: skip
            tries.append((0, task_id, run_id, block, f"node{block}", "htex", when(launched), when(running),
                          when(returned), app, error, launched, running, returned))  # fmt: skip
            status += [(task_id, "pending", when(invoked), run_id, 0, invoked),
                       (task_id, "launched", when(launched), run_id, 0, launched),
                       (task_id, state, when(returned), run_id, 0, returned)]  # fmt: skip
            if task_id % 20 == 0:
                for ts, user in ((running, 1.0), (returned, 1.0 + returned - running)):
                    rss = 1e8 + rng.random() * 4e8
                    resource.append((0, task_id, run_id, when(ts), 1.0, 1000 + task_id % 64, 0.5, 0, user, 0.1,
                                     2e8, rss, 1e6, 2e6, "running", "1", 10, 2, app, ts))  # fmt: skip
        with database.connection.begin():
            database.insert_rows(schema.task, task_columns, tasks)
            database.insert_rows(schema.try_, try_columns, tries)
            database.insert_rows(schema.status, COLUMNS["status"], status)
            database.insert_rows(schema.resource, COLUMNS["resource"], resource)
        print(f"  {first + len(tasks):,} tasks", end="\r", file=sys.stderr, flush=True)
    blocks, nodes = [], []
    for block in range(4):
        for offset, state in ((0, "PENDING"), (5, "RUNNING"), (3600, "CANCELLED")):
            blocks.append((run_id, "htex", str(block), str(1000 + block), when(t0 + offset), state, None, t0 + offset))
        for active, offset in ((True, 6), (False, 3600)):
            nodes.append((run_id, f"node{block}", f"manager{block}", str(block), 64, 256 * 2**30, active, 64,
                          "3.11.7", when(t0 + offset), when(t0 + offset), "htex", t0 + offset))  # fmt: skip
    with database.connection.begin():
        database.insert_rows(schema.block, COLUMNS["block"], blocks)
        database.insert_rows(schema.node, COLUMNS["node"], nodes)
        database.connection.execute(schema.workflow.update().values(
            tasks_completed_count=counts["exec_done"], tasks_failed_count=counts["failed"],
            task_counts=json.dumps(counts)))  # fmt: skip
    seconds = time.perf_counter() - started
    print(file=sys.stderr)
    database.close()
    rows = n * 5 + n // 10
    size = f", {os.path.getsize(target) / 2**20:,.0f} MiB" if "://" not in target else ""
    print(f"{n:,} tasks ({rows:,} rows) written to {target} in {seconds:.1f} s: {rows / seconds:,.0f} rows/s{size}")
    print(f"run_id {run_id}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one-run":
        print(json.dumps(one_run(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=None, help="tasks per run (20,000; a million to fill)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each mode")
    parser.add_argument("--quick", action="store_true", help="2,000 tasks, 2 runs")
    parser.add_argument("--fill-million", metavar="PATH", help="write a run of a million tasks into PATH and stop")
    args = parser.parse_args()
    if args.fill_million:
        fill_million(args.fill_million, args.tasks or 1_000_000)
        return
    if args.quick:
        args.tasks, args.runs = args.tasks or 2_000, 2
    args.tasks = args.tasks or 20_000
    throughput(args)


if __name__ == "__main__":
    main()
