"""Slurm launchers: `SrunLauncher` runs every copy of the command in one job step, `SrunMPILauncher` each copy in
a job step of its own."""

from __future__ import annotations

from parlay.launchers.base import Launcher, overrides_option, run_from_file
from parlay.options import declare


@declare
class SrunLauncher(Launcher):
    """Runs `tasks_per_node` copies of the command on each of the block's nodes, as the tasks of one `srun` step.

    Each copy sees its rank in `SLURM_PROCID` (0, 1, ...). A copy that fails does not stop the others (unless the
    site's Slurm sets KillOnBadExit, or `overrides` has `--kill-on-bad-exit=1`); the job fails when any did.
    `overrides` is inserted verbatim into the srun command line.
    """

    overrides: str = overrides_option("into the srun command line")

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        srun = [
            "srun",
            f"--ntasks={tasks_per_node * nodes_per_block}",
            f"--ntasks-per-node={tasks_per_node}",
            f"--nodes={nodes_per_block}",
            self.overrides.strip(),
            'bash "$PARLAY_CMD_FILE"',
        ]
        return run_from_file(command, " ".join(filter(None, srun)))


@declare
class SrunMPILauncher(Launcher):
    """Runs `tasks_per_node` copies of the command on each of the block's nodes, each copy as the one task of a
    job step of its own (`srun --exclusive --nodes=1 --ntasks=1`, placed with `--relative`).

    For workers that start MPI applications with srun: each copy's Slurm environment describes its own step,
    not the whole job, and copies end independently. Each copy sees `PARLAY_COPY` (1, 2, ...) and
    `PARLAY_COPIES`; the job fails when any copy failed. `overrides` is inserted verbatim into each srun
    command line.
    """

    overrides: str = overrides_option("into each srun command line")

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        copies = tasks_per_node * nodes_per_block
        srun = [
            "srun --exclusive --nodes=1 --ntasks=1",
            f"--relative=$(( (PARLAY_COPY - 1) / {tasks_per_node} ))",
            self.overrides.strip(),
            'bash "$PARLAY_CMD_FILE" &',
        ]
        launch = f"""export PARLAY_COPIES={copies}
PARLAY_PIDS=""
for PARLAY_COPY in $(seq 1 {copies}); do
  export PARLAY_COPY
  {" ".join(filter(None, srun))}
  PARLAY_PIDS="$PARLAY_PIDS $!"
done
PARLAY_FAILED=0
for PARLAY_PID in $PARLAY_PIDS; do
  wait "$PARLAY_PID" || PARLAY_FAILED=1
done
[ "$PARLAY_FAILED" -eq 0 ]"""
        return run_from_file(command, launch)
