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
