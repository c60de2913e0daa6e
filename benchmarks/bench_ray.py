"""parlay on Ray side by side with plain `ray.remote`, on one local Ray cluster of two CPUs.

    python benchmarks/bench_ray.py [--quick] [--runs N] [--tasks N]

One process starts the cluster (`ray.init`); parlay's `RayExecutor` joins that connection, so both sides run
on the same raylet and the same two worker CPUs. Each figure is measured `--runs` times (5 by default),
the two sides taking turns so that a busy machine slows both alike; the script prints the median and the worst
run of each. Metrics: throughput (no-op tasks submitted at once), chain latency (each task takes the result of
the one before), round trip (submit one task and wait for it, in turn), and a large argument (40 MiB of bytes
given to 8 tasks: parlay puts it in the object store once, plain Ray serializes it for each task unless the
caller `ray.put`s it first). Parlay's throughput is shown as a ratio of Ray's own.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import ray

import parlay
from parlay import Config, python_app
from parlay_executor_ray import RayExecutor

LARGE = 40 * 2**20
LARGE_TASKS = 8


@python_app
def noop(*args):
    return None


@python_app
def size_of(data):
    return len(data)


@ray.remote(max_retries=0)
def ray_noop(*args):
    return None


@ray.remote(max_retries=0)
def ray_size_of(data):
    return len(data)


# --- one measurement each: a number, and whether higher is better ------------------------------------------


def parlay_throughput(n: int) -> float:
    started = time.perf_counter()
    futures = [noop() for _ in range(n)]
    for future in futures:
        future.result()
    return n / (time.perf_counter() - started)


def ray_throughput(n: int) -> float:
    started = time.perf_counter()
    ray.get([ray_noop.remote() for _ in range(n)])
    return n / (time.perf_counter() - started)


def parlay_chain(n: int) -> float:
    started = time.perf_counter()
    future = noop()
    for _ in range(n - 1):
        future = noop(future)
    future.result()
    return (time.perf_counter() - started) / n * 1000


def ray_chain(n: int) -> float:
    started = time.perf_counter()
    ref = ray_noop.remote()
    for _ in range(n - 1):
        ref = ray_noop.remote(ref)
    ray.get(ref)
    return (time.perf_counter() - started) / n * 1000


def parlay_roundtrip(n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        noop().result()
    return (time.perf_counter() - started) / n * 1000


def ray_roundtrip(n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        ray.get(ray_noop.remote())
    return (time.perf_counter() - started) / n * 1000


def parlay_large(n: int) -> float:
    data = bytes(LARGE)
    started = time.perf_counter()
    futures = [size_of(data) for _ in range(n)]
    assert all(future.result() == LARGE for future in futures)
    return time.perf_counter() - started


def ray_large(n: int) -> float:
    data = bytes(LARGE)
    started = time.perf_counter()
    assert ray.get([ray_size_of.remote(data) for _ in range(n)]) == [LARGE] * n
    return time.perf_counter() - started


def ray_large_put(n: int) -> float:
    data = bytes(LARGE)
    started = time.perf_counter()
    ref = ray.put(data)
    assert ray.get([ray_size_of.remote(ref) for _ in range(n)]) == [LARGE] * n
    return time.perf_counter() - started


# --- running and printing ------------------------------------------------------------------------------------


def measure(sides: dict[str, Callable[[int], float]], n: int, runs: int) -> dict[str, list[float]]:
    """Each side `runs` times, taking turns."""
    results: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(runs):
        for name, run in sides.items():
            results[name].append(run(n))
    return results


def summary(values: list[float], higher_is_better: bool) -> tuple[float, float]:
    """(median, worst)."""
    return statistics.median(values), (min(values) if higher_is_better else max(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tasks and runs")
    parser.add_argument("--runs", type=int, default=None, help="runs of each measurement (default 5; 2 with --quick)")
    parser.add_argument("--tasks", type=int, default=None, help="no-op tasks for throughput (default 3,000)")
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 5)
    tasks = args.tasks or (1_000 if args.quick else 3_000)
    links = 100 if args.quick else 300

    temp_dir = tempfile.mkdtemp(prefix="parlay-ray-bench-")
    started = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    print(f"local Ray cluster ({ray.__version__}) started in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    config = Config(executors=[RayExecutor()], run_dir=f"{temp_dir}/runinfo")
    rows = [
        ("throughput", f"tasks/s, {tasks:,} no-op tasks at once", True, tasks, parlay_throughput, ray_throughput),
        ("chain", f"ms per link, chain of {links}", False, links, parlay_chain, ray_chain),
        ("roundtrip", f"ms per round trip, {links} in turn", False, links, parlay_roundtrip, ray_roundtrip),
    ]
    try:
        with parlay.load(config):
            ray.get([ray_noop.remote() for _ in range(200)])  # warm both sides' workers up
            parlay_throughput(200)
            print(f"\n{'2 CPUs, local Ray cluster':46}{'parlay':>22}{'ray.remote':>22}{'parlay / ray':>16}")
            print(f"{'':46}{'median   worst':>22}{'median   worst':>22}{'(median)':>16}")
            for metric, label, higher, n, ours, theirs in rows:
                found = measure({"parlay": ours, "ray": theirs}, n, runs)
                mine, ray_side = summary(found["parlay"], higher), summary(found["ray"], higher)
                ratio = mine[0] / ray_side[0] if higher else ray_side[0] / mine[0]
                print(f"{label:46}{_pair(mine):>22}{_pair(ray_side):>22}{ratio:>15.0%}", flush=True)
                if metric == "throughput":
                    worst = mine[1] / ray_side[1]
                    print(f"{'  the same, worst run against worst run':46}{'':44}{worst:>15.0%}")
            large = measure(
                {"parlay": parlay_large, "ray": ray_large, "ray_put": ray_large_put}, LARGE_TASKS, max(2, runs // 2)
            )
            print(f"\n40 MiB of bytes given to {LARGE_TASKS} tasks, seconds (median, worst)")
            print(f"  {'parlay (put in the object store once)':44}{_pair(summary(large['parlay'], False)):>22}")
            print(f"  {'ray.remote(data) for each task':44}{_pair(summary(large['ray'], False)):>22}")
            print(f"  {'ray.put(data) once, then ray.remote(ref)':44}{_pair(summary(large['ray_put'], False)):>22}")
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _pair(values: tuple[float, float]) -> str:
    median, worst = values
    digits = 0 if median >= 100 else 3
    return f"{median:,.{digits}f} {worst:>7,.{digits}f}"


if __name__ == "__main__":
    main()
