"""What a node offers its workers: how many workers fit (cores, memory, accelerators, the cap) and the
CPUs each is pinned to. Shared by the executor (to check options) and the manager (to start workers)."""

from __future__ import annotations

import math
import os


def worker_count(
    cores_per_worker: float,
    mem_per_worker: float | None = None,
    accelerators: int = 0,
    max_workers_per_node: int | None = None,
) -> int:
    """Workers a node runs: the smallest of what its cores, memory, accelerators and the cap allow."""
    cores = float(os.environ.get("PARLAY_CORES") or os.cpu_count() or 1)
    limits = [math.floor(cores / cores_per_worker)]
    if mem_per_worker:
        limits.append(math.floor(_memory_gb() / mem_per_worker))
    if accelerators:
        limits.append(accelerators)
    if max_workers_per_node:
        limits.append(max_workers_per_node)
    return max(1, min(limits))


def _memory_gb() -> float:
    if os.environ.get("PARLAY_MEMORY_GB"):
        return float(os.environ["PARLAY_MEMORY_GB"])
    with open("/proc/meminfo") as stream:
        for line in stream:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return 1.0


def cpu_sets(policy: str, workers: int) -> list[list[int] | None]:
    """The CPUs each worker is pinned to under `policy` (none, block, block-reverse, alternating, or
    a list like "0,1:2,3" giving each worker's CPUs)."""
    if policy == "none":
        return [None] * workers
    cpus = sorted(os.sched_getaffinity(0))
    if ":" in policy or policy[:1].isdigit():
        return [[int(c) for c in part.split(",")] for part in policy.split(":")][:workers]
    per = max(1, len(cpus) // workers)
    if policy == "block":
        return [cpus[i * per : (i + 1) * per] for i in range(workers)]
    if policy == "block-reverse":
        return [cpus[::-1][i * per : (i + 1) * per] for i in range(workers)]
    if policy == "alternating":
        return [cpus[i::workers] for i in range(workers)]
    raise ValueError(f"cpu_affinity={policy!r}: expected none, block, block-reverse, alternating or a CPU list")
