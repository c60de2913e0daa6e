"""The launchers the kernel ships: `SimpleLauncher`, `WrappedLauncher` and `SingleNodeLauncher`."""

from __future__ import annotations

import logging

from parlay.launchers.base import Launcher
from parlay.options import REQUIRED, declare, flag, one_line, option

logger = logging.getLogger(__name__)


class SimpleLauncher(Launcher):
    """Runs the command once, as it is (the command starts its own workers, e.g. MPI apps)."""

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        if nodes_per_block > 1:
            logger.warning("SimpleLauncher runs one copy of the command though the block has %d nodes", nodes_per_block)
        return command


@declare
class WrappedLauncher(Launcher):
    """Puts `prepend` in front of the command (a container runtime, `time`, `nice`...)."""

    prepend: str = option(REQUIRED, "what goes in front of the command, verbatim", one_line, positional=True)

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        return f"{self.prepend.strip()} {command}" if self.prepend.strip() else command


@declare
class SingleNodeLauncher(Launcher):
    """Starts `tasks_per_node * nodes_per_block` copies of the command on this node and waits for them.

    Each copy sees `PARLAY_COPY` (1, 2, ...) and `PARLAY_COPIES`. The job fails, with the exit code of the
    last copy that failed, when every copy failed, or when any failed with `fail_on_any=True`.
    """

    fail_on_any: bool = option(
        False, "fail the job when any copy fails (else only when every copy does)", flag, positional=True
    )

    def _wrap(self, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        copies = tasks_per_node * nodes_per_block
        verdict = '[ "$FAILED" -eq 0 ]' if self.fail_on_any else f'[ "$FAILED" -lt {copies} ]'
        return f"""export CORES=$(getconf _NPROCESSORS_ONLN)
export PARLAY_COPIES={copies}
PIDS=""
for PARLAY_COPY in $(seq 1 {copies}); do
  ( export PARLAY_COPY; {command} ) &
  PIDS="$PIDS $!"
done
FAILED=0
CODE=0
for PID in $PIDS; do
  wait "$PID" || {{ CODE=$?; FAILED=$((FAILED + 1)); }}
done
{verdict} || exit "$CODE"
"""
