import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from parlay.testing import TIMEOUT


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def dask_cluster(logs, workers):
    """A `dask scheduler` and `workers` `dask worker` processes (one thread each), started as the CLI starts them,
    each in a session of its own; yields the scheduler's address and the scheduler's process. The scheduler runs
    a task whose worker died no second time, as parlay asks of its own schedulers."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    python = sys.executable
    commands = [
        [python, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
         "--no-dashboard"],
        *[[python, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--name", f"external-{n}",
           "--no-dashboard", "--death-timeout", "60"] for n in range(workers)],
    ]  # fmt: skip
    processes = []
    try:
        for n, command in enumerate(commands):
            with open(logs / f"process-{n}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
                )
            if n == 0:
                time.sleep(0.5)  # the scheduler listens before the workers look for it
        with Client(address, timeout=TIMEOUT, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=TIMEOUT)
        yield address, processes[0]
    finally:
        for proc in reversed(processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(processes):
            try:
                proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def start_dask_cluster():
    """`dask_cluster`, for a test that needs a cluster of its own."""
    return dask_cluster


@pytest.fixture(scope="module")
def external_scheduler(tmp_path_factory):
    """The address of a Dask cluster of two workers that parlay did not start, shared by a test module (not the
    session: its processes would outlive the module into other plugins' tests)."""
    with dask_cluster(tmp_path_factory.mktemp("external-dask"), 2) as (address, _):
        yield address
