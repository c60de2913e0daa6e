import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import parlay

os.environ.setdefault("PARLAY_PROGRESS", "0")  # `pytest -s` on a terminal: no progress line per test run


@pytest.fixture(autouse=True)
def _no_leftover_kernel():
    """A test that fails half-way must not leave its DataFlowKernel loaded for the next one."""
    yield
    from parlay.dataflow import current

    kernel = current.get()
    if kernel is not None:
        kernel.cleanup()
    parlay.clear()


@pytest.fixture
def run_dir(tmp_path):
    return str(tmp_path / "runinfo")


# --- real schedulers (tools/schedulers), started once per test session by the tests that need them ------

SCHEDULER_TOOLS = Path(__file__).parent / "tools" / "schedulers"


def _unavailable(reason: str) -> None:
    """Skip a test whose real scheduler cannot run here; in CI (`CI` set), where it must, fail instead."""
    (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)


def _start_scheduler(kind: str, client: str):
    """Bring up the real `kind` scheduler with its tools/schedulers script; yield the variables it exports.
    It is stopped at the end of the session, and after a failed or interrupted start too."""
    if os.geteuid() != 0:
        _unavailable(f"a real {kind} needs root to install and start its daemons (tools/schedulers/{kind}.sh)")
    if not shutil.which("apt-get") and not shutil.which(client):
        _unavailable(f"{client} is not installed and there is no apt-get to install it")
    directory = tempfile.mkdtemp(prefix=f"parlay-{kind}-")
    script = str(SCHEDULER_TOOLS / f"{kind}.sh")
    try:
        started = subprocess.run(["bash", script, "up", directory], capture_output=True, text=True, timeout=900)
        if started.returncode:
            pytest.fail(f"`bash {script} up {directory}` failed ({started.returncode}):\n{started.stderr[-4000:]}")
        exports = dict(
            shlex.split(line.removeprefix("export "))[0].split("=", 1)
            for line in started.stdout.splitlines()
            if line.startswith("export ")
        )
        with pytest.MonkeyPatch.context() as patch:
            for name, value in exports.items():
                patch.setenv(name, value)
            yield exports
    finally:
        stopped = subprocess.run(["bash", script, "down", directory], capture_output=True, text=True, timeout=300)
        if stopped.returncode:  # its PID files stay in the directory for another `down`
            pytest.fail(f"`bash {script} down {directory}` failed ({stopped.returncode}):\n{stopped.stderr[-4000:]}")
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def live_slurm():
    """A real single-node Slurm for this session: its exports (SLURM_CONF, PARLAY_TEST_SLURM_PARTITION) are set."""
    yield from _start_scheduler("slurm", "sbatch")


@pytest.fixture(scope="session")
def live_sge():
    """A real Grid Engine for this session: SGE_ROOT, SGE_CELL, its ports, PARLAY_TEST_SGE_QUEUE and _PE are set."""
    yield from _start_scheduler("sge", "qsub")
