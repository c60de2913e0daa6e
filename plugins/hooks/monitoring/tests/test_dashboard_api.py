"""The dashboard's JSON answers on a database of known content: a generated run of 100,000 tasks and a few
realistic runs (`parlay_monitoring.testing`): counts, states over time, percentiles, the Gantt, pagination, one task,
blocks, resources; and the same answers from PostgreSQL."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from parlay_monitoring import testing as data  # generated runs, shared with the benchmark


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return data.shared_database(tmp_path_factory)


@pytest.fixture(scope="module")
def site(db):
    with data.serving(db.path, poll=1.0) as server:
        yield server.url.rstrip("/")


def quantile(values, p):
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    ordered = sorted(values)
    h = p * (len(ordered) - 1)
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def reference_states(db_path, run_id, start, step, buckets):
    """Tasks in each state at the end of each bucket, the slow and obvious way: every status row in Python (a
    task's final state last, as the dashboard orders changes)."""
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT task_id, task_status_name, timestamp_unix, try_id FROM status WHERE run_id = :r"),
            {"r": run_id},
        ).all()
    engine.dispose()
    final = {"exec_done", "memo_done", "failed", "dep_fail", "cancelled"}
    histories = {}
    for task_id, state, ts, try_id in rows:
        histories.setdefault(task_id, []).append((state in final, ts, try_id, state))
    diff = {}
    for changes in histories.values():
        changes.sort()
        at = [min(max(math.floor((ts - start) / step), 0), buckets - 1) for _, ts, _, _ in changes] + [buckets]
        for i, (_, _, _, state) in enumerate(changes):
            counts = diff.setdefault(state, [0] * (buckets + 1))
            counts[at[i]] += 1
            counts[at[i + 1]] -= 1
    series = {}
    for state, counts in diff.items():
        total, values = 0, []
        for d in counts[:buckets]:
            total += d
            values.append(total)
        series[state] = values
    return series


# --- the runs -------------------------------------------------------------------------------------


def test_the_runs_newest_first_with_their_counts(site, db):
    answer = data.get_json(f"{site}/api/workflows")
    runs = {r["run_id"]: r for r in answer["items"]}
    real = db.realistic
    assert answer["total"] == 4
    assert [r["run_id"] for r in answer["items"]] == [real.live, real.pipeline, real.tiny, data.LARGE_RUN]
    large = runs[data.LARGE_RUN]["tasks"]
    assert large["total"] == data.LARGE_TASKS
    assert large["done"] == db.large.states["exec_done"] + db.large.states["memo_done"]
    assert large["failed"] == db.large.states["failed"] + db.large.states["dep_fail"]
    live = runs[real.live]
    assert live["live"] and live["completed"] is None
    assert live["tasks"]["by_state"] == dict(real.live_states)  # counted from the task table while it runs
    assert runs[real.pipeline]["rundir"].endswith("runinfo/003") and not runs[real.pipeline]["live"]
    page = data.get_json(f"{site}/api/workflows?page=2&per_page=3")
    assert (page["page"], page["total"], [r["run_id"] for r in page["items"]]) == (2, 4, [data.LARGE_RUN])


def test_one_run_counts_tries_apps_blocks(site, db):
    answer = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}")
    assert answer["counts"] == dict(db.large.states)
    assert answer["tasks"] == data.LARGE_TASKS and answer["tries"] == db.large.tries
    assert {a["name"]: a["tasks"] for a in answer["apps"]} == dict(db.large.app_tasks)
    assert (answer["blocks"], answer["nodes"], answer["has_resources"], answer["live"]) == (32, 128, True, False)
    assert list(answer["counts"]) == ["exec_done", "memo_done", "failed", "dep_fail"]  # in state order
    pipeline = data.get_json(f"{site}/api/workflows/{db.realistic.pipeline}")
    assert pipeline["counts"] == dict(db.realistic.pipeline_states)
    assert (pipeline["blocks"], pipeline["nodes"]) == (4, 3)


# --- tasks by state over time ---------------------------------------------------------------------


def test_states_over_time_are_exact_for_a_small_run(site, db):
    run = db.realistic.pipeline
    answer = data.get_json(f"{site}/api/workflows/{run}/states?buckets=60")
    assert answer["sample"]["exact"] and answer["sample"]["sampled_tasks"] == 48
    expected = reference_states(db.path, run, answer["start"], answer["step"], 60)
    assert {s: v for s, v in answer["series"].items() if any(v)} == {s: v for s, v in expected.items() if any(v)}
    assert {s: v[-1] for s, v in answer["series"].items() if v[-1]} == dict(db.realistic.pipeline_states)
    assert "fail_retryable" in answer["states"] and "running_ended" in answer["states"]


