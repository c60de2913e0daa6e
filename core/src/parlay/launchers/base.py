"""The launcher interface: a launcher turns the worker command into the command a block's job runs
(once per node, once per core, under srun or mpiexec...). Launchers only build command text."""

from __future__ import annotations

from abc import ABC, abstractmethod

from parlay.errors import BadLauncher


class Launcher(ABC):
    """`launcher(command, tasks_per_node, nodes_per_block)` gives the command the job script runs.

    Site plugins first wrap the command (`parlay_launcher_command` hook); then the launcher's `_wrap`.
    """

    def __init__(self, debug: bool = False):
        self.debug = debug

    def __call__(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        for name, value in (("tasks_per_node", tasks_per_node), ("nodes_per_block", nodes_per_block)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadLauncher(f"{type(self).__name__}: {name}={value!r} must be an integer >= 1")
        from parlay.plugins.manager import get_hooks

        command = get_hooks().wrap_launch_command(
            launcher=self, command=command, tasks_per_node=tasks_per_node, nodes_per_block=nodes_per_block
        )
        return self._wrap(command, tasks_per_node, nodes_per_block)

    @abstractmethod
    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_text_options(launcher: Launcher, **options: object) -> None:
    """Raise `BadLauncher`, naming the option, unless each value is a string of one line (`overrides`...)."""
    for name, value in options.items():
        if not isinstance(value, str) or len(value.splitlines()) > 1:
            raise BadLauncher(f"{type(launcher).__name__}.{name}={value!r}: expected a string of one line")


def run_from_file(command: str, launch: str) -> str:
    """Shell lines that write `command` to a new file in the job's working directory, run `launch` (which names
    the file `"$PARLAY_CMD_FILE"`), delete the file and end with `launch`'s exit status. A job cancelled
    meanwhile (SIGTERM) deletes the file too.

    The heredoc is quoted, so the command's quotes, `$VARS` and newlines reach the file untouched. Copies on other
    nodes read the file there: the working directory must be on a shared file system."""
    delimiter = "PARLAY_EOF"
    while delimiter in command.split("\n"):
        delimiter += "_"
    return f"""PARLAY_CMD_FILE=$(mktemp "$PWD/parlay_cmd.XXXXXX")
trap 'rm -f "$PARLAY_CMD_FILE"; exit 143' TERM
cat > "$PARLAY_CMD_FILE" << '{delimiter}'
{command}
{delimiter}
{launch}
PARLAY_STATUS=$?
rm -f "$PARLAY_CMD_FILE"
(exit "$PARLAY_STATUS")"""


def traced(launcher: Launcher, script: str) -> str:
    """`script`, after a `set -x` line when the launcher's `debug` is set."""
    return f"set -x\n{script}" if launcher.debug else script
