"""What a monitored run leaves in its database (SQLite, the default): workflow, tasks, tries, statuses, blocks,
nodes and resource samples, after small workflows on each kind of executor; and Parsl's own queries on it."""

from __future__ import annotations

import datetime
import json
import os
import socket
import time

import pytest
from sqlalchemy import create_engine, text

import parlay
from parlay.testing import TIMEOUT, workflow_apps
from parlay_monitoring import MonitoringHub, MonitoringWarning

HERE = "conftest.py"  # the file that called parlay.load(): run_monitored's


def small_workflow(tmp_path):
    """Five additions, one depending on two of them, a task failing once then succeeding (retried), a task
    failing for good, a bash app writing its streams, a task that sleeps ~1 s."""
    counter = tmp_path / "counter"
    out, err = str(tmp_path / "echo.out"), str(tmp_path / "echo.err")

    def workflow():
        adds = [workflow_apps.add(n, 1) for n in range(5)]
        both = workflow_apps.add(adds[0], adds[1])
        retried = workflow_apps.fail_until(str(counter), 1)
        failing = workflow_apps.fail("nope")
        echo = workflow_apps.echo("hello", stdout=out, stderr=err)
        sleeper = workflow_apps.sleep_then(1.0, "slept")
        results = [f.result(TIMEOUT) for f in [*adds, both, retried, echo, sleeper]]
        with pytest.raises(ValueError, match="nope"):
            failing.result(TIMEOUT)
        ids = {"adds": [f.tid for f in adds], "both": both.tid, "retried": retried.tid, "failing": failing.tid,
               "echo": echo.tid, "sleeper": sleeper.tid}  # fmt: skip
        return results, ids

    return workflow, out, err


def rows(url, query, **params):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [row._asdict() for row in connection.execute(text(query), params)]
    finally:
        engine.dispose()


def as_time(value):
    """A DateTime column's value: SQLite gives plain SQL its text."""
    return value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(value)


