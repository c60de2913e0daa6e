"""Monitoring databases for the dashboard's tests, benchmark and screenshots, written with the schema.

`add_realistic_runs` writes a few small runs row by row through SQLAlchemy Core (every task state, retries,
failures with exceptions and real stdout/stderr files, blocks, nodes, resource samples, one run still going).
`add_large_run` generates a big completed run quickly (driver-level executemany of tuples, SQLite) and returns
what the dashboard should report about it, computed here independently of the dashboard's SQL.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import math
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert

from parlay_monitoring import schema

#: A fixed start, so that generated runs are reproducible (2025-01-06 09:00:00 UTC).
T0 = 1736154000.0

APPS = (  # name, share of tasks, median run time in seconds
    ("simulate", 0.5, 12.0),
    ("analyze", 0.3, 4.0),
    ("fetch_inputs", 0.15, 1.5),
    ("summarize", 0.05, 30.0),
)
FAILURES = {
    "simulate": "ValueError: energy diverged at step {n}",
    "analyze": "KeyError: 'sample_{n}'",
    "fetch_inputs": "TimeoutError: no answer from data.example.org after 30 s (attempt {n})",
    "summarize": "MemoryError: cannot allocate {n} MiB",
}


def create_database(url: str) -> Engine:
    """An engine on `url` whose monitoring tables exist."""
    engine = create_engine(url)
    schema.metadata.create_all(engine)
    return engine


@functools.lru_cache(maxsize=65536)
def _second(second: int) -> str:
    return datetime.datetime.fromtimestamp(second).strftime("%Y-%m-%d %H:%M:%S")


def _sqlite_time(ts: float | None) -> str | None:
    """`ts` as SQLAlchemy stores a DateTime in SQLite (local time), fast for millions of rows."""
    if ts is None:
        return None
    second = int(ts)
    return f"{_second(second)}.{int((ts - second) * 1e6):06d}"


def _dt(ts: float | None) -> datetime.datetime | None:
    return None if ts is None else datetime.datetime.fromtimestamp(ts)


# --- large generated runs -------------------------------------------------------------------------


@dataclass
class LargeRun:
    """What the dashboard should show about a generated run."""

    run_id: str
    n_tasks: int
    start: float
    end: float
    states: Counter = field(default_factory=Counter)  # final state -> tasks
    app_tasks: Counter = field(default_factory=Counter)
    app_failed: Counter = field(default_factory=Counter)  # tasks that ended failed or dep_fail
    app_durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # returned tries
    tries: int = 0
    status_rows: int = 0
    failed_ids: list[int] = field(default_factory=list)  # tasks that ended `failed`, in id order
    retried_ids: list[int] = field(default_factory=list)  # tasks with two tries that ended exec_done
    lanes: set = field(default_factory=set)  # (executor, block_id)
    resource_rows: int = 0


def _inserter(engine: Engine, table: Any):
    columns = [c.name for c in table.columns]
    sql = f'INSERT INTO "{table.name}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
    return columns, sql


def add_large_run(
    engine: Engine,
    run_id: str,
    n_tasks: int,
    *,
    seed: int = 1,
    span: float = 3300.0,
    blocks: int = 32,
    nodes_per_block: int = 4,
    resource_every: int = 4,
    name: str = "climate-ensemble",
    start: float = T0,
) -> LargeRun:
    """Generate a completed run of `n_tasks` tasks invoked over `span` seconds on an htex executor of `blocks`
    blocks (plus a `threads` executor for `fetch_inputs`): ~1% failed (half after a retry), 0.3% dep_fail,
    0.5% memo_done, 2% exec_done on their second try; one resource row per try of every `resource_every`-th task.
    SQLite only (qmark parameters, DateTime as SQLAlchemy's text)."""
    rng = random.Random(seed)
    out = LargeRun(run_id=run_id, n_tasks=n_tasks, start=start, end=start)
    tasks: list[tuple] = []
    tries: list[tuple] = []
    statuses: list[tuple] = []
    resources: list[tuple] = []
    names = [a[0] for a in APPS]
    cumulative = []
    total = 0.0
    for _, share, _ in APPS:
        total += share
        cumulative.append(total)
    medians = {a[0]: a[2] for a in APPS}
    sq = _sqlite_time
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        for pragma in ("synchronous=OFF", "journal_mode=MEMORY", "cache_size=-262144"):  # a generated file
            cursor.execute(f"PRAGMA {pragma}")
        sqls = {t.name: _inserter(engine, t)[1] for t in (schema.task, schema.try_, schema.status, schema.resource)}

        def flush(final: bool = False) -> None:
            for table, rows in (("task", tasks), ("try", tries), ("status", statuses), ("resource", resources)):
                if rows and (final or len(rows) >= 50000):
                    cursor.executemany(sqls[table], rows)
                    rows.clear()

        for task_id in range(n_tasks):
            r = rng.random()
            app = names[next(i for i, c in enumerate(cumulative) if r * total <= c or i == len(APPS) - 1)]
            executor = "threads" if app == "fetch_inputs" else "htex"
            invoked = start + span * task_id / n_tasks + rng.random() * 0.5
            kind = rng.random()
            if kind < 0.003:
                final, n_tries = "dep_fail", 0
            elif kind < 0.008:
                final, n_tries = "memo_done", 0
            elif kind < 0.013:
                final, n_tries = "failed", 2
            elif kind < 0.018:
                final, n_tries = "failed", 1
            elif kind < 0.038:
                final, n_tries = "exec_done", 2
            else:
                final, n_tries = "exec_done", 1
            depends = ""
            if app == "analyze" and task_id > 0:
                depends = str(rng.randrange(max(0, task_id - 50), task_id))
            elif app == "summarize" and task_id > 3:
                depends = ",".join(str(task_id - k) for k in (1, 2, 3))
            statuses.append((task_id, "pending", sq(invoked), run_id, 0, invoked))
            now = invoked
            exception = None
            for try_id in range(n_tries):
                launched = now + rng.expovariate(3.0)
                running = launched + rng.expovariate(20.0)
                duration = medians[app] * math.exp(rng.gauss(0.0, 0.5))
                returned = running + duration
                last = try_id == n_tries - 1
                ok = last and final == "exec_done"
                try_exception = None if ok else FAILURES[app].format(n=task_id % 997)
                if executor == "htex":
                    block = rng.randrange(blocks)
                    block_id = str(block)
                    host = f"nid{block * nodes_per_block + rng.randrange(nodes_per_block):05d}"
                else:
                    block_id, host = None, "login01"
                out.lanes.add((executor, block_id))
                tries.append(
                    (
                        try_id,
                        task_id,
                        run_id,
                        block_id,
                        host,
                        executor,
                        sq(launched),
                        sq(running),
                        sq(returned),
                        None,
                        None,
                        app,
                        try_exception,
                        launched,
                        running,
                        returned,
                    )
                )
                statuses.append((task_id, "launched", sq(launched), run_id, try_id, launched))
                if not last:  # as the hub records a retry
                    statuses.append((task_id, "fail_retryable", sq(returned), run_id, try_id, returned))
                    statuses.append((task_id, "pending", sq(returned), run_id, try_id + 1, returned))
                out.app_durations[app].append(returned - running)
                if task_id % resource_every == 0:
                    rss = 50e6 * medians[app] ** 0.5 * (1 + rng.random())
                    resources.append(
                        (
                            try_id,
                            task_id,
                            run_id,
                            sq(returned),
                            10.0,
                            4000 + task_id % 30000,
                            0.4,
                            0.0,
                            duration * 0.9,
                            duration * 0.05,
                            rss * 2.5,
                            rss,
                            1e6 * medians[app],
                            2e5 * medians[app],
                            "zombie",
                            str(task_id % 64),
                            5.0,
                            2.0,
                            app,
                            returned,
                        )
                    )
                    out.resource_rows += 1
                exception = try_exception
                now = returned
                out.tries += 1
            if n_tries == 0:
                now = invoked + rng.random() * 0.2
                exception = f"DependencyError: dependency of task {task_id} failed" if final == "dep_fail" else None
            statuses.append((task_id, final, sq(now), run_id, max(0, n_tries - 1), now))
            out.status_rows += 2 + n_tries + 2 * max(0, n_tries - 1)
            out.end = max(out.end, now)
            fail_count = n_tries - (1 if final == "exec_done" else 0)
            tasks.append(
                (
                    task_id,
                    run_id,
                    depends,
                    app,
                    "False",
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    sq(invoked),
                    sq(now),
                    fail_count,
                    float(fail_count),
                    executor,
                    final,
                    exception,
                    invoked,
                    now,
                )
            )
            out.states[final] += 1
            out.app_tasks[app] += 1
            if final in ("failed", "dep_fail"):
                out.app_failed[app] += 1
            if final == "failed":
                out.failed_ids.append(task_id)
            if final == "exec_done" and n_tries == 2:
                out.retried_ids.append(task_id)
            flush()
        flush(final=True)
        conn.commit()
    finally:
        conn.close()
    _add_blocks(engine, run_id, blocks, nodes_per_block, start, out.end)
    counts = dict(out.states)
    with engine.begin() as c:
        c.execute(
            insert(schema.workflow),
            [
                dict(
                    run_id=run_id,
                    workflow_name=name,
                    workflow_version="2.3.0",
                    time_began=_dt(start - 5),
                    time_completed=_dt(out.end + 2),
                    host="login01.cluster.example.org",
                    user="alice",
                    rundir=f"/home/alice/{name}/runinfo/007",
                    tasks_failed_count=counts.get("failed", 0) + counts.get("dep_fail", 0),
                    tasks_completed_count=counts.get("exec_done", 0) + counts.get("memo_done", 0),
                    time_began_unix=start - 5,
                    time_completed_unix=out.end + 2,
                    task_counts=json.dumps(counts),
                )
            ],
        )
    return out


def _add_blocks(engine: Engine, run_id: str, blocks: int, nodes_per_block: int, start: float, end: float) -> None:
    block_rows, node_rows = [], []
    for b in range(blocks):
        submitted = start - 4 + b * 0.01
        running = start + 20 + 3 * b
        for state, ts, message in (
            ("PENDING", submitted, "submitted to slurm"),
            ("RUNNING", running, ""),
            ("COMPLETED", end + 1, "scaled in at the end of the run"),
        ):
            block_rows.append(
                dict(
                    run_id=run_id,
                    executor_label="htex",
                    block_id=str(b),
                    job_id=str(812000 + b),
                    timestamp=_dt(ts),
                    status=state,
                    message=message,
                    timestamp_unix=ts,
                )
            )
        for n in range(nodes_per_block):
            host = f"nid{b * nodes_per_block + n:05d}"
            for active, ts in ((True, running + 1), (False, end + 1)):
                node_rows.append(
                    dict(
                        run_id=run_id,
                        hostname=host,
                        uid=f"{b}-{n}",
                        block_id=str(b),
                        cpu_count=128,
                        total_memory=256 * 2**30,
                        active=active,
                        worker_count=32,
                        python_v="3.11.9",
                        timestamp=_dt(ts),
                        last_heartbeat=_dt(ts),
                        executor_label="htex",
                        timestamp_unix=ts,
                    )
                )
    with engine.begin() as c:
        c.execute(insert(schema.block), block_rows)
        c.execute(insert(schema.node), node_rows)


# --- small realistic runs -------------------------------------------------------------------------


@dataclass
class Realistic:
    """Facts about the runs `add_realistic_runs` wrote."""

    pipeline: str  # completed, with failures and retries
    live: str  # still running
    tiny: str  # an older run where all went well
    failed_task: int  # in `pipeline`: failed after two tries, stdout/stderr files exist
    retried_task: int  # in `pipeline`: failed once, then exec_done
    dep_fail_task: int  # in `pipeline`: depends on `failed_task`
    stdout: Path
    stderr: Path
    big_stdout_task: int = 21  # in `pipeline`: retried; its stdout file has 2 MiB
    relative_stdout_task: int = 11  # in `pipeline`: its stdout recorded as a relative path
    pipeline_states: Counter = field(default_factory=Counter)
    live_states: Counter = field(default_factory=Counter)


TRACEBACK = """Traceback (most recent call last):
  File "/home/alice/pipeline/apps.py", line 41, in align
    reads = load_reads(sample)
  File "/home/alice/pipeline/apps.py", line 18, in load_reads
    raise ValueError(f"truncated FASTQ record in {path} at line {n}")
ValueError: truncated FASTQ record in /data/run7/sample_12.fastq at line 80412
"""


def add_realistic_runs(engine: Engine, folder: Path, now: float | None = None) -> Realistic:
    """Three runs through SQLAlchemy Core: `pipeline` (completed, its run directory `folder/runinfo/003`: 48
    tasks of 4 apps on htex blocks 0-3 and threads; retries, failures with stdout/stderr files in `folder`,
    dep_fail, memo_done, cancelled, resource samples, block state changes, nodes), `live` (started a minute before
    `now`, tasks pending/launched/running/done), and `tiny` (a day earlier, 5 tasks all exec_done)."""
    now = time.time() if now is None else now
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    start = now - 3 * 3600
    pipeline = "6f1c2a9e-4b7d-4f3a-9c1e-2d8b5a7e0c11"
    live = "a3d5e7f9-1b2c-4d6e-8f0a-9b8c7d6e5f40"
    tiny = "0c9b8a7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d"
    out = Realistic(
        pipeline,
        live,
        tiny,
        failed_task=12,
        retried_task=7,
        dep_fail_task=30,
        stdout=folder / "align_12.stdout",
        stderr=folder / "align_12.stderr",
    )
    out.stdout.write_text("aligning sample_12\nloaded reference genome hg38 (3.1 Gbp)\nreading sample_12.fastq\n")
    (folder / "align_11.stdout").write_text("aligning sample_11\ndone\n")
    with open(folder / "align_21.stdout", "w") as stream:  # 2 MiB: more than the dashboard sends
        for n in range(2 * 2**20 // 64):
            stream.write(
                f"aligned read {n:12d} of sample_1 to chr{n % 22 + 1:<2d} at {n * 7919 % 10**9:>12d}\n"[:63] + "\n"
            )
    out.stderr.write_text(TRACEBACK)
    rows: dict[str, list[dict]] = defaultdict(list)
    apps = ["fetch_inputs", "align", "call_variants", "report"]
    t = start + 2
    for task_id in range(48):
        app = apps[0] if task_id < 10 else apps[1] if task_id < 30 else apps[2] if task_id < 46 else apps[3]
        executor = "threads" if app == "fetch_inputs" else "htex"
        depends = "" if task_id < 10 else str(task_id - 10) if task_id < 30 else str(task_id - 18)
        if task_id >= 46:
            depends = ",".join(str(i) for i in range(30, 46))
        invoked = t + task_id * 4.0
        final = "exec_done"
        n_tries = 1
        if task_id == out.failed_task:
            final, n_tries = "failed", 2
        elif task_id in (out.retried_task, 21, 35):
            n_tries = 2
        elif task_id in (3, 4):
            final, n_tries = "memo_done", 0
        elif task_id in (out.dep_fail_task, 46):
            final, n_tries = "dep_fail", 0
        elif task_id == 47:
            final, n_tries = "cancelled", 0
        elif task_id == 40:
            final = "failed"
        stdout = str(out.stdout) if task_id == out.failed_task else None
        stderr = str(out.stderr) if task_id == out.failed_task else None
        if task_id == out.big_stdout_task:
            stdout = str(folder / "align_21.stdout")
        elif task_id == out.relative_stdout_task:
            stdout = "align_11.stdout"  # relative: to where the run started, the parent of runinfo/
        elif app == "align" and stdout is None:
            stdout = str(folder / f"align_{task_id}.stdout")  # recorded, but never written
        statuses = [("pending", invoked, 0)]
        clock = invoked
        exception = None
        for try_id in range(n_tries):
            launched = clock + 0.5 + rng.random()
            running = launched + 0.2
            returned = running + {"fetch_inputs": 3, "align": 40, "call_variants": 90, "report": 15}[app] * (
                0.7 + 0.6 * rng.random()
            )
            last = try_id == n_tries - 1
            ok = last and final == "exec_done"
            try_exception = None
            if not ok:
                try_exception = (
                    "ValueError: truncated FASTQ record in /data/run7/sample_12.fastq at line 80412"
                    if app == "align"
                    else "RuntimeError: bcftools exited with status 137 (killed: out of memory)"
                )
            block_id = None if executor == "threads" else str(task_id % 3)
            host = "login01" if executor == "threads" else f"node{task_id % 3 + 1:02d}"
            rows["try"].append(
                dict(
                    try_id=try_id,
                    task_id=task_id,
                    run_id=pipeline,
                    block_id=block_id,
                    hostname=host,
                    task_executor=executor,
                    task_try_time_launched=_dt(launched),
                    task_try_time_running=_dt(running),
                    task_try_time_returned=_dt(returned),
                    task_fail_history=try_exception or "",
                    task_joins=None,
                    parlay_func_name=app,
                    try_exception=try_exception,
                    time_launched_unix=launched,
                    time_running_unix=running,
                    time_returned_unix=returned,
                )
            )
            statuses.append(("launched", launched, try_id))
            statuses.append(("running", running, try_id))
            statuses.append(("running_ended", returned - 0.01, try_id))
            if not last:
                statuses.append(("fail_retryable", returned, try_id))
                statuses.append(("pending", returned, try_id + 1))
            samples = max(1, int((returned - running) // 10))  # as the probe: at the start, every ~10 s, at the end
            for k in range(samples + 1):
                ts = running + k * (returned - running) / samples
                rss = {"fetch_inputs": 80e6, "align": 1.8e9, "call_variants": 3.2e9, "report": 300e6}[app]
                rss *= (0.5 + 0.5 * (k + 1) / samples) * (0.9 + 0.2 * rng.random())
                rows["resource"].append(
                    dict(
                        try_id=try_id,
                        task_id=task_id,
                        run_id=pipeline,
                        timestamp=_dt(ts),
                        resource_monitoring_interval=10.0,
                        psutil_process_pid=20000 + task_id,
                        psutil_process_memory_percent=rss / 2.7e9,
                        psutil_process_children_count=1.0,
                        psutil_process_time_user=(ts - running) * 0.95,
                        psutil_process_time_system=(ts - running) * 0.03,
                        psutil_process_memory_virtual=rss * 1.6,
                        psutil_process_memory_resident=rss,
                        psutil_process_disk_read=2e7 * (k + 1),
                        psutil_process_disk_write=4e6 * (k + 1),
                        psutil_process_status="running",
                        psutil_cpu_num=str(task_id % 16),
                        psutil_process_num_ctx_switches_voluntary=10.0 * k,
                        psutil_process_num_ctx_switches_involuntary=2.0 * k,
                        parlay_func_name=app,
                        timestamp_unix=ts,
                    )
                )
            exception = try_exception
            clock = returned
        if n_tries == 0:
            clock = invoked + 0.3
            if task_id == out.dep_fail_task:
                depends = str(out.failed_task)
            if final == "dep_fail":
                exception = f"DependencyError: dependencies of task {task_id} failed: {depends}"
        statuses.append((final, clock, max(0, n_tries - 1)))
        for state, ts, try_id in statuses:
            rows["status"].append(
                dict(
                    task_id=task_id,
                    task_status_name=state,
                    timestamp=_dt(ts),
                    run_id=pipeline,
                    try_id=try_id,
                    timestamp_unix=ts,
                )
            )
        fail_count = n_tries - (1 if final == "exec_done" else 0)
        rows["task"].append(
            dict(
                task_id=task_id,
                run_id=pipeline,
                task_depends=depends,
                task_func_name=app,
                task_memoize="True" if final == "memo_done" else "False",
                task_hashsum=f"{task_id * 7919:032x}",
                task_inputs=f"[File('/data/run7/sample_{task_id % 20}.fastq')]",
                task_outputs=None,
                task_stdin=None,
                task_stdout=stdout,
                task_stderr=stderr,
                task_time_invoked=_dt(invoked),
                task_time_returned=_dt(clock),
                task_fail_count=fail_count,
                task_fail_cost=float(fail_count),
                parlay_executor=executor,
                parlay_state=final,
                task_exception=exception,
                time_invoked_unix=invoked,
                time_returned_unix=clock,
            )
        )
        out.pipeline_states[final] += 1
    end = max(r["time_returned_unix"] for r in rows["task"])
    for b in range(4):  # block 3 never started
        changes = [("PENDING", start + (90 if b == 3 else 0), "submitted as slurm job")]
        if b == 3:
            changes.append(("FAILED", start + 95, "sbatch: error: QOSMaxSubmitJobPerUserLimit"))
        else:
            changes += [("RUNNING", start + 15 + b, ""), ("COMPLETED", end + 2, "scaled in")]
        for state, ts, message in changes:
            rows["block"].append(
                dict(
                    run_id=pipeline,
                    executor_label="htex",
                    block_id=str(b),
                    job_id=str(4711 + b),
                    timestamp=_dt(ts),
                    status=state,
                    message=message,
                    timestamp_unix=ts,
                )
            )
        if b == 3:
            continue
        rows["node"].append(
            dict(
                run_id=pipeline,
                hostname=f"node{b + 1:02d}",
                uid=f"mgr-{b}",
                block_id=str(b),
                cpu_count=32,
                total_memory=128 * 2**30,
                active=True,
                worker_count=8,
                python_v="3.11.9",
                timestamp=_dt(start + 16 + b),
                last_heartbeat=_dt(end),
                executor_label="htex",
                timestamp_unix=start + 16 + b,
            )
        )
    counts = dict(out.pipeline_states)
    rows["workflow"].append(
        dict(
            run_id=pipeline,
            workflow_name="variant-calling",
            workflow_version="1.4.2",
            time_began=_dt(start),
            time_completed=_dt(end + 3),
            host="login01.cluster.example.org",
            user="alice",
            rundir=str(folder / "runinfo" / "003"),
            tasks_failed_count=counts["failed"] + counts["dep_fail"],
            tasks_completed_count=counts["exec_done"] + counts["memo_done"],
            time_began_unix=start,
            time_completed_unix=end + 3,
            task_counts=json.dumps(counts),
        )
    )
    _live(rows, out, now)
    _tiny(rows, out, start - 86400)
    with engine.begin() as conn:
        for name in ("workflow", "task", "try", "status", "block", "node", "resource"):
            table = schema.metadata.tables[name]
            keys = {c.name for c in table.columns} - ({"id"} if name == "node" else set())
            if rows[name]:  # every row with every column, as executemany needs
                conn.execute(insert(table), [{k: row.get(k) for k in keys} for row in rows[name]])
    return out


def _live(rows: dict[str, list[dict]], out: Realistic, now: float) -> None:
    """A run that began a minute ago: 20 tasks, some done, some running, launched or pending."""
    run = out.live
    start = now - 60
    for task_id in range(20):
        invoked = start + task_id
        statuses = [("pending", invoked)]
        state = "pending"
        if task_id < 8:
            state = "exec_done"
        elif task_id < 12:
            state = "running"
        elif task_id < 15:
            state = "launched"
        returned = invoked + 20 if state == "exec_done" else None
        if state != "pending":
            statuses.append(("launched", invoked + 1))
            rows["try"].append(
                dict(
                    try_id=0,
                    task_id=task_id,
                    run_id=run,
                    block_id="0",
                    hostname="laptop",
                    task_executor="htex",
                    task_try_time_launched=_dt(invoked + 1),
                    task_try_time_running=None if state == "launched" else _dt(invoked + 2),
                    task_try_time_returned=_dt(returned),
                    parlay_func_name="square",
                    time_launched_unix=invoked + 1,
                    time_running_unix=None if state == "launched" else invoked + 2,
                    time_returned_unix=returned,
                )
            )
        if state in ("running", "exec_done"):
            statuses.append(("running", invoked + 2))
        if state == "exec_done":
            statuses.append(("exec_done", returned))
        for name, ts in statuses:
            rows["status"].append(
                dict(task_id=task_id, task_status_name=name, timestamp=_dt(ts), run_id=run, try_id=0, timestamp_unix=ts)
            )
        rows["task"].append(
            dict(
                task_id=task_id,
                run_id=run,
                task_depends="",
                task_func_name="square",
                task_memoize="False",
                task_time_invoked=_dt(invoked),
                task_time_returned=_dt(returned),
                task_fail_count=0,
                task_fail_cost=0.0,
                parlay_executor="htex",
                parlay_state=state,
                time_invoked_unix=invoked,
                time_returned_unix=returned,
            )
        )
        out.live_states[state] += 1
    rows["block"].append(
        dict(
            run_id=run,
            executor_label="htex",
            block_id="0",
            job_id="12345",
            timestamp=_dt(start),
            status="RUNNING",
            message="",
            timestamp_unix=start,
        )
    )
    rows["workflow"].append(
        dict(
            run_id=run,
            workflow_name="squares",
            workflow_version=None,
            time_began=_dt(start),
            time_completed=None,
            host="laptop",
            user="bob",
            rundir="/home/bob/squares/runinfo/000",
            tasks_failed_count=0,
            tasks_completed_count=0,
            time_began_unix=start,
            time_completed_unix=None,
            task_counts=None,
        )
    )


def _tiny(rows: dict[str, list[dict]], out: Realistic, start: float) -> None:
    run = out.tiny
    for task_id in range(5):
        invoked, launched, returned = start + task_id, start + task_id + 0.1, start + task_id + 2
        rows["task"].append(
            dict(
                task_id=task_id,
                run_id=run,
                task_depends="",
                task_func_name="hello",
                task_memoize="False",
                task_time_invoked=_dt(invoked),
                task_time_returned=_dt(returned),
                task_fail_count=0,
                task_fail_cost=0.0,
                parlay_executor="threads",
                parlay_state="exec_done",
                time_invoked_unix=invoked,
                time_returned_unix=returned,
            )
        )
        rows["try"].append(
            dict(
                try_id=0,
                task_id=task_id,
                run_id=run,
                block_id=None,
                hostname="laptop",
                task_executor="threads",
                task_try_time_launched=_dt(launched),
                task_try_time_running=_dt(launched),
                task_try_time_returned=_dt(returned),
                parlay_func_name="hello",
                time_launched_unix=launched,
                time_running_unix=launched,
                time_returned_unix=returned,
            )
        )
        for name, ts in (("pending", invoked), ("launched", launched), ("exec_done", returned)):
            rows["status"].append(
                dict(task_id=task_id, task_status_name=name, timestamp=_dt(ts), run_id=run, try_id=0, timestamp_unix=ts)
            )
    rows["workflow"].append(
        dict(
            run_id=run,
            workflow_name="hello",
            workflow_version="0.1",
            time_began=_dt(start),
            time_completed=_dt(start + 8),
            host="laptop",
            user="bob",
            rundir="/home/bob/hello/runinfo/000",
            tasks_failed_count=0,
            tasks_completed_count=5,
            time_began_unix=start,
            time_completed_unix=start + 8,
            task_counts=json.dumps({"exec_done": 5}),
        )
    )


# --- what the dashboard's tests share ---------------------------------------------------------------

#: Options of Debian's Chromium here: no sandbox (root), no GPU, no network of its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Tasks of the generated run in the tests' database (the benchmark generates 1,000,000).
LARGE_TASKS = 100_000
LARGE_RUN = "5b0e9c3a-7f21-4d8e-b6a4-1c2d3e4f5a6b"
_SHARED: dict[str, Any] = {}


@dataclass
class Shared:
    path: Path  # runinfo/monitoring.db in a folder of the session
    large: LargeRun
    realistic: Realistic


def shared_database(tmp_path_factory: Any) -> Shared:
    """The tests' database, built once per session (whichever test module asks first): a generated run of
    `LARGE_TASKS` tasks, and the realistic runs."""
    if "db" not in _SHARED:
        folder = tmp_path_factory.mktemp("dashboard")
        path = folder / "runinfo" / "monitoring.db"
        path.parent.mkdir()
        engine = create_database(f"sqlite:///{path}")
        try:
            large = add_large_run(engine, LARGE_RUN, LARGE_TASKS)
            realistic = add_realistic_runs(engine, folder)
        finally:
            engine.dispose()
        _SHARED["db"] = Shared(path, large, realistic)
    return _SHARED["db"]


@contextlib.contextmanager
def serving(location: str | Path, **options: Any) -> Iterator[Any]:
    """A dashboard server on a free port of 127.0.0.1, serving `location` (a database file or URL) on a thread."""
    from parlay_monitoring.dashboard.cli import engine_for
    from parlay_monitoring.dashboard.queries import Queries
    from parlay_monitoring.dashboard.server import DashboardServer

    engine = engine_for(str(location))
    server = DashboardServer(("127.0.0.1", 0), Queries(engine), **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        engine.dispose()


def fetch(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    """GET `url`: status, headers and body (also for 4xx and 5xx answers)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get_json(url: str) -> Any:
    status_code, _, body = fetch(url)
    assert status_code == 200, (url, status_code, body[:500])
    return json.loads(body)
