"""The submitting threads and the executor's I/O thread never lose a wake-up.

A lost wake-up leaves the I/O thread believing it has been woken while nothing is left to read from its
wake pipe, so every later submission waits for the thread's poll timeout (100 ms) instead of being sent at
once: a slow mode that lasts for the rest of the run. Each check here is an invariant first (once
everything has settled, no wake-up may be outstanding) and a timing with a wide margin second (a round
trip takes well under a millisecond; one that waits for the poll timeout takes 100 ms).
"""

import os
import statistics
import threading
import time

import pytest

import parlay
from parlay import Config, python_app
from parlay.testing import TIMEOUT
from parlay.testing.providers import wait_for
from parlay_executor_htex import HighThroughputExecutor
from parlay_executor_htex import executor as executor_module

RUNS = 5
BURSTS = 5
BURST = 2000
ROUND_TRIPS = 100
#: Half the I/O thread's poll timeout: a median round trip above it means submissions wait for the timeout.
SLOW = 0.05


@python_app
def noop(x=None):
    return x


@pytest.fixture(autouse=True)
def slow_wake_reads(monkeypatch):
    """Each read of the wake pipe takes a little longer, so that submissions often land while the I/O thread
    handles a wake-up: the window in which a wake-up can be lost, widened (the code must not depend on it)."""

    class SlowReads:
        def __getattr__(self, name):
            return getattr(os, name)

        def read(self, fd, size):
            time.sleep(0.0002)
            return os.read(fd, size)

    monkeypatch.setattr(executor_module, "os", SlowReads())


def htex_config(tmp_path, run):
    executor = HighThroughputExecutor(max_workers_per_node=2)
    return Config(executors=[executor], run_dir=str(tmp_path / f"run-{run}"), strategy="none")


def settled_without_a_wakeup_pending(executor):
    """Nothing is submitted and every result is in: the I/O thread must have consumed every wake-up."""
    return wait_for(lambda: not executor._outbox.wake_pending, "the I/O thread to take its wake-up", timeout=10,
                    interval=0.01)  # fmt: skip


def round_trips(count):
    times = []
    for i in range(count):
        start = time.perf_counter()
        assert noop(i).result(TIMEOUT) == i
        times.append(time.perf_counter() - start)
    return times


def test_round_trips_after_bursts_never_wait_for_the_poll_timeout(tmp_path):
    for run in range(RUNS):
        with parlay.load(htex_config(tmp_path, run)) as dfk:
            executor = dfk.executors["htex"]
            for burst in range(BURSTS):
                futures = [noop(i) for i in range(BURST)]
                assert [f.result(TIMEOUT) for f in futures] == list(range(BURST))
                settled_without_a_wakeup_pending(executor)
                median = statistics.median(round_trips(ROUND_TRIPS))
                assert median < SLOW, f"run {run}, burst {burst}: round trips take {median * 1000:.1f} ms"


def test_threads_submitting_while_results_arrive_never_wait_for_the_poll_timeout(tmp_path):
    medians: dict[int, float] = {}
    failures = []

    def submitter(index):
        try:
            futures = [noop(i) for i in range(BURST // 4)]  # results arrive while the others submit
            medians[index] = statistics.median(round_trips(ROUND_TRIPS // 2))
            assert [f.result(TIMEOUT) for f in futures] == list(range(BURST // 4))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    for run in range(RUNS):
        with parlay.load(htex_config(tmp_path, run)) as dfk:
            threads = [threading.Thread(target=submitter, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(TIMEOUT)
            assert not failures, failures
            settled_without_a_wakeup_pending(dfk.executors["htex"])
            slow = {i: f"{m * 1000:.1f} ms" for i, m in medians.items() if m >= SLOW}
            assert not slow, f"run {run}: threads whose round trips waited for the poll timeout: {slow}"
