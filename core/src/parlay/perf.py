"""`parlay perf`: how many no-op tasks per second a configuration runs.

    parlay perf --config site.py [--time 30] [--iterate estimate|exponential|N,N,...] [--argsize BYTES]

The config file defines `config` (a `parlay.Config`) or `fresh_config()` returning one. Batches of
no-op tasks are submitted at once and waited for; each batch prints its size, duration and rate.
"""

from __future__ import annotations

import argparse
import runpy
import time
from collections.abc import Iterator
from typing import Any

import parlay
from parlay.apps import python_app
from parlay.errors import ConfigurationError


@python_app
def noop(payload: bytes) -> None:
    return None


def load_config(path: str) -> parlay.Config:
    """The `config` or `fresh_config()` of a Python file; an error that says which is missing."""
    namespace = runpy.run_path(path)
    if "fresh_config" in namespace:
        config = namespace["fresh_config"]()
    elif "config" in namespace:
        config = namespace["config"]
    else:
        raise ConfigurationError(f"{path} defines neither `config` nor `fresh_config()`")
    if not isinstance(config, parlay.Config):
        raise ConfigurationError(f"{path}: expected a parlay.Config, got {type(config).__name__}")
    return config


def batch_sizes(iterate: str, target: float, last: list[tuple[int, float]]) -> Iterator[int]:
    """The batch sizes to try: a fixed list, doubling, or estimated from the previous batch's rate."""
    if iterate not in ("estimate", "exponential"):
        try:
            sizes = [int(n) for n in iterate.split(",")]
        except ValueError:
            raise ConfigurationError(f"--iterate {iterate!r}: expected estimate, exponential or N,N,...") from None
        yield from sizes
        return
    size = 100
    while True:
        yield size
        tasks, seconds = last[-1]
        if seconds >= target * 0.75:
            return
        if iterate == "exponential":
            size *= 2
        else:  # aim the next batch at the target duration
            size = max(size * 2, int(tasks / max(seconds, 1e-3) * target))


def run(config: parlay.Config, target: float, iterate: str, argsize: int) -> list[tuple[int, float]]:
    payload = b"x" * argsize
    results: list[tuple[int, float]] = []
    with parlay.load(config):
        noop(payload).result()  # warm up: workers started, function shipped
        for size in batch_sizes(iterate, target, results):
            started = time.perf_counter()
            futures = [noop(payload) for _ in range(size)]
            submitted = time.perf_counter() - started
            for future in futures:
                future.result()
            seconds = time.perf_counter() - started
            results.append((size, seconds))
            print(
                f"{size:>9} tasks  {seconds:8.3f} s  submitted at {size / submitted:>10,.0f}/s  "
                f"tasks per second {size / seconds:>10,.0f}",
                flush=True,
            )
    return results


def perf_command(args: argparse.Namespace) -> int:
    results = run(load_config(args.config), args.time, args.iterate, args.argsize)
    size, seconds = results[-1]
    print(f"Tasks per second: {size / seconds:,.1f}")
    return 0


def add_parser(subparsers: Any) -> None:
    perf = subparsers.add_parser("perf", help="measure no-op tasks per second for a config file")
    perf.add_argument("--config", required=True, help="a Python file defining `config` or `fresh_config()`")
    perf.add_argument("--time", type=float, default=30, help="target duration of the last batch, seconds")
    perf.add_argument("--iterate", default="estimate", help="estimate, exponential, or batch sizes N,N,...")
    perf.add_argument("--argsize", type=int, default=0, help="bytes of argument sent with each task")
    perf.set_defaults(func=perf_command)