def check_small_workflow(url, kind, results, ids, out, err, resources=True):
    """The database after `small_workflow` on `kind`."""
    assert results == [1, 2, 3, 4, 5, 3, 2, 0, "slept"]
    (workflow,) = rows(url, "SELECT * FROM workflow")
    run_id = workflow["run_id"]
    assert workflow["workflow_name"] == HERE
    assert workflow["host"] == socket.gethostname() and workflow["user"]
    assert workflow["time_began_unix"] < workflow["time_completed_unix"]
    assert workflow["time_completed"] is not None
    assert (workflow["tasks_completed_count"], workflow["tasks_failed_count"]) == (9, 1)
    assert json.loads(workflow["task_counts"]) == {"exec_done": 9, "failed": 1}

    tasks = {t["task_id"]: t for t in rows(url, "SELECT * FROM task WHERE run_id = :r", r=run_id)}
    assert len(tasks) == 10
    assert {t["parlay_executor"] for t in tasks.values()} == {kind}
    assert tasks[ids["both"]]["task_depends"] == f"{ids['adds'][0]},{ids['adds'][1]}"
    assert tasks[ids["adds"][0]]["task_depends"] is None
    failing = tasks[ids["failing"]]
    assert failing["parlay_state"] == "failed" and failing["task_exception"] == "ValueError: nope"
    assert failing["task_fail_count"] == 2 and failing["task_fail_cost"] == 2.0  # its retry failed too
    assert tasks[ids["retried"]]["parlay_state"] == "exec_done" and tasks[ids["retried"]]["task_fail_count"] == 1
    assert (tasks[ids["echo"]]["task_stdout"], tasks[ids["echo"]]["task_stderr"]) == (out, err)
    for task in tasks.values():
        assert task["task_func_name"] in ("add", "fail_until", "fail", "echo", "sleep_then")
        assert task["task_memoize"] == "0"
        assert task["time_invoked_unix"] <= task["time_returned_unix"]
        assert abs(as_time(task["task_time_invoked"]).timestamp() - task["time_invoked_unix"]) < 1e-3

    tries = rows(url, "SELECT * FROM try WHERE run_id = :r ORDER BY task_id, try_id", r=run_id)
    by_task: dict[int, list] = {}
    for attempt in tries:
        by_task.setdefault(attempt["task_id"], []).append(attempt)
    assert [len(by_task[t]) for t in sorted(by_task)] == [2 if t in (ids["retried"], ids["failing"]) else 1
                                                          for t in sorted(tasks)]  # fmt: skip
    first, second = by_task[ids["retried"]]
    assert (first["try_id"], second["try_id"]) == (0, 1)
    assert "failure 1" in first["try_exception"] and second["try_exception"] is None
    assert "failure 1" in second["task_fail_history"]
    assert by_task[ids["failing"]][1]["try_exception"] == "ValueError: nope"
    host_pids = set()
    for attempt in tries:
        task = tasks[attempt["task_id"]]
        assert attempt["task_executor"] == kind and attempt["hostname"] == socket.gethostname()
        assert attempt["block_id"] == ("0" if kind == "htex" else None)
        launched, running, returned = (attempt[f"time_{k}_unix"] for k in ("launched", "running", "returned"))
        assert task["time_invoked_unix"] <= launched <= running <= returned <= task["time_returned_unix"]
        host_pids.add(attempt["hostname"])
    assert host_pids

    statuses = rows(url, "SELECT * FROM status WHERE run_id = :r ORDER BY timestamp_unix, try_id", r=run_id)

    def states(task_id):
        return [(s["task_status_name"], s["try_id"]) for s in statuses if s["task_id"] == task_id]

    running = ["running", "running_ended"] if resources else []  # from the worker, with resource monitoring (Parsl)
    done = ["pending", "launched", *running, "exec_done"]
    assert states(ids["adds"][0]) == [(s, 0) for s in done]
    retried = [("pending", 0), ("launched", 0), *((s, 0) for s in running), ("fail_retryable", 0),
               ("pending", 1), ("launched", 1), *((s, 1) for s in running), ("exec_done", 1)]  # fmt: skip
    assert states(ids["retried"]) == retried
    assert states(ids["failing"])[-1] == ("failed", 1)
    assert all(s["timestamp"] is not None and s["timestamp_unix"] > 0 for s in statuses)

    samples = rows(url, "SELECT * FROM resource WHERE run_id = :r ORDER BY timestamp_unix", r=run_id)
    if not resources:
        assert samples == []
        return run_id
    sleeper = [s for s in samples if s["task_id"] == ids["sleeper"]]
    assert len(sleeper) >= 4, sleeper  # at its start, at its end, and every 0.2 s of its second in between
    (sleep_try,) = by_task[ids["sleeper"]]
    for sample in sleeper:
        assert sample["psutil_process_memory_resident"] > 0 and sample["psutil_process_memory_virtual"] > 0
        assert sample["psutil_process_time_user"] >= 0 and sample["psutil_process_pid"] > 0
        assert sample["resource_monitoring_interval"] == 0.2 and sample["parlay_func_name"] == "sleep_then"
        assert sleep_try["time_launched_unix"] <= sample["timestamp_unix"] <= sleep_try["time_returned_unix"]
    assert {s["task_id"] for s in samples} == set(tasks)  # every task sampled at its start and end
    return run_id


def test_threads(run_monitored, sqlite_url, tmp_path):
    workflow, out, err = small_workflow(tmp_path)
    results, ids = run_monitored("threads", workflow)
    check_small_workflow(sqlite_url, "threads", results, ids, out, err)
    assert rows(sqlite_url, "SELECT * FROM block") == rows(sqlite_url, "SELECT * FROM node") == []
    pids = {r["psutil_process_pid"] for r in rows(sqlite_url, "SELECT psutil_process_pid FROM resource")}
    assert pids == {os.getpid()}  # sampled in this process, where the threads ran the tasks


