"""The same records in a real PostgreSQL (started by the `postgres` fixture), and a server that stops
mid-run: one warning, and the run's results unharmed."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

from parlay.testing import TIMEOUT, workflow_apps
from parlay_monitoring import MonitoringWarning


def load_checks():
    """`test_database`'s checks (this folder's modules are not importable by name under importlib mode)."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "test_database.py")
    spec = importlib.util.spec_from_file_location("monitoring_test_database", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


checks = load_checks()


def test_htex_run_in_postgres(run_monitored, postgres_url, tmp_path):
    workflow, out, err = checks.small_workflow(tmp_path)
    results, ids = run_monitored("htex", workflow, url=postgres_url)
    run_id = checks.check_small_workflow(postgres_url, "htex", results, ids, out, err)
    blocks = checks.rows(postgres_url, "SELECT status FROM block WHERE run_id = :r ORDER BY timestamp_unix", r=run_id)
    assert [b["status"] for b in blocks][:2] == ["PENDING", "RUNNING"]
    assert checks.rows(postgres_url, "SELECT * FROM node WHERE run_id = :r AND active", r=run_id)
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:  # typed as Parsl's own tables declare them
        began = connection.execute(text("SELECT time_began FROM workflow")).scalar_one()
        assert began.year >= 2024
        indexes = connection.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'status'")).scalars()
        assert "status_run_time" in set(indexes)
    engine.dispose()


def test_threads_runs_and_parsl_queries_in_postgres(run_monitored, postgres_url, tmp_path):
    workflow, out, err = checks.small_workflow(tmp_path)
    results, ids = run_monitored("threads", workflow, url=postgres_url)
    run_id = checks.check_small_workflow(postgres_url, "threads", results, ids, out, err)
    checks.run_parsl_queries(postgres_url, run_id, ids)
    run_monitored("threads", lambda: workflow_apps.add(1, 1).result(TIMEOUT), url=postgres_url)  # a second run
    assert len(checks.rows(postgres_url, "SELECT * FROM workflow")) == 2


def written(url):
    try:
        return bool(checks.rows(url, "SELECT task_id FROM task"))
    except Exception:  # no table yet
        return False


def test_a_server_that_stops_mid_run(run_monitored, postgres, postgres_url):
    seen: list = []

    def workflow():
        first = [workflow_apps.add(n, 1).result(TIMEOUT) for n in range(10)]
        deadline = time.monotonic() + TIMEOUT
        while not written(postgres_url):  # the first rows are in
            assert time.monotonic() < deadline, "monitoring wrote nothing to PostgreSQL"
            time.sleep(0.1)
        postgres.stop("fast")
        later = [f.result(TIMEOUT) for f in [workflow_apps.add(n, 100) for n in range(200)]]
        time.sleep(1.5)  # a flush or two: the writer meets the stopped server during the run
        later += [f.result(TIMEOUT) for f in [workflow_apps.add(n, 300) for n in range(100)]]
        return first, later

    try:
        first, later = run_monitored("threads", workflow, url=postgres_url, warnings_seen=seen)
    finally:
        postgres.start()  # for the tests that follow (it may not have stopped, if this test failed early)
    assert first == list(range(1, 11))
    assert later == [n + 100 for n in range(200)] + [n + 300 for n in range(100)]
    (warning,) = [w for w in seen if issubclass(w.category, MonitoringWarning)]
    message = str(warning.message)
    assert "monitoring stopped" in message and f"port={postgres.port}" in message, message
    recorded = checks.rows(postgres_url, "SELECT count(*) AS n FROM task")[0]["n"]
    assert 10 <= recorded < 310  # what was written before the server stopped stays
