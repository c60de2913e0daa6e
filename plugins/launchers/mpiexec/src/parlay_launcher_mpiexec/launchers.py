"""MPI launchers: the copies of the command are the ranks of one `mpiexec` or `mpirun` launch."""

from __future__ import annotations

import shlex

from parlay.errors import BadLauncher
from parlay.launchers.base import Launcher, check_text_options, run_from_file, traced


class MpiExecLauncher(Launcher):
    """Runs `tasks_per_node * nodes_per_block` copies of the command as the ranks of
    `mpiexec -n N <bind_cmd> none <overrides> /bin/bash -c <command>`.

    The MPI library finds the block's nodes through its scheduler integration and places the ranks with its
    default mapping; `overrides` (inserted verbatim) can pin them, e.g. `-ppn 4` for MPICH or
    `--map-by ppr:4:node` for Open MPI. `bind_cmd` is the library's option that binds ranks to cores, given
    `none` so every copy may use every core; `""` leaves it out.
    """

    def __init__(self, debug: bool = False, bind_cmd: str = "--bind-to", overrides: str = ""):
        super().__init__(debug)
        check_text_options(self, bind_cmd=bind_cmd, overrides=overrides)
        self.bind_cmd = bind_cmd
        self.overrides = overrides

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        mpiexec = [
            f"mpiexec -n {tasks_per_node * nodes_per_block}",
            f"{self.bind_cmd} none" if self.bind_cmd.strip() else "",
            self.overrides.strip(),
            f"/bin/bash -c {shlex.quote(command)}",
        ]
        return traced(self, " ".join(filter(None, mpiexec)))

    def __repr__(self) -> str:
        return f"MpiExecLauncher(debug={self.debug!r}, bind_cmd={self.bind_cmd!r}, overrides={self.overrides!r})"


class MpiRunLauncher(Launcher):
    """Runs `tasks_per_node * nodes_per_block` copies of the command as the ranks of
    `mpirun -np N <overrides> <bash_location> <file>`, the command written to a file in the job's working
    directory (which the nodes must share). `overrides` is inserted verbatim."""

    def __init__(self, debug: bool = False, bash_location: str = "/bin/bash", overrides: str = ""):
        super().__init__(debug)
        check_text_options(self, bash_location=bash_location, overrides=overrides)
        if not bash_location.strip():
            raise BadLauncher("MpiRunLauncher.bash_location='': expected the path of bash on the nodes")
        self.bash_location = bash_location
        self.overrides = overrides

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        mpirun = [
            f"mpirun -np {tasks_per_node * nodes_per_block}",
            self.overrides.strip(),
            f'{shlex.quote(self.bash_location)} "$PARLAY_CMD_FILE"',
        ]
        return traced(self, run_from_file(command, " ".join(filter(None, mpirun))))

    def __repr__(self) -> str:
        return (
            f"MpiRunLauncher(debug={self.debug!r}, bash_location={self.bash_location!r}, overrides={self.overrides!r})"
        )
