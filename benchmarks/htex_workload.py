"""One side of the htex benchmark: `python htex_workload.py parlay|parsl METRIC [N]`, printing JSON.

Metrics: throughput (N no-op tasks submitted at once; throughput_log with the run log on, as both
frameworks default to), chain (N dependent tasks), roundtrip (submit
then wait, N times), first_result (seconds from load() to the first result), memory (resident bytes
per finished task while holding N futures). The same code drives both frameworks: parlay keeps
Parsl's public names. Two workers, LocalProvider, no run log unless the metric ends in _log.
"""

import importlib
import json
import os
import sys
import tempfile
import time


def rss() -> int:
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(framework: str, metric: str, n: int) -> None:
    lib = importlib.import_module(framework)
    executors = importlib.import_module(f"{framework}.executors")
    providers = importlib.import_module(f"{framework}.providers")

    @lib.python_app
    def noop(*args):
        return None

    executor = executors.HighThroughputExecutor(max_workers_per_node=2, provider=providers.LocalProvider())
    logging = metric.endswith("_log")
    metric = metric.removesuffix("_log")
    config = lib.Config(executors=[executor], run_dir=tempfile.mkdtemp(), initialize_logging=logging)
    started = time.perf_counter()
    with lib.load(config):
        noop().result()
        first = time.perf_counter() - started
        started = time.perf_counter()
        if metric == "first_result":
            value = first
        elif metric == "throughput":
            futures = [noop() for _ in range(n)]
            for future in futures:
                future.result()
            value = n / (time.perf_counter() - started)
        elif metric == "chain":
            future = noop()
            for _ in range(n - 1):
                future = noop(future)
            future.result()
            value = (time.perf_counter() - started) / n * 1000
        elif metric == "roundtrip":
            for _ in range(n):
                noop().result()
            value = (time.perf_counter() - started) / n * 1000
        elif metric == "memory":
            before = rss()
            futures = [noop() for _ in range(n)]
            for future in futures:
                future.result()
            value = (rss() - before) / n
        else:
            raise SystemExit(f"unknown metric {metric}")
    print(json.dumps({"value": value, "peak_rss": rss()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
