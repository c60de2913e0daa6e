"""Kernel overhead, side by side with Parsl: import time, no-op task throughput and dependency-chain
latency through the thread executor.

    python benchmarks/bench_kernel.py [--tasks 10000] [--chain 300] [--repeat 3]

Parsl is measured when PARLAY_PEER_PYTHON names an interpreter that has it (`python3 dev.py bench`
installs one). Each figure is the best of `--repeat` runs, each run in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def import_ms(python: str, statement: str, repeat: int) -> float:
    """Best wall time of `statement` in a fresh interpreter, less the interpreter's own start-up."""
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    times = [float(subprocess.check_output([python, "-c", code], text=True)) for _ in range(repeat)]
    return min(times)


def workload(python: str, framework: str, tasks: int, chain: int, repeat: int) -> dict[str, float]:
    """Best throughput and chain latency, with the run's log file on (the default) and off."""
    figures = {}
    for logging in ("on", "off"):
        command = [python, os.path.join(HERE, "kernel_workload.py"), framework, str(tasks), str(chain), logging]
        runs = [json.loads(subprocess.check_output(command, text=True).splitlines()[-1]) for _ in range(repeat)]
        figures[f"tasks_per_second_log_{logging}"] = max(r["tasks_per_second"] for r in runs)
        figures[f"ms_per_link_log_{logging}"] = min(r["ms_per_link"] for r in runs)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    sides = {"parlay": sys.executable}
    peer = os.environ.get("PARLAY_PEER_PYTHON")
    if peer:
        sides["parsl"] = peer
    else:
        print("(Parsl not measured: set PARLAY_PEER_PYTHON to an interpreter that has it, or run dev.py bench)")

    results: dict[str, dict[str, float]] = {}
    for name, python in sides.items():
        print(f"measuring {name} ...", flush=True)
        figures = {"import_ms": import_ms(python, f"import {name}", args.repeat)}
        if name == "parlay":
            figures["import_api_ms"] = import_ms(
                python, "from parlay import python_app, bash_app, Config, load", args.repeat
            )
        else:
            figures["import_api_ms"] = figures["import_ms"]
        figures.update(workload(python, name, args.tasks, args.chain, args.repeat))
        results[name] = figures

    rows = [
        ("import <lib> (ms)", "import_ms", "{:.1f}"),
        ("import apps, Config, load (ms)", "import_api_ms", "{:.1f}"),
        (f"{args.tasks} no-op tasks, run log on (tasks/s)", "tasks_per_second_log_on", "{:,.0f}"),
        (f"{args.tasks} no-op tasks, run log off (tasks/s)", "tasks_per_second_log_off", "{:,.0f}"),
        (f"chain of {args.chain} tasks, run log on (ms/link)", "ms_per_link_log_on", "{:.3f}"),
        (f"chain of {args.chain} tasks, run log off (ms/link)", "ms_per_link_log_off", "{:.3f}"),
    ]
    names = list(results)
    print(f"\nkernel overhead, thread executor with 2 threads, best of {args.repeat}")
    print(f"{'':48}" + "".join(f"{n:>12}" for n in names) + ("    parlay/parsl" if len(names) == 2 else ""))
    for label, key, fmt in rows:
        cells = "".join(f"{fmt.format(results[n][key]):>12}" for n in names)
        ratio = ""
        if len(names) == 2:
            a, b = results["parlay"][key], results["parsl"][key]
            ratio = f"{a / b:>14.2f}x" if key.startswith("tasks_per_second") else f"{b / a:>13.1f}x faster"
        print(f"{label:48}{cells}{ratio}")


if __name__ == "__main__":
    main()