def test_states_over_time_of_a_live_run_end_at_its_current_states(site, db):
    answer = data.get_json(f"{site}/api/workflows/{db.realistic.live}/states")
    assert answer["live"]
    assert {s: v[-1] for s, v in answer["series"].items() if v[-1]} == dict(db.realistic.live_states)


def test_states_over_time_of_a_large_run_come_from_a_sample(site, db):
    answer = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}/states?buckets=40")
    sample = answer["sample"]
    assert not sample["exact"] and sample["of"] == data.LARGE_TASKS
    assert 19_000 <= sample["sampled_tasks"] <= 21_000
    # final states are scaled to end exactly at their counts; nothing is left in flight
    assert {s: v[-1] for s, v in answer["series"].items() if v[-1]} == dict(db.large.states)
    # in between, the estimate follows the truth (the sample is fixed: this is deterministic)
    expected = reference_states(db.path, data.LARGE_RUN, answer["start"], answer["step"], 40)
    for b in (10, 20, 30):
        for state in ("launched", "exec_done"):
            truth, estimate = expected[state][b], answer["series"][state][b]
            assert abs(estimate - truth) <= 0.15 * truth + 20, (state, b, truth, estimate)


# --- apps -----------------------------------------------------------------------------------------


def test_apps_percentiles_are_exact_up_to_the_sample_size(db):
    from parlay_monitoring.dashboard.cli import engine_for
    from parlay_monitoring.dashboard.queries import Queries

    engine = engine_for(str(db.path))
    queries = Queries(engine)
    queries.stats_sample = data.LARGE_TASKS
    try:
        answer = queries.apps(data.LARGE_RUN)
    finally:
        engine.dispose()
    assert answer["runtime_method"] == {"exact": True, "how": "every try, in SQL", "tasks": 100_000, "of": 100_000}
    apps = {a["name"]: a for a in answer["apps"]}
    assert set(apps) == set(db.large.app_tasks)
    for name, durations in db.large.app_durations.items():
        app = apps[name]
        assert app["tasks"] == db.large.app_tasks[name]
        assert app["failed"] == db.large.app_failed[name]
        assert app["done"] + app["failed"] == app["tasks"]
        runtime = app["runtime"]
        assert runtime["tries"] == len(durations)
        for p in (0.5, 0.9, 0.99):
            assert runtime[f"p{round(p * 100)}"] == pytest.approx(quantile(durations, p), rel=1e-9)
        assert runtime["max"] == pytest.approx(max(durations))
        assert runtime["mean"] == pytest.approx(sum(durations) / len(durations))


def test_apps_percentiles_of_a_larger_run_are_estimated_from_a_sample(site, db):
    answer = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}/apps")
    method = answer["runtime_method"]
    assert not method["exact"] and method["tasks"] == 50_000 and "50,000 of 100,000" in method["how"]
    for app in answer["apps"]:
        durations = db.large.app_durations[app["name"]]
        assert app["tasks"] == db.large.app_tasks[app["name"]]  # counts stay exact
        assert app["failed"] == db.large.app_failed[app["name"]]
        assert len(durations) / 2.2 < app["runtime"]["tries"] < len(durations) / 1.8
        for p in (0.5, 0.9, 0.99):
            assert app["runtime"][f"p{round(p * 100)}"] == pytest.approx(quantile(durations, p), rel=0.05)
    pipeline = data.get_json(f"{site}/api/workflows/{db.realistic.pipeline}/apps")
    assert pipeline["runtime_method"]["exact"]
    align = next(a for a in pipeline["apps"] if a["name"] == "align")
    assert (align["tasks"], align["done"], align["failed"], align["runtime"]["tries"]) == (20, 19, 1, 22)


# --- Gantt ----------------------------------------------------------------------------------------


