"""MPI launchers: the copies of the command are the ranks of one `mpiexec` or `mpirun` launch."""

from __future__ import annotations

import shlex

from parlay.launchers.base import Launcher, overrides_option, run_from_file
from parlay.options import Check, declare, one_line, option


@declare
class MpiExecLauncher(Launcher):
    """Runs `tasks_per_node * nodes_per_block` copies of the command as the ranks of
    `mpiexec -n N <bind_cmd> none <overrides> /bin/bash -c <command>`.

    The MPI library finds the block's nodes through its scheduler integration and places the ranks with its
    default mapping; `overrides` (inserted verbatim) can pin them, e.g. `-ppn 4` for MPICH or
    `--map-by ppr:4:node` for Open MPI. `bind_cmd` is the library's option that binds ranks to cores, given
    `none` so every copy may use every core; `""` leaves it out.
    """

    bind_cmd: str = option(
        "--bind-to",
        'the MPI option that binds ranks to cores, given `none` (`""` leaves it out)',
        one_line,
        positional=True,
    )
    overrides: str = overrides_option("into the mpiexec command line")

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        mpiexec = [
            f"mpiexec -n {tasks_per_node * nodes_per_block}",
            f"{self.bind_cmd} none" if self.bind_cmd.strip() else "",
            self.overrides.strip(),
            f"/bin/bash -c {shlex.quote(command)}",
        ]
        return " ".join(filter(None, mpiexec))


@declare
class MpiRunLauncher(Launcher):
    """Runs `tasks_per_node * nodes_per_block` copies of the command as the ranks of
    `mpirun -np N <overrides> <bash_location> <file>`, the command written to a file in the job's working
    directory (which the nodes must share). `overrides` is inserted verbatim."""

    bash_location: str = option(
        "/bin/bash",
        "the path of bash on the nodes",
        one_line,
        Check(lambda v: bool(v.strip()), "the path of bash on the nodes"),
        positional=True,
    )
    overrides: str = overrides_option("into the mpirun command line")

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        mpirun = [
            f"mpirun -np {tasks_per_node * nodes_per_block}",
            self.overrides.strip(),
            f'{shlex.quote(self.bash_location)} "$PARLAY_CMD_FILE"',
        ]
        return run_from_file(command, " ".join(filter(None, mpirun)))