def test_processes(run_monitored, sqlite_url, tmp_path):
    workflow, out, err = small_workflow(tmp_path)
    results, ids = run_monitored("processes", workflow)
    check_small_workflow(sqlite_url, "processes", results, ids, out, err)
    pids = {r["psutil_process_pid"] for r in rows(sqlite_url, "SELECT psutil_process_pid FROM resource")}
    assert os.getpid() not in pids  # sampled in the worker processes, by no process of monitoring's own


def test_htex_blocks_nodes_and_tries(run_monitored, sqlite_url, tmp_path):
    workflow, out, err = small_workflow(tmp_path)
    results, ids = run_monitored("htex", workflow)
    run_id = check_small_workflow(sqlite_url, "htex", results, ids, out, err)

    blocks = rows(sqlite_url, "SELECT * FROM block WHERE run_id = :r ORDER BY timestamp_unix", r=run_id)
    states = [b["status"] for b in blocks if b["block_id"] == "0"]
    assert states[:2] == ["PENDING", "RUNNING"], states
    assert states[-1] in ("SCALED_IN", "CANCELLED", "COMPLETED"), states
    assert {b["executor_label"] for b in blocks} == {"htex"}
    assert all(b["job_id"] for b in blocks if b["status"] == "RUNNING")

    nodes = rows(sqlite_url, "SELECT * FROM node WHERE run_id = :r ORDER BY timestamp_unix", r=run_id)
    joined = [n for n in nodes if n["active"]]
    assert joined, nodes
    node = joined[0]
    assert node["hostname"] == socket.gethostname() and node["block_id"] == "0" and node["worker_count"] == 2
    assert node["python_v"] and node["cpu_count"] == os.cpu_count() and node["total_memory"] > 0
    assert node["executor_label"] == "htex" and node["uid"]
    assert all(not n["active"] for n in nodes[len(joined) :])  # a node that left is a row of its own, inactive
    pids = {r["psutil_process_pid"] for r in rows(sqlite_url, "SELECT psutil_process_pid FROM resource")}
    assert len(pids) >= 1 and os.getpid() not in pids


def test_without_resource_monitoring(run_monitored, sqlite_url, tmp_path):
    workflow, out, err = small_workflow(tmp_path)
    results, ids = run_monitored("processes", workflow, resource_monitoring_enabled=False)
    check_small_workflow(sqlite_url, "processes", results, ids, out, err, resources=False)  # tries still timed


def test_memoized_joins_and_dependency_failures(run_monitored, sqlite_url):
    cached = parlay.python_app(cache=True)(_double)

    def workflow():
        first = cached(21).result(TIMEOUT)
        again = cached(21)
        joined = workflow_apps.fan_out(2)
        broken = workflow_apps.add(workflow_apps.fail("first"), 1)
        assert (again.result(TIMEOUT), joined.result(TIMEOUT)) == (first, [0, 1])
        with pytest.raises(Exception, match="first"):
            broken.result(TIMEOUT)
        return again.tid, joined.tid, broken.tid

    again, joined, broken = run_monitored("threads", workflow, retries=0)
    tasks = {t["task_id"]: t for t in rows(sqlite_url, "SELECT * FROM task")}
    assert tasks[again]["parlay_state"] == "memo_done" and tasks[again]["task_memoize"] == "1"
    assert tasks[again]["task_hashsum"] and tasks[again]["task_hashsum"] == tasks[again - 1]["task_hashsum"]
    assert rows(sqlite_url, "SELECT * FROM try WHERE task_id = :t", t=again) == []  # never launched
    assert tasks[broken]["parlay_state"] == "dep_fail" and "first" in tasks[broken]["task_exception"]
    assert tasks[broken]["task_depends"] == str(broken - 1)
    (join_try,) = rows(sqlite_url, "SELECT * FROM try WHERE task_id = :t", t=joined)
    inner = [int(i) for i in join_try["task_joins"].split(",")]
    assert [tasks[i]["task_func_name"] for i in inner] == ["identity", "identity"]
    assert join_try["time_returned_unix"] <= tasks[joined]["time_returned_unix"]  # it returned, then joined
    statuses = [
        s["task_status_name"]
        for s in rows(
            sqlite_url, "SELECT task_status_name FROM status WHERE task_id = :t ORDER BY timestamp_unix", t=joined
        )
    ]
    assert statuses == ["pending", "launched", "running", "running_ended", "joining", "exec_done"]


