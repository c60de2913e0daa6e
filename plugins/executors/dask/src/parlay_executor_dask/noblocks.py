"""`NoBlocks`: the provider of a `DaskExecutor` whose workers parlay does not start in blocks (a local
cluster, or a scheduler someone else runs). The kernel's scaling strategy sees zero blocks to keep and none
to start, and never asks for a status."""

from __future__ import annotations

import math
from typing import ClassVar

from parlay.options import declare
from parlay.providers.base import ExecutionProvider, JobStatus

_INTERNAL = (
    "label",
    "nodes_per_block",
    "init_blocks",
    "min_blocks",
    "max_blocks",
    "parallelism",
    "worker_init",
    "launcher",
    "cores_per_node",
    "mem_per_node",
)


@declare(
    defaults={"label": "none", "init_blocks": 0, "min_blocks": 0, "max_blocks": 0, "parallelism": 0},
    internal=_INTERNAL,
)
class NoBlocks(ExecutionProvider):
    """Starts no blocks."""

    status_polling_interval: ClassVar[float] = math.inf

    def __repr__(self) -> str:
        return "NoBlocks()"

    def _submit(self, command: str, tasks_per_node: int, job_name: str) -> str:
        raise NotImplementedError("NoBlocks starts no blocks")

    def _status(self, job_ids: list[str]) -> list[JobStatus]:
        return []

    def _cancel(self, job_ids: list[str]) -> list[bool]:
        return []
