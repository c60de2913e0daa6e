"""The launcher interface: a launcher turns the worker command into the command a block's job runs
(once per node, once per core, under the site's parallel launcher...). Launchers only build command text."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from parlay.errors import BadLauncher
from parlay.options import declare, flag, one_line, option


@declare
class Launcher(ABC):
    """`launcher(command, tasks_per_node, nodes_per_block)` gives the command the job script runs: the
    plugin's `_wrap`, after a `set -x` line when `debug` is set.

    A pure command builder: site plugins' `parlay_launcher_command` hooks wrap the command before the
    provider hands it to the launcher. A launcher plugin declares its options (`parlay.options`) after `debug`.
    """

    #: What a wrong option raises.
    option_error: ClassVar[type[Exception]] = BadLauncher

    debug: bool = option(False, "trace the launch lines (`set -x`) in the job's stderr", flag, positional=True)

    def __call__(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        for name, value in (("tasks_per_node", tasks_per_node), ("nodes_per_block", nodes_per_block)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadLauncher(f"{type(self).__name__}: {name}={value!r} must be an integer >= 1")
        script = self._wrap(command, tasks_per_node, nodes_per_block)
        return f"set -x\n{script}" if self.debug else script

    @abstractmethod
    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str: ...


def overrides_option(where: str) -> Any:
    """The `overrides` option of a launcher that runs a launch program: flags inserted verbatim `where`."""
    return option("", f"extra flags, one line, inserted verbatim {where}", one_line, positional=True)


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