def _double(x):
    return 2 * x


def test_overlapping_tasks_of_one_process_each_get_their_samples(run_monitored, sqlite_url):
    def workflow():
        return [f.tid for f in [workflow_apps.sleep_then(0.8, n) for n in range(4)] if f.result(TIMEOUT) is not None]

    ids = run_monitored("threads", workflow)  # four threads of this process, all four tasks at once
    tries = {t["task_id"]: t for t in rows(sqlite_url, "SELECT * FROM try")}
    for task_id in ids:
        samples = rows(sqlite_url, "SELECT timestamp_unix FROM resource WHERE task_id = :t", t=task_id)
        assert len(samples) >= 4, samples  # start, end, and every 0.2 s in between: its own, not the others'
        attempt = tries[task_id]
        assert all(attempt["time_launched_unix"] <= s["timestamp_unix"] <= attempt["time_returned_unix"]
                   for s in samples)  # fmt: skip


def test_the_database_is_readable_while_the_run_goes_on(run_monitored, sqlite_url):
    import time

    def workflow():
        assert [f.result(TIMEOUT) for f in [workflow_apps.add(n, 1) for n in range(10)]] == list(range(1, 11))
        deadline = time.monotonic() + TIMEOUT
        while True:  # within about a second of the tasks' end, their rows and the counts are there to read
            try:
                (workflow,) = rows(sqlite_url, "SELECT * FROM workflow")
                if workflow["tasks_completed_count"] == 10:
                    break
            except Exception:  # the tables are still being made
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert workflow["time_completed"] is None  # still running
        return len(rows(sqlite_url, "SELECT * FROM status WHERE task_status_name = 'exec_done'"))

    assert run_monitored("threads", workflow, resource_monitoring_enabled=False) == 10


def test_runs_of_one_folder_share_its_database(run_monitored, sqlite_url, tmp_path):
    for _ in range(2):
        run_monitored("threads", lambda: workflow_apps.add(1, 2).result(TIMEOUT), resource_monitoring_enabled=False)
    workflows = rows(sqlite_url, "SELECT run_id, rundir FROM workflow ORDER BY time_began_unix")
    assert [w["rundir"] for w in workflows] == [str(tmp_path / "runinfo" / n) for n in ("000", "001")]
    assert rows(sqlite_url, "PRAGMA journal_mode") == [{"journal_mode": "wal"}]
    for workflow in workflows:
        assert len(rows(sqlite_url, "SELECT * FROM task WHERE run_id = :r", r=workflow["run_id"])) == 1
        note = json.loads(open(os.path.join(workflow["rundir"], "monitoring.json")).read())
        assert note == {"url": sqlite_url, "run_id": workflow["run_id"]}


