"""What a task's `resource_specification` asks of Dask: abstract worker resources and a priority.

Dask runs a task that asks for resources only on a worker that declares at least as much of each (`dask worker
--resources "GPU=2"`), and counts what running tasks hold. parlay's keys (Parsl's) are translated to the names
Dask's documentation uses; any other key is a custom resource, passed under its own name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parlay.errors import InvalidResourceSpecification

#: parlay's key -> (the Dask resource it asks for, the factor from parlay's unit to Dask's).
TRANSLATED = {"cores": ("CPU", 1), "memory": ("MEMORY", 1_000_000), "gpus": ("GPU", 1)}

_ONE_NODE = "a Dask task runs in one worker process on one node: use htex with an MPI launcher for MPI apps"
#: Keys Dask cannot honour, and why.
UNSUPPORTED = {
    "num_nodes": _ONE_NODE,
    "ranks_per_node": _ONE_NODE,
    "num_ranks": _ONE_NODE,
    "launcher_options": _ONE_NODE,
    "running_time_min": "Dask does not schedule by expected run time (give the app a `walltime` instead)",
    "disk": "Dask does not track disk space (declare a custom resource, such as worker_resources={'DISK': 100e9}, "
    "and ask for it by that name)",
}


def _is_amount(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def translate(spec: Mapping[str, Any], label: str) -> tuple[dict[str, float], int]:
    """The Dask resources a task asks for and its Dask priority (Dask runs higher first; parlay's `priority`,
    as htex's, runs lower first). An error names the key it cannot honour."""
    resources: dict[str, float] = {}
    priority = 0
    for key, value in spec.items():
        if key in UNSUPPORTED:
            raise InvalidResourceSpecification({key}, f"resource specification key {key!r}: {UNSUPPORTED[key]}", label)
        if key == "priority":
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidResourceSpecification(
                    {key}, f"priority={value!r}: expected an integer (lower runs first)", label
                )
            priority = -value
            continue
        if not _is_amount(value):
            raise InvalidResourceSpecification({key}, f"{key}={value!r}: expected a number > 0", label)
        name, factor = TRANSLATED.get(key, (key, 1))
        resources[name] = value * factor
    return resources, priority


def check_declared(spec: Mapping[str, Any], declared: Mapping[str, float], label: str) -> None:
    """Refuse a (translated) specification that asks for more of a resource than any worker declares: its task
    would wait forever. The error names the key."""
    for key, value in spec.items():
        if key == "priority":
            continue
        name, factor = TRANSLATED.get(key, (key, 1))
        has = declared.get(name)
        if has is None:
            shown = ", ".join(f"{n}={v:g}" for n, v in sorted(declared.items())) or "none"
            raise InvalidResourceSpecification(
                {key},
                f"resource specification key {key!r} asks for Dask resource {name!r}, which no worker declares "
                f"(they declare: {shown}); start workers with `--resources {name}=N` or add it to "
                "DaskExecutor.worker_resources",
                label,
            )
        if value * factor > has:
            raise InvalidResourceSpecification(
                {key},
                f"resource specification {key}={value!r} asks for {value * factor:g} of Dask resource {name!r}, "
                f"but no worker declares more than {has:g}",
                label,
            )
