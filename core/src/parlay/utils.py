"""Helpers users call from their scripts: finding earlier checkpoints."""

from __future__ import annotations

import os

from parlay.dataflow.memoization import CHECKPOINT_FILE
from parlay.dataflow.rundirs import run_numbers


def get_all_checkpoints(rundir: str = "runinfo") -> list[str]:
    """The checkpoint directories of every earlier run under `rundir`, oldest first."""
    found = []
    for number in run_numbers(rundir):
        path = os.path.join(rundir, f"{number:03d}", "checkpoint")
        if os.path.isfile(os.path.join(path, CHECKPOINT_FILE)):
            found.append(path)
    return found


def get_last_checkpoint(rundir: str = "runinfo") -> list[str]:
    """The newest checkpoint directory under `rundir`, as a one-element list (empty if there is none)."""
    return get_all_checkpoints(rundir)[-1:]
