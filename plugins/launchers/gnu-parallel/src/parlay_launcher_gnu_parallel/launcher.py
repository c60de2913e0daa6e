"""`GnuParallelLauncher`: the copies of the command run on the job's nodes through GNU parallel and ssh."""

from __future__ import annotations

from parlay.launchers.base import Launcher, run_from_file

# The job's nodes, comma-separated: from PBS's node file, from Slurm, else this machine (`:`, without ssh).
HOSTS = """PARLAY_HOSTS=$(
  if [ -n "${PBS_NODEFILE:-}" ]; then sort -u "$PBS_NODEFILE"
  elif [ -n "${SLURM_JOB_NODELIST:-}" ]; then scontrol show hostnames "$SLURM_JOB_NODELIST"
  else echo :
  fi | paste -sd, -
)"""


class GnuParallelLauncher(Launcher):
    """Runs `tasks_per_node` copies of the command on each of the job's nodes with GNU parallel, which reaches
    them by ssh (`--sshlogin` lists the nodes, `--jobs` is `tasks_per_node`).

    The command is written to a file in the job's working directory, which the nodes must share. The copies
    start in that directory with the variables `parallel --env _ --env PATH` copies (`--env _` needs a
    `parallel --record-env` run once beforehand); each sees `PARLAY_COPY` (1, 2, ...) and `PARLAY_COPIES`.
    The job fails when any copy failed.
    """

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        copies = tasks_per_node * nodes_per_block
        launch = f"""{HOSTS}
parallel --jobs {tasks_per_node} --sshlogin "$PARLAY_HOSTS" --env _ --env PATH --line-buffer --workdir "$PWD" \\
  --quote env PARLAY_COPY={{}} PARLAY_COPIES={copies} bash "$PARLAY_CMD_FILE" ::: $(seq 1 {copies})"""
        return run_from_file(command, launch)
