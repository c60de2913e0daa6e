"""`parlay status` from the monitoring database: `parlay_monitoring.status.report` on a database filled here
with the schema's own tables."""

from __future__ import annotations

import datetime
import os
import sys

import sqlalchemy as sa

try:
    import parlay_monitoring  # noqa: F401
except ImportError:  # the plugin's folder, when the workspace venv does not have it installed
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from parlay_monitoring import commands, schema, status

T0 = datetime.datetime(2026, 5, 4, 10, 0, 0)


def at(seconds: float) -> dict:
    moment = T0 + datetime.timedelta(seconds=seconds)
    return {"timestamp": moment, "timestamp_unix": moment.timestamp()}


def workflow(run_id: str, rundir: str, ended: float | None = 42.5) -> dict:
    completed = None if ended is None else T0 + datetime.timedelta(seconds=ended)
    return {
        "run_id": run_id,
        "workflow_name": "analysis.py",
        "workflow_version": "1.0",
        "time_began": T0,
        "time_completed": completed,
        "host": "login1",
        "user": "ada",
        "rundir": rundir,
        "tasks_failed_count": 2,
        "tasks_completed_count": 5,
        "time_began_unix": T0.timestamp(),
        "time_completed_unix": None if completed is None else completed.timestamp(),
    }


def task(run_id: str, task_id: int, state: str, app: str = "add", exception: str | None = None, returned: float = 1):
    return {
        "run_id": run_id,
        "task_id": task_id,
        "task_func_name": app,
        "task_memoize": "False",
        "task_fail_count": 1 if exception else 0,
        "task_fail_cost": 1.0 if exception else 0.0,
        "parlay_executor": "htex",
        "parlay_state": state,
        "task_exception": exception,
        "time_returned_unix": T0.timestamp() + returned,
    }


def fill(path: str, runs: list[tuple[dict, list[dict]]], tries=(), blocks=(), nodes=()) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    schema.metadata.create_all(engine)
    with engine.begin() as connection:
        for run, tasks in runs:
            connection.execute(sa.insert(schema.workflow), [run])
            if tasks:
                connection.execute(sa.insert(schema.task), tasks)
        for table, rows in ((schema.try_, tries), (schema.block, blocks), (schema.node, nodes)):
            for row in rows:  # one by one: an executemany takes its columns from the first row
                connection.execute(sa.insert(table), [row])
    engine.dispose()


def make_run(tmp_path, rundir_recorded=None):
    """runinfo/000 with 7 tasks (two failed, one not run), 9 tries, two blocks and two nodes; runinfo/001 of
    another run in the same database."""
    runinfo = tmp_path / "runinfo"
    run_dir = runinfo / "000"
    run_dir.mkdir(parents=True)
    (runinfo / "001").mkdir()
    tasks = [task("r0", n, "exec_done") for n in range(4)]
    tasks += [
        task("r0", 4, "failed", "fail", "ValueError: bad input 4\nTraceback ...", returned=3),
        task("r0", 5, "dep_fail", "add", "DependencyError: task 4 failed", returned=2),
        task("r0", 6, "failed", "fail", "KeyError: 'x'", returned=1),
    ]
    tries = [{"run_id": "r0", "task_id": n, "try_id": 0, "task_executor": "htex"} for n in range(7)]
    tries += [{"run_id": "r0", "task_id": n, "try_id": 1, "task_executor": "htex"} for n in (4, 6)]
    blocks = [
        {"run_id": "r0", "executor_label": "htex", "block_id": "0", "job_id": "101", "status": "PENDING", **at(1)},
        {"run_id": "r0", "executor_label": "htex", "block_id": "0", "job_id": "101", "status": "RUNNING", **at(2)},
        {"run_id": "r0", "executor_label": "htex", "block_id": "0", "job_id": "101", "status": "SCALED_IN", **at(40)},
        {"run_id": "r0", "executor_label": "htex", "block_id": "1", "job_id": "102", "status": "PENDING", **at(3)},
        {
            "run_id": "r0", "executor_label": "htex", "block_id": "1", "job_id": "102", "status": "FAILED",
            "message": "exceeded walltime", **at(30),
        },
        {"run_id": "r1", "executor_label": "htex", "block_id": "0", "job_id": "900", "status": "RUNNING", **at(5)},
    ]  # fmt: skip
    node = {"run_id": "r0", "cpu_count": 8, "total_memory": 2**34, "python_v": "3.12", "executor_label": "htex"}
    nodes = [
        {**node, "hostname": "nid001", "uid": "m1", "block_id": "0", "active": True, "worker_count": 4,
         "last_heartbeat": T0, **at(2)},
        {**node, "hostname": "nid001", "uid": "m1", "block_id": "0", "active": False, "worker_count": 4,
         "last_heartbeat": T0, **at(40)},
        {**node, "hostname": "nid002", "uid": "m2", "block_id": "1", "active": True, "worker_count": 4,
         "last_heartbeat": T0, **at(4)},
    ]  # fmt: skip
    recorded = rundir_recorded if rundir_recorded is not None else str(run_dir)
    other = workflow("r1", str(runinfo / "001"), ended=None)
    fill(str(runinfo / "monitoring.db"), [(workflow("r0", recorded), tasks), (other, [])], tries, blocks, nodes)
    return str(run_dir)


