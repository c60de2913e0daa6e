"""`JsrunLauncher`: the copies of the command are the resource sets of one IBM LSF `jsrun` launch."""

from __future__ import annotations

import shlex

from parlay.launchers.base import Launcher, overrides_option
from parlay.options import declare


@declare
class JsrunLauncher(Launcher):
    """Runs `tasks_per_node` copies of the command on each of the block's nodes, one resource set each:
    `jsrun -n N -r T <overrides> /bin/bash -c <command>`.

    Each copy sees its rank in `JSM_NAMESPACE_RANK` (0, 1, ...). `overrides` is inserted verbatim (resource-set
    shape such as `-a 1 -c 7 -g 1`).
    """

    overrides: str = overrides_option("into the jsrun command line")

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        jsrun = [
            f"jsrun -n {tasks_per_node * nodes_per_block} -r {tasks_per_node}",
            self.overrides.strip(),
            f"/bin/bash -c {shlex.quote(command)}",
        ]
        return " ".join(filter(None, jsrun))