def test_gantt_draws_each_try_of_a_small_run(site, db):
    answer = data.get_json(f"{site}/api/workflows/{db.realistic.pipeline}/gantt")
    assert answer["mode"] == "bars" and not answer["truncated"]
    assert len(answer["bars"]) == answer["tries_in_window"] == 47
    assert {b["lane"] for b in answer["bars"]} == {"threads", "htex / block 0", "htex / block 1", "htex / block 2"}
    failed = [b for b in answer["bars"] if b["failed"]]
    assert {(b["task_id"], b["try_id"]) for b in failed} >= {(12, 0), (12, 1), (40, 0), (7, 0)}
    assert [c[1] for c in answer["blocks"]["htex / block 0"]] == ["PENDING", "RUNNING", "COMPLETED"]


def test_gantt_of_a_large_run_buckets_lanes_and_zooms_to_bars(site, db):
    whole = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}/gantt?buckets=100")
    assert whole["mode"] == "cells" and not whole["sample"]["exact"]
    assert sum(lane["tries"] for lane in whole["lanes"]) == db.large.tries
    assert {lane["lane"] for lane in whole["lanes"]} == {
        "threads" if block is None else f"{executor} / block {block}" for executor, block in db.large.lanes
    }
    assert [lane["lane"] for lane in whole["lanes"]][:3] == ["htex / block 0", "htex / block 1", "htex / block 2"]
    assert all(len(cells) == 100 for cells in whole["cells"].values())
    assert sum(map(sum, whole["cells"].values())) > 0
    start = whole["start"] + 1000
    zoom = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}/gantt?start={start}&end={start + 10}")
    assert zoom["mode"] == "bars" and 100 < len(zoom["bars"]) <= 2000
    assert all(b["running"] <= start + 10 and (b["returned"] or 1e20) >= start for b in zoom["bars"])
    middle = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}/gantt?start={start}&end={start + 600}")
    assert middle["mode"] == "cells" and middle["sample"]["exact"]  # few enough tries to bucket every one


# --- task lists and pagination --------------------------------------------------------------------


def test_failed_tasks_paginate_in_id_order(site, db):
    failed = sorted(db.large.failed_ids)
    first = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}/tasks?state=failed&per_page=50")
    second = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}/tasks?state=failed&per_page=50&page=2")
    assert first["total"] == second["total"] == len(failed) == db.large.states["failed"]
    assert [t["task_id"] for t in first["items"]] == failed[:50]
    assert [t["task_id"] for t in second["items"]] == failed[50:100]
    assert all(t["state"] == "failed" and t["exception"] for t in first["items"])
    last_page = math.ceil(len(failed) / 50)
    last = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}/tasks?state=failed&per_page=50&page={last_page}")
    assert [t["task_id"] for t in last["items"]] == failed[(last_page - 1) * 50 :] and not last["has_more"]


def test_task_lists_filter_by_state_and_app(site, db):
    url = f"{site}/api/workflows/{data.LARGE_RUN}/tasks"
    every = data.get_json(f"{url}?page=1000&per_page=20")
    assert every["total"] == data.LARGE_TASKS
    assert [t["task_id"] for t in every["items"]] == list(range(19_980, 20_000))
    both = data.get_json(f"{url}?state=exec_done&app=simulate&page=3&per_page=40")
    assert both["total"] is None and both["has_more"]
    ids = [t["task_id"] for t in both["items"]]
    assert ids == sorted(ids) and len(ids) == 40
    assert {(t["state"], t["app"]) for t in both["items"]} == {("exec_done", "simulate")}
    failures = data.get_json(f"{url}?state=failed,dep_fail&app=summarize&per_page=500")
    expected = db.large.app_failed["summarize"]
    assert len(failures["items"]) == min(expected, 500) and failures["has_more"] == (expected > 500)
    assert {t["state"] for t in failures["items"]} <= {"failed", "dep_fail"}
    app_only = data.get_json(f"{url}?app=summarize&per_page=5")
    assert app_only["total"] == db.large.app_tasks["summarize"]


# --- one task -------------------------------------------------------------------------------------


