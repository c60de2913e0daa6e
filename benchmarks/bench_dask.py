"""parlay on Dask side by side with plain `distributed.Client.submit`, on one local Dask cluster of two workers.

    python benchmarks/bench_dask.py [--quick] [--runs N] [--tasks N]

One process starts a `distributed.LocalCluster` (two worker processes of one thread each) and a `Client`;
parlay's `DaskExecutor(client=...)` sends its tasks through that client, so both sides run on the same
scheduler and the same two workers. Each figure is measured `--runs` times (5 by default), the two sides taking
turns so that a busy machine slows both alike; the script prints the median and the worst run of each. Metrics:
throughput (no-op tasks submitted at once, every result fetched), chain latency (each task takes the result of
the one before: parlay hands each result back to the submitting process and submits the next task from it,
plain Dask lets the scheduler chain them), and round trip (submit one task and wait for it, in turn). Parlay's
throughput is shown as a ratio of Dask's own.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from distributed import Client, LocalCluster

import parlay
from parlay import Config, python_app
from parlay_executor_dask import DaskExecutor


@python_app
def noop(*args):
    return None


def dask_noop(*args):
    return None


# --- one measurement each: a number, and whether higher is better ------------------------------------------


def parlay_throughput(client: Client, n: int) -> float:
    started = time.perf_counter()
    futures = [noop() for _ in range(n)]
    for future in futures:
        future.result()
    return n / (time.perf_counter() - started)


def dask_throughput(client: Client, n: int) -> float:
    started = time.perf_counter()
    client.gather([client.submit(dask_noop, pure=False) for _ in range(n)])
    return n / (time.perf_counter() - started)


def parlay_chain(client: Client, n: int) -> float:
    started = time.perf_counter()
    future = noop()
    for _ in range(n - 1):
        future = noop(future)
    future.result()
    return (time.perf_counter() - started) / n * 1000


def dask_chain(client: Client, n: int) -> float:
    started = time.perf_counter()
    future = client.submit(dask_noop, pure=False)
    for _ in range(n - 1):
        future = client.submit(dask_noop, future, pure=False)
    future.result()
    return (time.perf_counter() - started) / n * 1000


def parlay_round_trip(client: Client, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        noop().result()
    return (time.perf_counter() - started) / n * 1000


def dask_round_trip(client: Client, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        client.submit(dask_noop, pure=False).result()
    return (time.perf_counter() - started) / n * 1000


Measure = Callable[[Client, int], float]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, three each")
    parser.add_argument("--runs", type=int, help="runs of each measurement (default 5, 3 with --quick)")
    parser.add_argument("--tasks", type=int, help="no-op tasks for throughput (default 5,000)")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 5)
    tasks = args.tasks or (1_000 if args.quick else 5_000)
    links = 100 if args.quick else 300

    rows: list[tuple[str, Measure, Measure, int, bool, str]] = [
        ("throughput", parlay_throughput, dask_throughput, tasks, True, f"tasks/s, {tasks:,} no-op tasks at once"),
        ("chain", parlay_chain, dask_chain, links, False, f"ms per link, chain of {links}"),
        ("round trip", parlay_round_trip, dask_round_trip, links, False, f"ms per round trip, {links} in turn"),
    ]
    run_dir = tempfile.mkdtemp(prefix="parlay-bench-dask-")
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.CRITICAL
    )
    client = Client(cluster)
    config = Config(executors=[DaskExecutor(client=client)], run_dir=run_dir)
    results: dict[str, dict[str, list[float]]] = {}
    try:
        with parlay.load(config):
            noop().result()  # both sides warmed up: workers connected, functions loaded
            client.submit(dask_noop, pure=False).result()
            for name, ours, theirs, n, _, _ in rows:
                figures = results[name] = {"parlay": [], "dask": []}
                for run in range(runs):
                    sides = [("parlay", ours), ("dask", theirs)]
                    for side, measure in sides if run % 2 == 0 else sides[::-1]:
                        figures[side].append(measure(client, n))
                print(f"  {name}: done", file=sys.stderr, flush=True)
    finally:
        client.close()
        cluster.close()
        shutil.rmtree(run_dir, ignore_errors=True)

    print(f"\nparlay on Dask vs plain Client.submit, LocalCluster of 2 workers x 1 thread, {runs} runs each")
    print(f"{'':40}{'parlay median':>15}{'worst':>10}{'Dask median':>15}{'worst':>10}")
    for name, _, _, _, higher_is_better, label in rows:
        cells = ""
        for side in ("parlay", "dask"):
            values = results[name][side]
            worst = min(values) if higher_is_better else max(values)
            fmt = "{:,.0f}" if higher_is_better else "{:.2f}"
            cells += f"{fmt.format(statistics.median(values)):>15}{fmt.format(worst):>10}"
        print(f"{label:40}{cells}")
    ours, theirs = results["throughput"]["parlay"], results["throughput"]["dask"]
    print(
        f"parlay's throughput as a share of Dask's: median {statistics.median(ours) / statistics.median(theirs):.0%}, "
        f"worst runs {min(ours) / min(theirs):.0%}"
    )


if __name__ == "__main__":
    logging.getLogger("distributed").setLevel(logging.ERROR)
    main()
