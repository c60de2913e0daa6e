"""Run directories: `runinfo/000`, `runinfo/001`, ... one per DataFlowKernel."""

from __future__ import annotations

import os


def run_numbers(root: str) -> list[int]:
    """The numbers of the existing run directories under `root`, ascending."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(root, n)))


def make_run_dir(root: str) -> str:
    """Create the next run directory under `root`; safe against concurrent runs."""
    os.makedirs(root, exist_ok=True)
    number = (run_numbers(root) or [-1])[-1] + 1
    while True:
        path = os.path.join(root, f"{number:03d}")
        try:
            os.mkdir(path)
        except FileExistsError:
            number += 1
            continue
        return path