def test_one_failed_task_with_its_tries_history_links_and_files(site, db):
    real = db.realistic
    task = data.get_json(f"{site}/api/workflows/{real.pipeline}/tasks/{real.failed_task}")
    assert (task["app"], task["state"], task["fail_count"]) == ("align", "failed", 2)
    assert task["exception"].startswith("ValueError: truncated FASTQ record")
    assert [(t["try_id"], t["block_id"], t["host"]) for t in task["tries"]] == [(0, "0", "node01"), (1, "0", "node01")]
    assert all(t["exception"] and t["running"] < t["returned"] for t in task["tries"])
    assert [s["state"] for s in task["states"]] == [
        "pending", "launched", "running", "running_ended", "fail_retryable",
        "pending", "launched", "running", "running_ended", "failed",
    ]  # fmt: skip
    assert [d["task_id"] for d in task["dependencies"]] == [2]
    assert [(d["task_id"], d["state"]) for d in task["dependents"]] == [(22, "exec_done"), (30, "dep_fail")]
    assert task["streams"]["stderr"] == {
        "recorded": str(real.stderr),
        "available": True,
        "size": real.stderr.stat().st_size,
    }
    assert task["streams"]["stdout"]["available"] and len(task["resources"]) >= 2
    missing = data.get_json(f"{site}/api/workflows/{real.pipeline}/tasks/13")
    assert missing["streams"]["stdout"]["recorded"].endswith("align_13.stdout")
    assert not missing["streams"]["stdout"]["available"] and missing["streams"]["stderr"]["recorded"] is None
    retried = data.get_json(f"{site}/api/workflows/{real.pipeline}/tasks/{real.retried_task}")
    assert [t["exception"] is None for t in retried["tries"]] == [False, True] and retried["state"] == "exec_done"


def test_unknown_runs_tasks_and_endpoints_are_404(site, db):
    for path in (
        "/api/workflows/no-such-run",
        "/api/workflows/no-such-run/states",
        f"/api/workflows/{db.realistic.pipeline}/tasks/999",
        f"/api/workflows/{db.realistic.pipeline}/nothing",
        "/api/other",
        "/no/such/page",
    ):
        code, _, _ = data.fetch(site + path)
        assert code == 404, path
    code, _, body = data.fetch(f"{site}/api/workflows/{db.realistic.pipeline}/tasks?page=x")
    assert code == 404 and b"page must be a number" in body


# --- blocks, nodes, resources ---------------------------------------------------------------------


def test_blocks_nodes_and_workers(site, db):
    answer = data.get_json(f"{site}/api/workflows/{db.realistic.pipeline}/blocks")
    blocks = {b["block_id"]: b for b in answer["blocks"]}
    assert answer["blocks_total"] == 4 and set(blocks) == {"0", "1", "2", "3"}
    assert [h["state"] for h in blocks["0"]["history"]] == ["PENDING", "RUNNING", "COMPLETED"]
    assert blocks["3"]["state"] == "FAILED" and "QOSMaxSubmitJobPerUserLimit" in blocks["3"]["history"][-1]["message"]
    assert blocks["1"]["job_id"] == "4712"
    assert {s: v[-1] for s, v in answer["block_states"].items() if v[-1]} == {"COMPLETED": 3, "FAILED": 1}
    assert max(answer["workers"]) == 24 and answer["nodes_total"] == 3
    assert [n["hostname"] for n in answer["nodes"]] == ["node01", "node02", "node03"]
    large = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}/blocks?per_page=10&page=2")
    assert large["blocks_total"] == 32 and [b["block_id"] for b in large["blocks"]] == [str(i) for i in range(10, 20)]
    assert large["nodes_total"] == 128 and len(large["nodes"]) == 10 and max(large["workers"]) == 128 * 32


def test_resources_per_app_and_largest_tries(site, db):
    run = db.realistic.pipeline
    answer = data.get_json(f"{site}/api/workflows/{run}/resources?per_page=5")
    engine = create_engine(f"sqlite:///{db.path}")
    with engine.connect() as c:
        peaks = c.execute(
            text(
                "SELECT task_id, try_id, max(parlay_func_name), max(psutil_process_memory_resident) FROM resource "
                "WHERE run_id = :r GROUP BY task_id, try_id"
            ),
            {"r": run},
        ).all()
    engine.dispose()
    assert answer["sample"]["exact"] and answer["top"]["total"] == len(peaks)
    per_app = Counter(app for _, _, app, _ in peaks)
    assert {a["name"]: a["tries"] for a in answer["apps"]} == dict(per_app)
    for a in answer["apps"]:
        assert a["rss_max"] == max(rss for _, _, app, rss in peaks if app == a["name"])
    top = sorted(peaks, key=lambda r: -r[3])[:5]
    assert [(t["task_id"], t["try_id"]) for t in answer["top"]["items"]] == [(r[0], r[1]) for r in top]
    assert sum(map(sum, answer["histogram"]["counts"].values())) == len(peaks)
    assert set(answer["memory"]["series"]) == set(per_app)
    large = data.get_json(f"{site}/api/workflows/{data.LARGE_RUN}/resources")
    assert large["sample"] == {"exact": False, "tasks": 50_000, "of": 100_000} and large["scale"] == 2.0
    assert sum(large["rows_by_app"].values()) == db.large.resource_rows  # counted exactly
    assert sum(a["tries"] for a in large["apps"]) == pytest.approx(db.large.resource_rows / 2, rel=0.05)