def test_report_summarizes_tasks_tries_failures_blocks_and_nodes(tmp_path):
    text = status.report(make_run(tmp_path))
    lines = text.splitlines()
    assert lines[0].startswith("run r0 (from the monitoring database ")
    assert "analysis.py 1.0 on login1, by ada" in text
    assert "started:   2026-05-04 10:00:00" in text
    assert "ended:     2026-05-04 10:00:42 (after 42.5 s)" in text
    assert "tasks:     7 (4 exec_done, 2 failed, 1 dep_fail)" in text
    assert "tries:     9 (2 retries)" in text
    failures = lines[lines.index("  failures (3):") + 1 :][:3]
    assert failures == [  # root failures first, earliest first; the first line of each error
        "    task 6 (fail): KeyError: 'x'",
        "    task 4 (fail): ValueError: bad input 4",
        "    task 5 (add) dep_fail: DependencyError: task 4 failed",
    ]
    assert "  blocks (2):" in lines
    assert "    htex block 0: job 101, SCALED_IN at 2026-05-04 10:00:40" in lines
    assert "    htex block 1: job 102, FAILED at 2026-05-04 10:00:30 (exceeded walltime)" in lines
    assert "job 900" not in text  # another run's block
    assert "  nodes (2, 1 active):" in lines
    assert "    nid001: htex block 0, 4 workers, gone" in lines
    assert "    nid002: htex block 1, 4 workers, active" in lines


def test_the_hook_answers_with_the_report(tmp_path):
    run_dir = make_run(tmp_path)
    assert commands.parlay_status_report(run_dir=run_dir) == status.report(run_dir)


def test_a_run_recorded_by_a_relative_folder_and_still_going(tmp_path):
    make_run(tmp_path, rundir_recorded="runinfo/000")
    assert status.report(str(tmp_path / "runinfo" / "000")).startswith("run r0 ")
    text = status.report(str(tmp_path / "runinfo" / "001"))
    assert text.startswith("run r1 ")
    assert "ended:     no: still running, or did not end cleanly" in text
    assert "tasks:     0" in text and "blocks (1):" in text and "nodes" not in text


def test_no_answer_without_a_database_or_a_row_for_the_run(tmp_path):
    run_dir = tmp_path / "runinfo" / "000"
    run_dir.mkdir(parents=True)
    assert status.report(str(run_dir)) is None  # no database
    fill(str(tmp_path / "runinfo" / "monitoring.db"), [(workflow("other", "/elsewhere/runinfo/000"), [])])
    assert status.report(str(run_dir)) is None  # no row for this run
    empty = tmp_path / "empty" / "runinfo"
    (empty / "000").mkdir(parents=True)
    (empty / "monitoring.db").write_bytes(b"")
    assert status.report(str(empty / "000")) is None  # a database without the tables


def test_the_database_is_only_read(tmp_path):
    run_dir = make_run(tmp_path)
    database = os.path.join(os.path.dirname(run_dir), "monitoring.db")
    before = os.stat(database).st_mtime_ns, sorted(os.listdir(os.path.dirname(run_dir)))
    assert status.report(run_dir) is not None
    assert (os.stat(database).st_mtime_ns, sorted(os.listdir(os.path.dirname(run_dir)))) == before