def test_an_older_database_gains_the_newer_columns(run_monitored, sqlite_url, tmp_path):
    """A database made before a column was added (or by Parsl, without parlay's columns) is brought up to date."""
    import sqlite3

    from parlay_monitoring import schema

    (tmp_path / "runinfo").mkdir()
    engine = create_engine(sqlite_url)
    schema.metadata.create_all(engine)
    engine.dispose()
    with sqlite3.connect(tmp_path / "runinfo" / "monitoring.db") as connection:
        connection.execute("DROP INDEX task_run_state")
        connection.execute("DROP INDEX resource_run_app")
        connection.execute("ALTER TABLE task DROP COLUMN parlay_state")
        connection.execute("ALTER TABLE task DROP COLUMN parlay_executor")
        connection.execute("ALTER TABLE task DROP COLUMN task_exception")
        connection.execute("ALTER TABLE try DROP COLUMN parlay_func_name")
        connection.execute("ALTER TABLE resource DROP COLUMN parlay_func_name")
    run_monitored("threads", lambda: workflow_apps.add(1, 2).result(TIMEOUT), resource_monitoring_enabled=False)
    (task,) = rows(sqlite_url, "SELECT parlay_state, parlay_executor, task_exception FROM task")
    assert task == {"parlay_state": "exec_done", "parlay_executor": "threads", "task_exception": None}
    assert rows(sqlite_url, "SELECT parlay_func_name FROM try") == [{"parlay_func_name": "add"}]
    assert rows(sqlite_url, "SELECT parlay_func_name FROM resource") == []  # the column is there
    indexes = rows(sqlite_url, "SELECT name, sql FROM sqlite_master WHERE type = 'index'")
    indexes = {r["name"]: r["sql"] for r in indexes}
    assert "parlay_state" in indexes["task_run_state"] and "parlay_func_name" in indexes["resource_run_app"]


def test_parsl_queries(run_monitored, sqlite_url, tmp_path):
    """Parsl's documented queries (parsl.monitoring.queries.pandas, parsl-visualize's views) as plain SQL, run
    verbatim, and joins in their style naming Parsl's columns without their table."""
    workflow, out, err = small_workflow(tmp_path)
    results, ids = run_monitored("threads", workflow)
    run_id = check_small_workflow(sqlite_url, "threads", results, ids, out, err)
    run_parsl_queries(sqlite_url, run_id, ids)