# --- PostgreSQL -----------------------------------------------------------------------------------


def test_postgresql_gives_the_same_answers_with_percentiles_in_sql(postgres_url, tmp_path):
    from parlay_monitoring.dashboard.cli import engine_for
    from parlay_monitoring.dashboard.queries import Queries

    now = 1_767_000_000.0
    sqlite_path = tmp_path / "monitoring.db"
    answers = {}
    for name, url in (("postgresql", postgres_url), ("sqlite", f"sqlite:///{sqlite_path}")):
        writer = data.create_database(url)
        real = data.add_realistic_runs(writer, tmp_path / name, now=now)
        writer.dispose()
        engine = engine_for(url)
        q = Queries(engine, clock=lambda: now)
        run = real.pipeline
        answers[name] = {
            "workflows": q.workflows(),
            "workflow": q.workflow(run),
            "states": q.states(run),
            "apps": q.apps(run),
            "gantt": q.gantt(run),
            "tasks": q.tasks(run, state="exec_done", per_page=10, page=2),
            "task": q.task(run, real.failed_task),
            "blocks": q.blocks(run),
            "resources": q.resources(run),
            "live": q.states(real.live),
        }
        engine.dispose()
    pg, lite = answers["postgresql"], answers["sqlite"]
    assert pg["apps"]["runtime_method"]["how"] == "percentile_cont over every try, in PostgreSQL"
    assert lite["apps"]["runtime_method"]["how"] == "every try, in SQL"
    for key in lite:
        if key == "apps":
            for a, b in zip(pg["apps"]["apps"], lite["apps"]["apps"], strict=True):
                assert (a["name"], a["tasks"], a["states"]) == (b["name"], b["tasks"], b["states"])
                for figure in ("tries", "mean", "max", "p50", "p90", "p99"):
                    assert (a["runtime"] or {}).get(figure) == pytest.approx((b["runtime"] or {}).get(figure))
        else:
            assert _rounded(pg[key]) == _rounded(lite[key]), key


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items() if k not in ("rundir", "stdout", "stderr")}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def test_a_run_without_an_end_and_without_changes_for_an_hour_is_not_shown_live(db):
    import time

    from parlay_monitoring.dashboard.cli import engine_for
    from parlay_monitoring.dashboard.queries import Queries

    engine = engine_for(str(db.path))
    later = time.time() + 2 * 3600
    queries = Queries(engine, clock=lambda: later)
    try:
        run = next(r for r in queries.workflows()["items"] if r["run_id"] == db.realistic.live)
        summary = queries.workflow(db.realistic.live)
        ttl = queries.ttl(db.realistic.live)
    finally:
        engine.dispose()
    assert (run["live"], run["quiet"]) == (False, True)
    assert run["duration"] == pytest.approx(run["last_change"] - run["began"])
    assert (summary["live"], summary["quiet"], summary["end"]) == (False, True, run["last_change"])
    assert ttl == 30.0  # answers about it are reused a little while: it may still be going


def test_the_gantt_chart_draws_at_most_max_lanes(db):
    from parlay_monitoring.dashboard.cli import engine_for
    from parlay_monitoring.dashboard.queries import Queries

    engine = engine_for(str(db.path))
    queries = Queries(engine)
    queries.max_lanes = 5
    try:
        cells = queries.gantt(data.LARGE_RUN)
        start = cells["start"] + 1000
        bars = queries.gantt(data.LARGE_RUN, start, start + 10)
    finally:
        engine.dispose()
    first = ["htex / block 0", "htex / block 1", "htex / block 2", "htex / block 3", "htex / block 4"]
    for answer in (cells, bars):
        assert answer["lanes_total"] == 33 and [lane["lane"] for lane in answer["lanes"]] == first
        assert set(answer["blocks"]) == set(first)
    assert set(cells["cells"]) == set(first) and {b["lane"] for b in bars["bars"]} == set(first)
