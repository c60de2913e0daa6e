"""A task's `resource_specification` in Ray's terms, and whether any node of the cluster can honour it.

Keys: `num_cpus` (or Parsl's `cores`) and `num_gpus` (or `gpus`), which may be fractions; `memory` in
megabytes, as Parsl's executors take it (Ray counts bytes: parlay converts); `resources`, a dict of Ray custom
resources (`{"licence": 1}`). A task asks Ray for one CPU unless it says otherwise, as every Ray task does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from parlay.errors import InvalidResourceSpecification

#: The Ray option each key (but `resources`) sets.
_RAY_NAMES = {
    "num_cpus": "num_cpus",
    "cores": "num_cpus",
    "num_gpus": "num_gpus",
    "gpus": "num_gpus",
    "memory": "memory",
}
KEYS = frozenset({*_RAY_NAMES, "resources"})
#: The node resource each Ray option asks for.
_NODE_RESOURCES = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}
_MEGABYTE = 2**20
#: How long a reading of the cluster's nodes is trusted when a task asks for more than it showed (seconds).
_STALE = 1.0


def ray_options(spec: Mapping[str, Any], label: str) -> dict[str, Any]:
    """The options of Ray's `.options()` that `spec` asks for; `InvalidResourceSpecification` naming the key
    whose value Ray cannot take."""
    options: dict[str, Any] = {}
    given: dict[str, str] = {}  # Ray option -> the key that set it
    for key, value in spec.items():
        if key == "resources":
            options["resources"] = _custom(value, label)
            continue
        if not _amount(value):
            raise _invalid({key}, f"resource_specification[{key!r}]={value!r}: expected a number >= 0", label)
        option = _RAY_NAMES[key]
        if option in given:
            raise _invalid(
                {key, given[option]}, f"resource_specification gives both {given[option]!r} and {key!r}", label
            )
        given[option] = key
        options[option] = int(value * _MEGABYTE) if key == "memory" else value
    return options


def _custom(value: Any, label: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise _invalid(
            {"resources"}, f"resource_specification['resources']={value!r}: expected a dict of names to amounts", label
        )
    for name, amount in value.items():
        where = f"resource_specification['resources'][{name!r}]"
        if not isinstance(name, str) or not name:
            raise _invalid({"resources"}, f"{where}: a custom resource is named by a non-empty string", label)
        if name in ("CPU", "GPU", "memory"):
            key = {"CPU": "num_cpus", "GPU": "num_gpus"}.get(name, name)
            raise _invalid({"resources"}, f"{where}: ask for {name} with the key {key!r}, not in 'resources'", label)
        if not _amount(amount):
            raise _invalid({"resources"}, f"{where}={amount!r}: expected a number >= 0", label)
    return dict(value)


def _amount(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _invalid(keys: set[str], message: str, label: str) -> InvalidResourceSpecification:
    return InvalidResourceSpecification(keys, message, label)


class Nodes:
    """What the cluster's live nodes offer (`ray.nodes()`), read again when a task asks for more than the last
    reading showed, so that nodes that joined since are seen."""

    def __init__(self) -> None:
        self._offers: list[dict[str, float]] = []
        self._read_at = -math.inf

    def check(self, options: Mapping[str, Any], spec: Mapping[str, Any], label: str) -> None:
        """Raise `InvalidResourceSpecification` naming the keys of `spec` that no live node can satisfy."""
        needs: dict[str, float] = {"CPU": options.get("num_cpus", 1)}  # what Ray asks of a node for this task
        asked_by = {"CPU": "num_cpus"}  # resource -> the key that asks for it
        for key in spec:
            if key != "resources":
                name = _NODE_RESOURCES[_RAY_NAMES[key]]
                needs[name], asked_by[name] = options[_RAY_NAMES[key]], key
        for name, amount in options.get("resources", {}).items():
            needs[name], asked_by[name] = amount, "resources"
        needs = {name: amount for name, amount in needs.items() if amount}
        if self._fits(needs):
            return
        if time.monotonic() - self._read_at > _STALE:
            self._read()
            if self._fits(needs):
                return
        lacking = sorted(name for name, amount in needs.items() if not self._fits({name: amount}))
        if lacking:
            most = ", ".join(f"{needs[name]:g} {name} (the most a node has: {self._most(name):g})" for name in lacking)
            reason, keys = f"no live node of the Ray cluster has {most}", {asked_by[name] for name in lacking}
        else:
            reason, keys = "no single live node of the Ray cluster has all of it", {asked_by[name] for name in needs}
        raise _invalid(
            keys,
            f"resource_specification {dict(spec)!r}: {reason}; Ray would hold the task until such a node joins "
            f"(RayExecutor(reject_infeasible=False) lets it wait, as on a cluster that scales up)",
            label,
        )

    def _fits(self, needs: Mapping[str, float]) -> bool:
        return any(all(offer.get(name, 0) >= amount for name, amount in needs.items()) for offer in self._offers)

    def _most(self, name: str) -> float:
        return max((offer.get(name, 0) for offer in self._offers), default=0)

    def _read(self) -> None:
        import ray

        self._offers = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        self._read_at = time.monotonic()
