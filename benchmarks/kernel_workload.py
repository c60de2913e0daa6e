"""One side of the kernel benchmark: run no-op tasks through the thread executor and print JSON.

    python kernel_workload.py parlay|parsl TASKS CHAIN on|off

The last argument is `Config.initialize_logging` (the run's log file).

The same code drives both frameworks: parlay keeps Parsl's public names.
"""

import importlib
import json
import sys
import tempfile
import time


def main(framework: str, tasks: int, chain: int, logging: str) -> None:
    lib = importlib.import_module(framework)

    @lib.python_app
    def noop(*args):
        return None

    run_dir = tempfile.mkdtemp(prefix=f"{framework}-bench-")
    config = lib.Config(
        executors=[lib.ThreadPoolExecutor(max_threads=2)], run_dir=run_dir, initialize_logging=logging == "on"
    )
    with lib.load(config):
        noop().result()  # warm up
        started = time.perf_counter()
        futures = [noop() for _ in range(tasks)]
        for future in futures:
            future.result()
        throughput = tasks / (time.perf_counter() - started)
        del futures

        started = time.perf_counter()
        future = noop()
        for _ in range(chain - 1):
            future = noop(future)
        future.result()
        per_link_ms = (time.perf_counter() - started) / chain * 1000
    print(json.dumps({"tasks_per_second": throughput, "ms_per_link": per_link_ms}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
