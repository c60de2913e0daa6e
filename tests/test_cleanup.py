"""`parlay cleanup RUN_DIR`: what it does with the journal of a run whose submitter died, with LocalProvider
jobs (real process groups) and with a journal naming a provider that is not installed."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

from parlay.providers.base import JOURNAL
from parlay.testing import TIMEOUT, process_alive
from parlay_provider_local import LocalProvider


def cleanup(*args):
    command = [sys.executable, "-m", "parlay.cli", "cleanup", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)


def orphaned_run(run_dir):
    """A run directory whose LocalProvider started two sleeping blocks and then forgot them."""
    provider = LocalProvider(label="orphans")
    provider.script_dir = str(run_dir / "submit_scripts")
    jobs = [provider.submit("sleep 300", 1, f"parlay.orphans.block-{n}") for n in range(2)]
    provider._jobs.clear()  # as if the submitting process had died: only the journal knows them now
    return jobs


def test_dry_run_then_cleanup_then_nothing_left(tmp_path):
    run_dir = tmp_path / "runinfo" / "000"
    jobs = orphaned_run(run_dir)
    try:
        check_dry_run_then_cleanup(tmp_path, run_dir, jobs)
    finally:  # never leave the sleeping blocks behind, whatever failed
        for job in jobs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(job), signal.SIGKILL)


def check_dry_run_then_cleanup(tmp_path, run_dir, jobs):
    dry = cleanup("--dry-run", run_dir)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert dry.stdout.count("would be cancelled") == 2 and "would cancel 2 jobs" in dry.stdout
    assert all(process_alive(int(job)) for job in jobs), "a dry run cancels nothing"
    done = cleanup(tmp_path / "runinfo")  # the runinfo folder: every run under it
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"local 'orphans' job {jobs[0]} (parlay.orphans.block-0): RUNNING, cancelled" in done.stdout
    assert "cancelled 2 jobs" in done.stdout
    deadline = time.monotonic() + TIMEOUT
    while any(process_alive(int(job)) for job in jobs):
        assert time.monotonic() < deadline, "the blocks' process groups are still alive"
        time.sleep(0.1)
    again = cleanup(run_dir)
    assert again.returncode == 0 and "nothing to cancel" in again.stdout, again.stdout


def test_a_provider_that_is_not_installed_is_an_error_naming_it(tmp_path):
    entry = {"provider": "pbs-ultra", "label": "site", "job_id": "7", "job_name": "parlay.site.block-0",
             "event": "submitted", "options": {"label": "site"}}  # fmt: skip
    (tmp_path / JOURNAL).write_text(json.dumps(entry) + "\n")
    answer = cleanup(tmp_path)
    assert answer.returncode == 1
    assert "could not clean up jobs 7" in answer.stdout and "no provider named 'pbs-ultra'" in answer.stdout
    assert "1 error" in answer.stdout


def test_not_a_run_directory(tmp_path):
    missing = cleanup(tmp_path / "nope")
    assert missing.returncode == 1 and "is not a directory" in missing.stdout
    empty = cleanup(tmp_path)
    assert empty.returncode == 0 and "no job journal" in empty.stdout
    assert os.listdir(tmp_path) == []
