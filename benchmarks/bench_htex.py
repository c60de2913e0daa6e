"""The high-throughput executor side by side with Parsl's, and with Python's ProcessPoolExecutor.

    python benchmarks/bench_htex.py [--quick] [--million]

Two workers on this machine, LocalProvider, no-op tasks; each figure is the best of three fresh
processes (one for holding 50,000 tasks). Parsl is measured when PARLAY_PEER_PYTHON names an interpreter that has
it (`python3 dev.py bench` installs one). `--million` also holds 1,000,000 finished tasks on parlay
(Parsl would take too long to be worth waiting for).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(python: str, framework: str, metric: str, n: int, runs: int) -> dict[str, float]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(python) + os.pathsep + env.get("PATH", "")  # Parsl starts its own scripts
    best: dict[str, float] | None = None
    for _ in range(runs):
        out = subprocess.check_output(
            [python, os.path.join(HERE, "htex_workload.py"), framework, metric, str(n)], text=True, env=env
        )
        result = json.loads(out.strip().splitlines()[-1])
        better = best is None or (
            result["value"] > best["value"] if metric.startswith("throughput") else result["value"] < best["value"]
        )
        if better:
            best = result
    assert best is not None
    return best


def process_pool(n: int) -> float:
    code = f"""
import time, concurrent.futures as cf
def noop(*a): return None
if __name__ == "__main__":
    with cf.ProcessPoolExecutor(2) as ex:
        ex.submit(noop).result()
        t = time.perf_counter()
        fs = [ex.submit(noop) for _ in range({n})]
        for f in fs: f.result()
        print({n} / (time.perf_counter() - t))
"""
    return max(float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, one each")
    parser.add_argument("--million", action="store_true", help="also hold 1,000,000 finished tasks on parlay")
    args = parser.parse_args()
    runs = 1 if args.quick else 3
    scale = 10 if args.quick else 1

    sides = {"parlay": sys.executable}
    peer = os.environ.get("PARLAY_PEER_PYTHON")
    if peer:
        sides["parsl"] = peer
    else:
        print("(Parsl not measured: set PARLAY_PEER_PYTHON to an interpreter that has it, or run dev.py bench)")

    tasks, held = 10_000 // scale, 50_000 // scale
    rows = [
        ("throughput", tasks, f"tasks/s, {tasks:,} no-op tasks at once", "{:,.0f}", runs),
        ("throughput_log", tasks, "  the same with the run log on (default)", "{:,.0f}", runs),
        ("chain", 300, "ms per link, chain of 300", "{:.3f}", runs),
        ("roundtrip", 300, "ms per round trip, 300 in turn", "{:.3f}", runs),
        ("first_result", 1, "s from load() to the first result", "{:.2f}", runs),
        ("memory", 1_000, "bytes per finished task held, 1,000", "{:,.0f}", runs),  # a few pages: noisy
        ("memory", held, f"bytes per finished task held, {held:,}", "{:,.0f}", 1),
    ]
    results: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    for metric, n, _, _, count in rows:
        for name, python in sides.items():
            started = time.perf_counter()
            results.setdefault((metric, n), {})[name] = measure(python, name, metric, n, count)
            print(f"  {name} {metric} {n}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    pool = process_pool(tasks)

    names = list(sides)
    print("\nhigh-throughput executor, 2 workers, LocalProvider, no-op tasks")
    print(f"{'':44}" + "".join(f"{n:>12}" for n in names) + ("      parlay vs parsl" if len(names) == 2 else ""))
    for metric, n, label, fmt, _ in rows:
        cells = "".join(f"{fmt.format(results[(metric, n)][name]['value']):>12}" for name in names)
        ratio = ""
        if len(names) == 2:
            ours, theirs = results[(metric, n)]["parlay"]["value"], results[(metric, n)]["parsl"]["value"]
            better = metric.startswith("throughput")
            ratio = f"{ours / theirs:>14.1f}x" if better else f"{theirs / max(ours, 1e-9):>9.1f}x less"
        print(f"{label:44}{cells}{ratio}")
    print(f"{'ProcessPoolExecutor(2), same tasks (tasks/s)':44}{pool:>12,.0f}")
    if args.million:
        million = measure(sys.executable, "parlay", "memory", 1_000_000, 1)
        print(
            f"parlay holding 1,000,000 finished tasks: {million['value']:,.0f} bytes per task, "
            f"peak resident {million['peak_rss'] / 2**30:.2f} GiB"
        )


if __name__ == "__main__":
    main()
