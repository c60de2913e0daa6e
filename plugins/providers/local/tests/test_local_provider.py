"""LocalProvider: real process groups, their exit codes, their output, and cancelling whole groups."""

import os

import pytest

from parlay.errors import ConfigurationError
from parlay.launchers.builtin import SimpleLauncher
from parlay.providers.base import JobState, read_journal
from parlay.testing.executors import process_alive
from parlay.testing.providers import wait_for
from parlay_provider_local import LocalProvider


@pytest.fixture
def provider(tmp_path):
    provider = LocalProvider(worker_init="export GREETING=hello", launcher=SimpleLauncher())
    provider.script_dir = str(tmp_path / "run" / "submit_scripts")
    yield provider
    provider.cancel(list(provider._jobs))


def wait_for_state(provider, job_id, state):
    def reached():
        status = provider.status([job_id])[0]
        return status if status.state is state else None

    return wait_for(reached, f"job {job_id} to become {state.name}", interval=0.05)


def test_completed_job(provider, tmp_path):
    job_id = provider.submit("echo $GREETING; echo oops >&2", 1, "parlay.t.block-0")
    status = wait_for_state(provider, job_id, JobState.COMPLETED)
    assert status.exit_code == 0
    assert status.stdout_tail() == "hello\n"
    assert status.stderr_tail() == "oops\n"
    assert read_journal(str(tmp_path / "run"))["local", job_id]["provider"] == "local"


def test_failed_job_reports_code_and_output(provider):
    job_id = provider.submit("echo cannot start workers >&2; exit 3", 1, "parlay.t.block-1")
    status = wait_for_state(provider, job_id, JobState.FAILED)
    assert status.exit_code == 3
    assert "exited with code 3" in status.message
    assert "cannot start workers" in status.stderr_tail()


def test_cancel_kills_the_whole_group(provider, tmp_path):
    pid_file = tmp_path / "child.pid"
    job_id = provider.submit(f"sleep 300 & echo $! > {pid_file}; wait", 1, "parlay.t.block-2")
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), "the job's child to start", interval=0.02)
    child = int(pid_file.read_text())
    assert provider.status([job_id])[0].state is JobState.RUNNING
    assert provider.cancel([job_id]) == [True]
    assert provider.status([job_id])[0].state is JobState.CANCELLED
    assert not process_alive(child)
    assert read_journal(str(tmp_path / "run"))["local", job_id]["event"] == "cancelled"


def test_default_launcher_starts_one_copy_per_task(tmp_path):
    provider = LocalProvider()
    provider.script_dir = str(tmp_path / "scripts")
    job_id = provider.submit(f"touch {tmp_path}/copy-$PARLAY_COPY", 3, "parlay.t.block-3")
    wait_for_state(provider, job_id, JobState.COMPLETED)
    assert sorted(os.listdir(tmp_path / "scripts")) == [
        "parlay.t.block-3.stderr",
        "parlay.t.block-3.stdout",
        "parlay.t.block-3.submit",
        "parlay.t.block-3.submit.ec",
    ]
    assert len(list(tmp_path.glob("copy-*"))) == 3


def test_unknown_job_is_missing(provider):
    assert provider.status(["1"])[0].state is JobState.MISSING


def test_settings_are_checked():
    with pytest.raises(ConfigurationError, match=r"LocalProvider\.max_blocks=-1"):
        LocalProvider(max_blocks=-1)
    with pytest.raises(ConfigurationError, match="cancel_grace"):
        LocalProvider(cancel_grace=-1)
