"""The Dask processes parlay starts: a scheduler in the submitting process, and `dask worker` commands for the
worker processes of the local cluster or of each block.

Workers are fresh interpreters running `python -m distributed.cli.dask_worker`, never children that
`multiprocessing` spawns from the submitting script (as `LocalCluster(processes=True)` does): those re-run the
script's top level, so every workflow would need an `if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from parlay.execution import kill_group

_STOP_GRACE_SECONDS = 5.0


def start_scheduler(host: str, port: int, dashboard_address: str | None, plugins: Sequence[Any]) -> Any:
    """A `distributed.LocalCluster` without workers: a scheduler running in this process (it ends with this
    process, and the workers of a killed run then end after their `--death-timeout`)."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=0,
        processes=True,  # no in-process worker: workers are `dask worker` processes
        host=host,
        scheduler_port=port,
        dashboard_address=dashboard_address,
        silence_logs=logging.WARNING,
        scheduler_kwargs={
            # parlay's retries decide what becomes of a task whose worker died: Dask must not run it again first
            "allowed_failures": 0,
            "plugins": list(plugins),
            # the scheduler serves its health and metrics pages even without a dashboard: on a free local port,
            # not on the dashboard's usual 8787, which another cluster may hold
            **({} if dashboard_address else {"dashboard": False, "dashboard_address": "127.0.0.1:0"}),
        },
    )


def worker_command(
    python: str,
    scheduler_address: str,
    name: str,
    n_workers: int,
    threads: int,
    memory_limit: str | float,
    resources: Mapping[str, float],
    death_timeout: float,
    extra_args: str,
    per_host: bool = False,
) -> str:
    """The shell command that starts `n_workers` Dask worker processes (each under a nanny that restarts it if
    it dies), named `name` (Dask appends `-0`, `-1`, ... when there are several). With `per_host` the name
    also carries the host's name, as the shell running the command finds it: a block's nodes all run the same
    command, and Dask refuses a second worker of the same name."""
    options = [
        "--nworkers",
        str(n_workers),
        "--nthreads",
        str(threads),
        "--memory-limit",
        str(memory_limit),
        "--death-timeout",
        f"{death_timeout:g}",
        "--no-dashboard",
    ]
    if resources:
        options += ["--resources", " ".join(f"{key}={value:g}" for key, value in resources.items())]
    named = shlex.quote(f"{name}-") + '"$(hostname)"' if per_host else shlex.quote(name)
    start = shlex.join([python, "-m", "distributed.cli.dask_worker", scheduler_address, "--name"])
    return " ".join(part for part in (start, named, shlex.join(options), extra_args.strip()) if part)


def start_workers(command: str, log_path: str) -> subprocess.Popen:
    """Run a `worker_command` on this machine, in a session of its own, its output to `log_path`. The workers
    import the submitter's modules by name, so they get its `sys.path`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            ["/bin/sh", "-c", f"exec {command}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def stop_workers(proc: subprocess.Popen) -> None:
    """Stop the workers `start_workers` started: SIGTERM to the whole session, then SIGKILL to what is left."""
    kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_STOP_GRACE_SECONDS)
    kill_group(proc.pid, signal.SIGKILL)  # the nannies' worker processes, even after their nanny ended
    proc.wait()


def log_tail(path: str, limit: int = 2000) -> str:
    """The end of a log file, or a note that there is none."""
    try:
        with open(path, errors="replace") as stream:
            text = stream.read()[-limit:].strip()
    except OSError:
        return f"{path} could not be read"
    return f"{path} ends with:\n{text}" if text else f"{path} is empty"
