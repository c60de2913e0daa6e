"""`parlay cleanup RUN_DIR`: what it does with the journal of a run whose submitter died, with LocalProvider
jobs (real process groups), with a journal naming a provider that is not installed, and with journals that a
killed run left incomplete or that are corrupt."""

import contextlib
import json
import os
import signal

from parlay.providers.base import JOURNAL
from parlay.testing import process_alive
from parlay.testing.providers import run_cleanup, wait_for
from parlay_provider_local import LocalProvider


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
    dry = run_cleanup("--dry-run", run_dir)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert dry.stdout.count("would be cancelled") == 2 and "would cancel 2 jobs" in dry.stdout
    assert all(process_alive(int(job)) for job in jobs), "a dry run cancels nothing"
    done = run_cleanup(tmp_path / "runinfo")  # the runinfo folder: every run under it
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"local 'orphans' job {jobs[0]} (parlay.orphans.block-0): RUNNING, cancelled" in done.stdout
    assert "cancelled 2 jobs" in done.stdout
    wait_for(
        lambda: not any(process_alive(int(job)) for job in jobs), "the blocks' process groups to end", interval=0.1
    )
    again = run_cleanup(run_dir)
    assert again.returncode == 0 and "nothing to cancel" in again.stdout, again.stdout


def test_a_provider_that_is_not_installed_is_an_error_naming_it(tmp_path):
    entry = {"provider": "pbs-ultra", "label": "site", "job_id": "7", "job_name": "parlay.site.block-0",
             "event": "submitted", "options": {"label": "site"}}  # fmt: skip
    (tmp_path / JOURNAL).write_text(json.dumps(entry) + "\n")
    answer = run_cleanup(tmp_path)
    assert answer.returncode == 1
    assert "could not clean up jobs 7" in answer.stdout and "no provider named 'pbs-ultra'" in answer.stdout
    assert "1 error" in answer.stdout


def test_a_journal_cut_short_by_a_kill_still_cleans_up_its_whole_lines(tmp_path):
    run_dir = tmp_path / "runinfo" / "000"
    jobs = orphaned_run(run_dir)
    try:
        with open(run_dir / JOURNAL, "a") as journal:
            journal.write('{"time": 1.5, "provider": "local", "label": "orph')  # killed while writing this line
        done = run_cleanup(run_dir)
    finally:
        for job in jobs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(job), signal.SIGKILL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cancelled 2 jobs" in done.stdout
    assert f"  warning: {run_dir / JOURNAL} ends with an incomplete line (its run was killed while writing it?)" in (
        done.stdout
    )


def test_a_corrupt_journal_names_the_file_and_the_line(tmp_path):
    entry = {"provider": "local", "label": "site", "job_id": "7", "job_name": "parlay.site.block-0",
             "event": "submitted", "options": {"label": "site"}}  # fmt: skip
    (tmp_path / JOURNAL).write_text(json.dumps(entry) + "\n" + "\x00\x00\x00\n" + json.dumps(entry) + "\n")
    answer = run_cleanup(tmp_path)
    assert answer.returncode == 1
    assert f"  {tmp_path / JOURNAL}, line 2, is not a job entry (JSONDecodeError: " in answer.stdout, answer.stdout
    assert "repair or delete that line" in answer.stdout and "Traceback" not in answer.stdout + answer.stderr


def test_not_a_run_directory(tmp_path):
    missing = run_cleanup(tmp_path / "nope")
    assert missing.returncode == 1 and "is not a directory" in missing.stdout
    empty = run_cleanup(tmp_path)
    assert empty.returncode == 0 and "no job journal" in empty.stdout
    assert os.listdir(tmp_path) == []