def run_parsl_queries(url, run_id, ids):
    apps = rows(url, "SELECT task_func_name, count(*) as frequency FROM task WHERE run_id = :r "
                     "GROUP BY task_func_name", r=run_id)  # fmt: skip
    assert {a["task_func_name"]: a["frequency"] for a in apps} == {
        "add": 6, "fail_until": 1, "fail": 1, "echo": 1, "sleep_then": 1}  # fmt: skip
    status = rows(url, "SELECT run_id, task_id, task_status_name, timestamp FROM status WHERE run_id = :r", r=run_id)
    assert {s["task_status_name"] for s in status} >= {"pending", "launched", "running", "exec_done", "failed"}
    completion = rows(url, "SELECT task_id, task_func_name, task_time_returned FROM task WHERE run_id = :r", r=run_id)
    assert all(c["task_time_returned"] is not None for c in completion)
    tries = rows(url, "SELECT task.task_id, task_func_name, task_time_returned, task_try_time_running, "
                      "task_try_time_returned FROM task, try WHERE task.task_id = try.task_id "
                      "AND task.run_id = :r AND try.run_id = :r", r=run_id)  # fmt: skip
    assert len(tries) == 12 and all(t["task_try_time_running"] is not None for t in tries)
    dag = rows(
        url,
        """SELECT task.task_id, task.task_func_name, task.task_depends, status.task_status_name
               FROM task LEFT JOIN status
               ON task.task_id = status.task_id
               AND task.run_id = status.run_id
               AND status.timestamp = (SELECT MAX(status.timestamp)
                                       FROM status
                                       WHERE status.task_id = task.task_id and status.run_id = task.run_id)
               WHERE task.run_id = :r""",
        r=run_id,
    )
    last = {d["task_id"]: d["task_status_name"] for d in dag}
    assert last[ids["failing"]] == "failed" and last[ids["both"]] == "exec_done" and len(dag) == 10
    usage = rows(url, "SELECT task.task_id, task_func_name, task_try_time_launched, task_try_time_running, "
                      "task_try_time_returned from task, try WHERE task.task_id = try.task_id "
                      "AND task.run_id = :r and try.run_id = task.run_id", r=run_id)  # fmt: skip
    assert len(usage) == 12
    assert {(u["task_id"], u["task_func_name"]) for u in usage} == {(c["task_id"], c["task_func_name"])
                                                                    for c in completion}  # fmt: skip

    # joins naming columns without their table, as Parsl's queries do: each of those names is one table's
    app_of = {c["task_id"]: c["task_func_name"] for c in completion}
    states = rows(url, "SELECT task.task_id, task_func_name, task_status_name, try_id FROM task, status "
                       "WHERE task.task_id = status.task_id AND task.run_id = status.run_id "
                       "AND task.run_id = :r", r=run_id)  # fmt: skip
    changes = rows(url, "SELECT task_id, task_status_name, try_id FROM status WHERE run_id = :r", r=run_id)
    joined = sorted((c["task_id"], app_of[c["task_id"]], c["task_status_name"], c["try_id"]) for c in changes)
    assert sorted(tuple(s.values()) for s in states) == joined
    assert {(ids["failing"], "fail", "failed", 1), (ids["retried"], "fail_until", "fail_retryable", 0)} <= set(joined)
    peaks = rows(url, "SELECT task.task_id, try.try_id, task_func_name, task_executor, hostname, "
                      "max(psutil_process_memory_resident) AS peak FROM task, try, resource "
                      "WHERE task.task_id = try.task_id AND task.run_id = try.run_id "
                      "AND resource.task_id = try.task_id AND resource.try_id = try.try_id "
                      "AND resource.run_id = try.run_id AND task.run_id = :r "
                      "GROUP BY task.task_id, try.try_id, task_func_name, task_executor, hostname",
                 r=run_id)  # fmt: skip
    attempts = {(t["task_id"], t["try_id"]): t for t in rows(url, "SELECT * FROM try WHERE run_id = :r", r=run_id)}
    sampled = rows(url, "SELECT DISTINCT task_id, try_id FROM resource WHERE run_id = :r", r=run_id)
    assert sorted((p["task_id"], p["try_id"]) for p in peaks) == sorted((s["task_id"], s["try_id"]) for s in sampled)
    assert {p["task_id"] for p in peaks} == set(app_of)
    for peak in peaks:
        attempt = attempts[(peak["task_id"], peak["try_id"])]
        assert peak["task_func_name"] == app_of[peak["task_id"]] and peak["peak"] > 0
        assert (peak["task_executor"], peak["hostname"]) == (attempt["task_executor"], attempt["hostname"])
        assert peak["hostname"] == socket.gethostname()
    resources = rows(url, "SELECT * FROM resource WHERE run_id = :r AND task_id = :t", r=run_id, t=ids["sleeper"])
    assert len(resources) >= 4
    assert rows(url, "SELECT * FROM node WHERE run_id = :r", r=run_id) == []


# --- the database failing ---------------------------------------------------------------------------


def monitoring_warnings(seen):
    return [w for w in seen if issubclass(w.category, MonitoringWarning)]


