"""`AprunLauncher`: the copies of the command are the processing elements of one Cray ALPS `aprun` launch."""

from __future__ import annotations

import shlex

from parlay.launchers.base import Launcher, overrides_option
from parlay.options import declare


@declare
class AprunLauncher(Launcher):
    """Runs `tasks_per_node` copies of the command on each of the block's nodes:
    `aprun -n N -N T <overrides> /bin/bash -c <command>`.

    Each copy sees its rank in `ALPS_APP_PE` (0, 1, ...). `overrides` is inserted verbatim.
    """

    overrides: str = overrides_option("into the aprun command line")

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        aprun = [
            f"aprun -n {tasks_per_node * nodes_per_block} -N {tasks_per_node}",
            self.overrides.strip(),
            f"/bin/bash -c {shlex.quote(command)}",
        ]
        return " ".join(filter(None, aprun))
