"""Soak: a million short tasks on htex with retries while workers are killed now and then.

    python benchmarks/bench_soak.py [--tasks 1000000] [--kill-every 2] [--window 50000] [--report-every 5]

Two workers on this machine (LocalProvider, one block), `retries=3`. At most `--window` tasks are
outstanding at once, as a long workflow keeps them. Every `--kill-every` seconds one worker process of the
run is SIGKILLed (as the OOM killer would); its task fails with `WorkerLost` and is retried, and the manager
starts a new worker. Every `--report-every` seconds it prints the throughput of that interval and the
submitting process's resident memory; at the end, the lost tasks (tasks that did not return their own
argument: must be 0), the retries, the kills, and the slowest interval.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import tempfile
import threading
import time

import parlay
from parlay.plugins import hookimpl
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_local import LocalProvider


@parlay.python_app
def echo(x):
    return x


class Retries:
    """Counts retried tries: a task that goes back to pending after it was launched."""

    def __init__(self) -> None:
        self.count = 0

    @hookimpl
    def parlay_task_state_changed(self, old_state, new_state):
        if old_state == "launched" and new_state == "pending":
            self.count += 1


def resident_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def workers_of(run_dir: str) -> list[int]:
    """Worker processes of this run: children of the managers whose command line names the run's folder."""
    managers, parents = set(), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as stream:
                argv = stream.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as stream:
                parents[int(entry)] = int(stream.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if b"parlay_executor_htex.manager" in argv and any(run_dir.encode() in arg for arg in argv):
            managers.add(int(entry))
    return [pid for pid, parent in parents.items() if parent in managers]


def killer(run_dir: str, every: float, stop: threading.Event, kills: list[int]) -> None:
    while not stop.wait(every):
        workers = workers_of(run_dir)
        if workers:
            victim = random.choice(workers)
            try:
                os.kill(victim, signal.SIGKILL)
                kills.append(victim)
            except ProcessLookupError:
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--kill-every", type=float, default=2.0)
    parser.add_argument("--window", type=int, default=50_000)
    parser.add_argument("--report-every", type=float, default=5.0)
    args = parser.parse_args()

    run_dir = tempfile.mkdtemp(prefix="parlay-soak-")
    retries = Retries()
    provider = LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1)
    config = parlay.Config(
        executors=[HighThroughputExecutor(max_workers_per_node=2, provider=provider)],
        run_dir=run_dir,
        retries=3,
        plugins=[retries],
    )
    room = threading.Semaphore(args.window)
    lock = threading.Lock()
    done = [0]
    lost: list[tuple[int, object]] = []

    def finished(index: int, future: parlay.AppFuture) -> None:
        error = future.exception()
        if error is not None or future.result() != index:
            with lock:
                lost.append((index, error or future.result()))
        with lock:
            done[0] += 1
        room.release()

    print(f"htex soak: {args.tasks:,} tasks, retries=3, a worker SIGKILLed every {args.kill_every:g} s")
    print(f"{'seconds':>8} {'done':>10} {'tasks/s':>9} {'RSS MiB':>8} {'kills':>6}")
    stop, kills, intervals = threading.Event(), [], []
    with parlay.load(config) as dfk:
        threading.Thread(target=killer, args=(dfk.run_dir, args.kill_every, stop, kills), daemon=True).start()
        started = last_time = time.perf_counter()
        last_done = 0
        for index in range(args.tasks):
            room.acquire()
            echo(index).add_done_callback(lambda future, index=index: finished(index, future))
            now = time.perf_counter()
            if now - last_time >= args.report_every:
                rate = (done[0] - last_done) / (now - last_time)
                intervals.append(rate)
                row = f"{now - started:8.0f} {done[0]:10,} {rate:9,.0f} {resident_mib():8.0f} {len(kills):6}"
                print(row, flush=True)
                last_time, last_done = now, done[0]
        parlay.wait_for_current_tasks()
        elapsed = time.perf_counter() - started
        stop.set()
    print(f"{elapsed:8.0f} {done[0]:10,} {'':>9} {resident_mib():8.0f} {len(kills):6}")
    print(f"done in {elapsed:.0f} s: {args.tasks / elapsed:,.0f} tasks/s on average, slowest interval "
          f"{min(intervals, default=float('nan')):,.0f} tasks/s; {len(kills)} workers killed, {retries.count} retries, "
          f"{len(lost)} tasks lost")  # fmt: skip
    for index, what in lost[:10]:
        print(f"  lost task {index}: {what!r}")
    raise SystemExit(1 if lost else 0)


if __name__ == "__main__":
    main()