def test_a_database_that_cannot_be_created(run_monitored, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database's folder should be")
    url = f"sqlite:///{blocker}/monitoring.db"
    seen: list = []

    def workflow():
        return [f.result(TIMEOUT) for f in [workflow_apps.add(n, 1) for n in range(20)]]

    assert run_monitored("threads", workflow, url=url, warnings_seen=seen) == list(range(1, 21))
    (warning,) = monitoring_warnings(seen)
    text_ = str(warning.message)
    assert "monitoring stopped" in text_ and str(blocker) in text_ and "the run goes on" in text_


def test_a_database_that_fills_up(run_monitored, tmp_path, monkeypatch):
    from parlay_monitoring import writer

    setup = writer._sqlite_setup

    def small_disk(connection, record):
        setup(connection, record)
        connection.execute("PRAGMA max_page_count = 60")  # what a full disk looks like to SQLite

    monkeypatch.setattr(writer, "_sqlite_setup", small_disk)
    seen: list = []

    def workflow():
        return sum(f.result(TIMEOUT) for f in [workflow_apps.add(n, 1) for n in range(2000)])

    assert run_monitored("threads", workflow, warnings_seen=seen) == sum(range(1, 2001))
    (warning,) = monitoring_warnings(seen)
    assert "full" in str(warning.message), warning.message


def test_rows_merge_across_flushes_and_fill_many_statements(tmp_path):
    from parlay_monitoring import schema
    from parlay_monitoring.rows import COLUMNS, TASK_COLUMNS, TRY_COLUMNS, T, Y
    from parlay_monitoring.writer import Database, resolve_url

    database = Database(resolve_url(f"sqlite:///{tmp_path / 'm.db'}"))
    database.create()
    database._values_limit = 13  # two status rows per statement: many statements per flush

    def task(state, **values):
        row = [None] * len(TASK_COLUMNS)
        row[T.task_id], row[T.run_id], row[T.task_func_name], row[T.task_memoize] = 7, "r", "f", "0"
        row[T.task_fail_count], row[T.task_fail_cost], row[T.parlay_state] = 0, 0.0, state
        for name, value in values.items():
            row[getattr(T, name)] = value
        return tuple(row)

    def attempt(**values):
        row = [None] * len(TRY_COLUMNS)
        row[Y.try_id], row[Y.task_id], row[Y.run_id], row[Y.task_executor] = 0, 7, "r", "htex"
        for name, value in values.items():
            row[getattr(Y, name)] = value
        return tuple(row)

    statuses = [(n, "pending", f"2026-01-01 00:00:00.{n:06d}", "r", 0, float(n)) for n in range(1001)]
    with database.connection.begin():
        database.insert_rows(schema.status, COLUMNS["status"], statuses)
        database.insert_rows(schema.task, TASK_COLUMNS, [task("launched", task_hashsum="h")], upsert=True)
        database.insert_rows(schema.try_, TRY_COLUMNS, [attempt(time_returned_unix=1.0, hostname="a")], upsert=True)
    with database.connection.begin():  # a later flush: None keeps what is stored, the rest replaces it
        database.insert_rows(schema.status, COLUMNS["status"], statuses[:10])  # seen again: kept once
        database.insert_rows(schema.task, TASK_COLUMNS, [task("exec_done", time_returned_unix=2.0)], upsert=True)
        database.insert_rows(schema.try_, TRY_COLUMNS, [attempt(time_returned_unix=3.0, hostname="b")], upsert=True)
    url = str(database.url)
    database.close()
    assert rows(url, "SELECT count(*) AS n FROM status")[0]["n"] == 1001
    (stored,) = rows(url, "SELECT parlay_state, task_hashsum, time_returned_unix FROM task")
    assert (stored["parlay_state"], stored["task_hashsum"], stored["time_returned_unix"]) == ("exec_done", "h", 2.0)
    (stored,) = rows(url, 'SELECT hostname, time_returned_unix FROM "try"')
    assert (stored["hostname"], stored["time_returned_unix"]) == ("b", 1.0), "a try's first return time stays"


def test_a_full_queue_holds_the_run_back_and_loses_nothing(run_monitored, sqlite_url, monkeypatch):
    from parlay_monitoring.writer import Writer

    monkeypatch.setattr(Writer, "max_queued", 50)
    seen: list = []

    def workflow():
        return sum(f.result(TIMEOUT) for f in [workflow_apps.add(n, 1) for n in range(500)])

    assert run_monitored("threads", workflow, warnings_seen=seen, resource_monitoring_enabled=False) == sum(
        range(1, 501)
    )
    assert not monitoring_warnings(seen)
    counted = rows(sqlite_url, "SELECT task_status_name, count(*) AS n FROM status GROUP BY task_status_name")
    assert {row["task_status_name"]: row["n"] for row in counted} == {"pending": 500, "launched": 500, "exec_done": 500}


def test_a_stalled_writer_drops_events_and_says_so_once(run_monitored, sqlite_url, monkeypatch):
    import threading

    from parlay_monitoring.rows import Batch
    from parlay_monitoring.writer import Writer

    monkeypatch.setattr(Writer, "max_queued", 50)
    monkeypatch.setattr(Writer, "stall_seconds", 0.5)
    monkeypatch.setattr(Writer, "close_timeout", 5.0)
    stuck = threading.Event()
    add = Batch.add

    def stalls(self, event):  # the database hangs once the writer has taken 100 events
        if stuck.is_set() or len(self) >= 100:
            stuck.set()
            time.sleep(0.2)
        add(self, event)

    monkeypatch.setattr(Batch, "add", stalls)
    seen: list = []

    def workflow():
        return sum(f.result(TIMEOUT) for f in [workflow_apps.add(n, 1) for n in range(500)])

    began = time.monotonic()
    assert run_monitored("threads", workflow, warnings_seen=seen, resource_monitoring_enabled=False) == sum(
        range(1, 501)
    )
    assert time.monotonic() - began < 60, "dropping, not waiting for the writer, once it stalled"
    assert any("dropping events" in str(w.message) for w in monitoring_warnings(seen))


# --- the hub --------------------------------------------------------------------------------------


def test_options_are_parsls_and_checked():
    hub = MonitoringHub()
    assert (hub.resource_monitoring_enabled, hub.resource_monitoring_interval, hub.logging_endpoint) == (True, 30, None)
    assert (hub.monitoring_debug, hub.workflow_name, hub.workflow_version) == (False, None, None)
    MonitoringHub(hub_address="10.0.0.1", hub_port=55055, hub_port_range=(55050, 56000), monitoring_debug=True,
                  resource_monitoring_interval=10, client_address="127.0.0.1", client_port_range=(55000, 56000),
                  logdir="/tmp", workflow_name="w", workflow_version="1")  # fmt: skip
    from parlay.errors import ConfigurationError

    bad = {
        "resource_monitoring_interval": (-1, "seconds >= 0"),
        "resource_monitoring_enabled": ("yes", "True or False"),
        "monitoring_debug": (1, "True or False"),
        "hub_port": (70000, "a port number"),
        "workflow_name": (3, "a string"),
        "logging_endpoint": ("monitoring.db", "a database URL"),
    }
    for name, (value, expected) in bad.items():
        with pytest.raises(ConfigurationError, match=rf"MonitoringHub\.{name}=.*{expected}"):
            MonitoringHub(**{name: value})
    with pytest.raises(ConfigurationError, match=r"logging_endpoint='mysql://h/d': .*sqlite or postgresql"):
        MonitoringHub(logging_endpoint="mysql://h/d")
    with pytest.raises(ConfigurationError, match="resource_monitoring_interval"):
        hub.resource_monitoring_interval = "often"


def test_importing_loads_no_database_library():
    import subprocess
    import sys

    code = "import sys, parlay_monitoring; from parlay.monitoring import MonitoringHub; MonitoringHub(); " \
           "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'psutil')))"  # fmt: skip
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "[]"


def test_one_hub_records_one_run_at_a_time(tmp_path):
    from parlay import Config
    from parlay.errors import ConfigurationError

    hub = MonitoringHub(resource_monitoring_enabled=False)
    with parlay.load(Config(run_dir=str(tmp_path / "a"), monitoring=hub)):
        with pytest.raises(ConfigurationError, match="another run"):
            parlay.DataFlowKernel(Config(run_dir=str(tmp_path / "b"), monitoring=hub))
        assert workflow_apps.add(1, 1).result(TIMEOUT) == 2
    with parlay.load(Config(run_dir=str(tmp_path / "a"), monitoring=hub)):  # the next run, once it has ended
        assert workflow_apps.add(1, 2).result(TIMEOUT) == 3
    assert len(rows(f"sqlite:///{tmp_path / 'a' / 'monitoring.db'}", "SELECT * FROM workflow")) == 2


def test_the_readme_lists_the_options_as_declared():
    from parlay.backend_docs import options_table

    readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")).read()
    assert options_table(MonitoringHub).split("\n\n")[0] in readme
