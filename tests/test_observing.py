"""The hooks that let plugins watch a run (monitoring, progress): task events with tries and timestamps,
probes that run where each task runs and report back with its result, block and node events."""

from __future__ import annotations

import os
import threading

import pytest

import parlay
from parlay import Config
from parlay.plugins import hookimpl
from parlay.testing import TIMEOUT, workflow_apps
from parlay.testing.providers import wait_for
from parlay.testing.staging import make_executor
from parlay.testing.workflow_apps import WhereProbe


class Watcher:
    def __init__(self, probe=None):
        self.probe = probe or WhereProbe()
        self.events, self.reports, self.blocks, self.nodes, self.node_details = [], [], [], [], []
        self.lock = threading.Lock()

    @hookimpl
    def parlay_task_state_changed(self, task_id, new_state, try_id, timestamp, task):
        with self.lock:
            self.events.append((task_id, new_state, try_id, timestamp, task.func_name))

    @hookimpl
    def parlay_task_probe(self, task_id, try_id, func_name, executor):
        return self.probe

    @hookimpl
    def parlay_task_reported(self, task_id, try_id, func_name, executor, reports):
        with self.lock:
            self.reports.append((task_id, try_id, func_name, reports))

    @hookimpl
    def parlay_block_state_changed(self, executor, block_id, state):
        self.blocks.append((executor, block_id, state))

    @hookimpl
    def parlay_node_state_changed(self, executor, block_id, node, state):
        self.nodes.append((executor, block_id, node["hostname"], state))
        self.node_details.append(node)


def load(tmp_path, kind, watcher, **options):
    from parlay.staging.files import NoOpFileStaging

    executor = make_executor(kind, kind, NoOpFileStaging())
    return parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), plugins=[watcher], **options))


@pytest.mark.parametrize("kind", ["threads", "processes", "htex"])
def test_probes_report_from_where_tasks_ran(tmp_path, kind):
    watcher = Watcher()
    with load(tmp_path, kind, watcher):
        assert [workflow_apps.add(n, 1).result(TIMEOUT) for n in range(5)] == [1, 2, 3, 4, 5]
        failing = workflow_apps.fail("nope")
        with pytest.raises(ValueError, match="nope"):
            failing.result(TIMEOUT)
    assert sorted(r[0] for r in watcher.reports) == list(range(6))
    pids = {r[3][0]["pid"] for r in watcher.reports}
    assert (pids == {os.getpid()}) == (kind == "threads")  # other processes report from there
    failed = next(r for r in watcher.reports if r[2] == "fail")
    assert "nope" in failed[3][0]["error"]
    states = [(e[0], e[1]) for e in watcher.events if e[0] == failing.tid]
    assert states[-1] == (failing.tid, "failed")


def test_a_broken_probe_leaves_tasks_alone(tmp_path):
    for fail_in in ("start", "stop"):
        watcher = Watcher(WhereProbe(fail_in=fail_in))
        with load(tmp_path / fail_in, "processes", watcher):
            assert workflow_apps.add(1, 2).result(TIMEOUT) == 3
        assert "probe_error" in watcher.reports[0][3][0]


def test_task_events_carry_tries_timestamps_and_the_record(tmp_path):
    watcher = Watcher()
    counter = tmp_path / "counter"
    with load(tmp_path, "threads", watcher, retries=2):
        assert workflow_apps.fail_until(str(counter), 1).result(TIMEOUT) == 2
    tries = [(state, try_id) for _, state, try_id, _, _ in watcher.events]
    assert tries == [("pending", 0), ("launched", 0), ("pending", 1), ("launched", 1), ("exec_done", 1)]
    stamps = [e[3] for e in watcher.events]
    assert stamps == sorted(stamps)
    assert {e[4] for e in watcher.events} == {"fail_until"}
    assert [r[1] for r in watcher.reports] == [0, 1]  # each try reported, under its own number


def test_block_and_node_events(tmp_path):
    from parlay.executors import HighThroughputExecutor

    watcher = Watcher()
    executor = HighThroughputExecutor(label="htex", max_workers_per_node=2)
    executor.provider.status_polling_interval = 0.2
    config = Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), plugins=[watcher], strategy_period=0.2)
    with parlay.load(config):
        assert workflow_apps.add(1, 1).result(TIMEOUT) == 2
        wait_for(lambda: ("htex", "0", "RUNNING") in watcher.blocks, "block 0 RUNNING")
        wait_for(lambda: any(state == "joined" for *_, state in watcher.nodes), "a node joining")
    states = [state for label, block, state in watcher.blocks if block == "0"]
    assert states[:2] == ["PENDING", "RUNNING"]
    assert states[-1] in ("SCALED_IN", "CANCELLED", "COMPLETED")
    assert watcher.nodes[0][1] == "0" and watcher.nodes[0][3] == "joined"
    node = watcher.node_details[0]
    assert node["cpu_count"] >= 1 and node["total_memory"] > 2**20, "the manager says what its node has"
