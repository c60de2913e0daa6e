"""`WorkerTracker`: a plugin of the scheduler parlay starts. It sorts the workers parlay started into groups (each
block, or the local cluster) by their names, and remembers which groups' workers ever connected and how many
tasks each group finished, even after those workers are gone: a block that ran tasks and died is told apart
from one that never started, and local workers that keep dying before they connect from ones that ran."""

from __future__ import annotations

import re
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

#: The group of the local cluster's workers (blocks' groups are their ids, which are numbers).
LOCAL = "local"


def worker_name(label: str, group: str) -> str:
    """The start of the names of a group's workers (a block's add their host's name; Dask appends `-0`, `-1`,
    ... when there are several)."""
    return f"{label}-local" if group == LOCAL else f"{label}-block-{group}"


class WorkerTracker(SchedulerPlugin):
    """Runs on the scheduler's event loop; the executor's threads only read it."""

    def __init__(self, label: str):
        self._name = re.compile(re.escape(label) + r"-(?:block-(\d+)|(local))(?:-.+)?")
        self.groups: dict[str, str] = {}  # worker address -> its group, for every worker that ever connected
        self.finished: dict[str, int] = {}  # group -> tasks its workers finished, for groups that connected

    def group_of(self, name: Any) -> str | None:
        """The group of the worker called `name`, if parlay started it."""
        match = self._name.fullmatch(str(name))
        return (match.group(1) or match.group(2)) if match else None

    def add_worker(self, scheduler: Any, worker: str) -> None:
        group = self.group_of(scheduler.workers[worker].name)
        if group is not None:
            self.groups[worker] = group
            self.finished.setdefault(group, 0)

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start == "processing" and finish == "memory":
            group = self.groups.get(kwargs.get("worker", ""))
            if group is not None:
                self.finished[group] += 1
