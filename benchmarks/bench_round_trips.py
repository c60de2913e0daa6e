"""Round trips after a burst, over many fresh runs: the check for a slow mode that lasts for the rest of a run.

    python benchmarks/bench_round_trips.py [--runs 20] [--burst 10000] [--round-trips 100]

Each run starts htex (two workers, LocalProvider) in a fresh process, submits a burst of no-op tasks, waits
for them, then times sequential `app().result()` round trips. It prints every run's median and slowest round
trip, then the median over runs and the worst run: a slow mode hides in medians, so the worst run is the
figure to read (a lost wake-up makes every round trip of a run wait for the I/O thread's 100 ms poll).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

RUN = """
import json, statistics, sys, tempfile, time
import parlay
from parlay_executor_htex import HighThroughputExecutor

burst, round_trips = int(sys.argv[1]), int(sys.argv[2])
noop = parlay.python_app(lambda x=None: x)
executor = HighThroughputExecutor(max_workers_per_node=2)
config = parlay.Config(executors=[executor], run_dir=tempfile.mkdtemp(), strategy="none", initialize_logging=False)
with parlay.load(config):
    for future in [noop(i) for i in range(burst)]:
        future.result()
    times = []
    for i in range(round_trips):
        start = time.perf_counter()
        noop(i).result()
        times.append(time.perf_counter() - start)
print(json.dumps({"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--round-trips", type=int, default=100)
    args = parser.parse_args()
    medians = []
    print(f"htex: {args.runs} fresh runs, each {args.burst:,} no-op tasks at once, then {args.round_trips} round trips")
    started = time.perf_counter()
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            out = subprocess.check_output([sys.executable, "-c", RUN, str(args.burst), str(args.round_trips)],
                                          text=True, cwd=folder)  # fmt: skip
        result = json.loads(out.strip().splitlines()[-1])
        medians.append(result["median_ms"])
        print(f"  run {run + 1:2d}: median {result['median_ms']:.3f} ms, slowest {result['max_ms']:.1f} ms")
    print(f"median round trip over runs: {statistics.median(medians):.3f} ms; worst run's median: {max(medians):.3f} ms"
          f" ({time.perf_counter() - started:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
