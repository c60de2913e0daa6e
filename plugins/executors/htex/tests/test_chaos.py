"""Chaos: while thousands of short tasks flow, a thread SIGKILLs workers, managers and the interchange at
random and stops a manager past the heartbeat threshold. With retries every task ends with its right result;
without, each task succeeds or fails with an error naming what was lost; none hangs; after `cleanup()`
nothing of the run is left. `PARLAY_CHAOS_SEED` replays a run (its seed is in every failure message)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import InterchangeLost, ManagerLost, WorkerLost
from parlay.testing import TIMEOUT, processes
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_local import LocalProvider

HEARTBEAT_PERIOD, HEARTBEAT_THRESHOLD = 0.5, 2.0
#: Every kind of fault, in the order of the first round; later rounds draw at random.
FAULTS = ("worker", "manager", "stop manager", "interchange")
ROUNDS = 2
BATCH = 250  # tasks submitted at a time while the faults go on


@python_app
def square(x):
    time.sleep(0.001 * (x % 3))
    return x * x


def managers_of(run_dir: str) -> list[int]:
    return [pid for pid, line in processes.mentioning(run_dir) if "parlay_executor_htex.manager" in line]


def left_of(run_dir: str, groups: set[int]) -> list[str]:
    """Live processes of the run: those naming its folder, and any left in the process groups its blocks had."""
    found = []
    for pid in processes.live():
        if pid == os.getpid():
            continue
        with contextlib.suppress(ProcessLookupError):
            line = processes.cmdline(pid)
            if run_dir in line or os.getpgid(pid) in groups:
                found.append(f"{pid}: {line[:200]}")
    return found


class Chaos(threading.Thread):
    """Inflicts one fault every few tenths of a second until told to stop: the kinds in `FAULTS` in order,
    then at random. A stopped manager is always continued, even when the test fails."""

    def __init__(self, executor: HighThroughputExecutor, run_dir: str, seed: int):
        super().__init__(name="chaos", daemon=True)
        self.executor, self.run_dir, self.random = executor, run_dir, random.Random(seed)
        self.done: list[str] = []  # what was inflicted, in order
        self.groups: set[int] = set()  # process groups of the blocks seen (LocalProvider: one per block)
        self.halt = threading.Event()

    @property
    def rounds(self) -> int:
        return len(self.done) // len(FAULTS)

    def run(self) -> None:
        while not self.halt.wait(self.random.uniform(0.2, 0.5)):
            kind = FAULTS[len(self.done)] if len(self.done) < len(FAULTS) else self.random.choice(FAULTS)
            if self.inflict(kind):
                self.done.append(kind)

    def inflict(self, kind: str) -> bool:
        managers = managers_of(self.run_dir)
        for pid in managers:
            with contextlib.suppress(ProcessLookupError):
                self.groups.add(os.getpgid(pid))
        if kind == "interchange":
            interchange = self.executor._interchange
            if interchange is None or interchange.poll() is not None or self.executor._restarts:
                return False  # a new one is starting, or has returned no result yet: not under load
            os.kill(interchange.pid, signal.SIGKILL)
            return True
        if kind == "worker":
            workers = [child for pid in managers for child in processes.children(pid)]
            return bool(workers) and self.kill(self.random.choice(workers), signal.SIGKILL)
        if not managers:
            return False
        manager = self.random.choice(managers)
        if kind == "manager":
            return self.kill(manager, signal.SIGKILL)
        if not self.kill(manager, signal.SIGSTOP):
            return False
        try:  # past the threshold: the interchange declares it lost, and it must leave when continued
            self.halt.wait(HEARTBEAT_THRESHOLD + 1.5)
        finally:
            self.kill(manager, signal.SIGCONT)
        return True

    @staticmethod
    def kill(pid: int, sig: int) -> bool:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True


def run_under_chaos(tmp_path, retries: int, seed: int) -> tuple[list, list, Chaos, str]:
    """Submit batches of tasks until the chaos has done `ROUNDS` rounds; return the inputs, their futures'
    outcomes (a result or an exception), the chaos and the run's folder. Cleans up before returning."""
    run_dir = str(tmp_path / "runinfo")
    provider = LocalProvider(init_blocks=2, min_blocks=1, max_blocks=2)
    executor = HighThroughputExecutor(
        max_workers_per_node=2,
        heartbeat_period=HEARTBEAT_PERIOD,
        heartbeat_threshold=HEARTBEAT_THRESHOLD,
        provider=provider,
    )
    config = Config(executors=[executor], retries=retries, run_dir=run_dir, strategy_period=0.5)
    inputs, futures = [], []
    with parlay.load(config) as dfk:
        chaos = Chaos(executor, dfk.run_dir, seed)
        chaos.start()
        try:
            while chaos.rounds < ROUNDS:
                batch = range(len(inputs), len(inputs) + BATCH)
                inputs += batch
                futures += [square(x) for x in batch]
                deadline = time.monotonic() + TIMEOUT
                while sum(not f.done() for f in futures) > BATCH and time.monotonic() < deadline:
                    time.sleep(0.05)  # keep the load steady, not ever growing
        finally:
            chaos.halt.set()
            chaos.join(TIMEOUT)
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result(TIMEOUT))
            except (WorkerLost, ManagerLost, InterchangeLost) as exc:
                outcomes.append(exc)
            except TimeoutError:
                pytest.fail(f"seed {seed}: a task hung after {chaos.done}")
        ipc_dir = executor._ipc_dir
    assert ipc_dir is not None and not os.path.exists(ipc_dir), "the interchange's private folder is removed"
    deadline = time.monotonic() + TIMEOUT
    while (left := left_of(run_dir, chaos.groups)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], f"seed {seed}: left after cleanup: {left}"
    return inputs, outcomes, chaos, run_dir


def seed_for(case: int) -> int:
    return int(os.environ.get("PARLAY_CHAOS_SEED", 1000 + case))


def test_with_retries_every_task_ends_right_whatever_is_killed(tmp_path):
    seed = seed_for(0)
    inputs, outcomes, chaos, _ = run_under_chaos(tmp_path, retries=20, seed=seed)
    assert set(FAULTS) <= set(chaos.done), f"seed {seed}: {chaos.done}"
    wrong = [(x, outcome) for x, outcome in zip(inputs, outcomes, strict=True) if outcome != x * x]
    assert wrong == [], f"seed {seed}, faults {chaos.done}: {len(wrong)} of {len(inputs)} tasks wrong: {wrong[:5]}"
    assert len(inputs) >= 1000, "under load: thousands of tasks"


def test_without_retries_each_task_succeeds_or_names_what_was_lost(tmp_path):
    seed = seed_for(1)
    inputs, outcomes, chaos, _ = run_under_chaos(tmp_path, retries=0, seed=seed)
    assert set(FAULTS) <= set(chaos.done), f"seed {seed}: {chaos.done}"
    lost = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    for x, outcome in zip(inputs, outcomes, strict=True):
        assert outcome == x * x or isinstance(outcome, Exception), f"seed {seed}: task {x} gave {outcome!r}"
    for error in lost:
        what = {WorkerLost: "worker", ManagerLost: "manager", InterchangeLost: "interchange"}[type(error)]
        assert what in str(error).lower() or what in type(error).__name__.lower(), f"seed {seed}: {error}"
    assert lost, f"seed {seed}: the faults {chaos.done} lost no task: they did not hit the load"
    assert len(lost) < len(inputs), f"seed {seed}: every task was lost"
