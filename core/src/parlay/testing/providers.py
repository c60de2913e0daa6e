"""`ProviderConformance`: the tests every batch-scheduler provider plugin's tests inherit.

A plugin's test module subclasses it, names the fake scheduler class that speaks its scheduler's commands
(a `parlay.testing.fake_scheduler.FakeScheduler` subclass, which a plugin ships beside its provider) and
builds the provider (with the options the suite passes, and the default launcher)::

    from my_provider.fake import FakeMyScheduler

    class TestMyProvider(ProviderConformance):
        fake_class = FakeMyScheduler

        def make_provider(self, **options):
            return MyProvider(queue="debug", **options)

The inherited tests render a job script offline, then submit, watch and cancel real jobs through the
scheduler's commands (the fake's, which run each job as a local process group), check the journal, clean
up a "crashed" run with `parlay cleanup`, and inject failures into the fake's commands. Where the real
scheduler can run, a `LiveProviderConformance` subclass runs the same tests (all but the injected failures)
against the real commands on PATH.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from parlay.errors import ExecutionProviderException, SubmitException
from parlay.providers.base import ExecutionProvider, JobState, JobStatus, read_journal
from parlay.providers.cluster import ClusterProvider
from parlay.testing.fake_scheduler import FakeScheduler, fake_scheduler

#: Generous: only a hang should ever reach it.
TIMEOUT = 90
WORKER_INIT = "export PARLAY_CONFORMANCE=initialised"


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT, interval: float = 0.2) -> Any:
    """Poll `predicate` every `interval` seconds until it returns something true, and return that; fail
    naming `what` after `timeout` seconds. The default interval suits a predicate that starts a process
    (a scheduler command); a cheap one (a file's existence) may poll faster."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def final_status(provider: ExecutionProvider, job_id: str) -> JobStatus:
    """The status of job `job_id` once it has ended (fails the test if it never does)."""

    def ended() -> JobStatus | None:
        [status] = provider.status([job_id])
        return status if status.terminal else None

    return wait_for(ended, f"job {job_id} to end")


def run_cleanup(*args: str | os.PathLike) -> subprocess.CompletedProcess[str]:
    """Run `parlay cleanup ARGS...` in a new Python, capturing its output as text."""
    command = [sys.executable, "-m", "parlay.cli", "cleanup", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)


class LiveProviderConformance:
    """Inherited tests that hold for any scheduler, fake or real: script rendering, submit, status, cancel,
    the journal and `parlay cleanup`. Used as is against the real scheduler on PATH."""

    def make_provider(self, **options: Any) -> ClusterProvider:
        raise NotImplementedError("a conformance subclass must return a provider built with **options")

    def submission_text(self, provider: ClusterProvider, command: str, job_name: str) -> str:
        """Everything the provider hands the scheduler for a job, rendered without submitting: the job script,
        plus whatever else the scheduler reads (a submit description)."""
        return provider.job_script(command, 4, job_name)

    # --- fixtures ---------------------------------------------------------------------------------

    @pytest.fixture
    def scheduler(self) -> FakeScheduler | None:
        """None: the real scheduler's commands on PATH answer (`ProviderConformance` puts the fake's first)."""
        return None

    @pytest.fixture
    def run_dir(self, tmp_path: Path) -> Path:
        return tmp_path / "runinfo" / "000"

    @pytest.fixture
    def provider(self, run_dir: Path, scheduler: FakeScheduler | None) -> Iterator[ClusterProvider]:
        provider = self.make_provider(
            label="conformance", walltime="00:10:00", worker_init=WORKER_INIT, status_polling_interval=1
        )
        provider.script_dir = str(run_dir / "submit_scripts")
        yield provider
        leftover = list(provider.job_names)
        if leftover:  # never leave a job behind, even when a test fails half-way
            with contextlib.suppress(ExecutionProviderException):
                statuses = provider.status(leftover)
                provider.cancel([job for job, s in zip(leftover, statuses, strict=True) if not s.terminal])

    # --- helpers ----------------------------------------------------------------------------------

    def final_status(self, provider: ClusterProvider, job_id: str) -> JobStatus:
        return final_status(provider, job_id)

    def wait_started(self, marker: Path) -> None:
        wait_for(marker.exists, f"the job to write {marker}")

    # --- rendering --------------------------------------------------------------------------------

    def test_renders_the_job_script_offline(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PATH", str(tmp_path / "no-scheduler-here"))
        provider = self.make_provider(
            label="offline", walltime="01:30:00", worker_init=WORKER_INIT, scheduler_options="# site option 42"
        )
        provider.script_dir = str(tmp_path / "scripts")
        script = provider.job_script("worker --block 7", 4, "parlay.offline.block-7")
        lines = script.splitlines()
        assert lines[0].startswith("#!"), "the script must start with an interpreter line"
        submission = self.submission_text(provider, "worker --block 7", "parlay.offline.block-7")
        assert "parlay.offline.block-7" in submission, "the job must carry its name"
        assert "# site option 42" in submission, "scheduler_options reach the scheduler verbatim"
        if provider.scheduler_options_in_script:
            assert lines.index("# site option 42") < lines.index(WORKER_INIT), "scheduler_options precede worker_init"
        assert "PARLAY_BLOCK_DEADLINE" in script and "5400" in script, "the walltime deadline is exported"
        start = lines.index(WORKER_INIT) + 1
        assert any("worker --block 7" in line for line in lines[start:]), "the command runs after worker_init"
        out, _ = provider.output_paths("parlay.offline.block-7")
        path = provider.write_script("worker --block 7", 4, "parlay.offline.block-7")
        assert os.access(path, os.X_OK)
        assert os.path.dirname(out) == os.path.dirname(path) == provider.script_dir

    # --- the life of a job ------------------------------------------------------------------------

    def test_submit_runs_the_job_and_journals_it(self, provider: ClusterProvider, run_dir: Path) -> None:
        marker = run_dir / "ran"
        job_id = provider.submit(f"echo $PARLAY_CONFORMANCE > {marker}", 1, "parlay.conformance.block-0")
        entry = read_journal(str(run_dir))[provider.label, job_id]
        assert entry["event"] == "submitted"
        assert entry["job_name"] == "parlay.conformance.block-0"
        assert entry["provider"] == provider.kind, "the journal must name the provider's entry point"
        rebuilt = type(provider)(**entry["options"])
        assert rebuilt.cleanup_options() == entry["options"], "cleanup_options must rebuild the provider"
        status = self.final_status(provider, job_id)
        assert status.state is JobState.COMPLETED, status
        assert marker.read_text() == "initialised\n", "worker_init runs before the command"

    def test_a_failed_job_is_failed_and_quotes_its_stderr(self, provider: ClusterProvider) -> None:
        job_id = provider.submit("echo conformance-boom >&2; exit 3", 1, "parlay.conformance.block-1")
        status = self.final_status(provider, job_id)
        assert status.state is JobState.FAILED, status
        assert status.exit_code in (None, 3), status
        wait_for(lambda: "conformance-boom" in status.stderr_tail(), "the job's stderr to reach its file")

    def test_cancel_stops_a_running_job(self, provider: ClusterProvider, run_dir: Path) -> None:
        marker = run_dir / "started"
        job_id = provider.submit(f"touch {marker}; sleep 300", 1, "parlay.conformance.block-2")
        self.wait_started(marker)
        [status] = provider.status([job_id])
        assert status.state is JobState.RUNNING, status
        assert provider.cancel([job_id]) == [True]
        assert self.final_status(provider, job_id).state is JobState.CANCELLED
        assert read_journal(str(run_dir))[provider.label, job_id]["event"] == "cancelled"
        assert provider.cancel([job_id]) == [True]  # cancelling an ended job is not an error

    def test_status_keeps_order_across_batches(self, provider: ClusterProvider, run_dir: Path) -> None:
        provider.status_batch_size = 2
        ids = []
        for n in range(2):
            ids.append(provider.submit(f"touch {run_dir}/started-{n}; sleep 300", 1, f"parlay.conformance.block-{n}"))
            self.wait_started(run_dir / f"started-{n}")
        provider.cancel([ids[1]])
        self.final_status(provider, ids[1])
        unknown = re.sub(r"\d+", "987654", ids[0], count=1)
        states = [s.state for s in provider.status([ids[1], unknown, ids[0]])]
        assert states == [JobState.CANCELLED, JobState.MISSING, JobState.RUNNING]

    def test_an_unknown_job_is_missing(self, provider: ClusterProvider, run_dir: Path) -> None:
        job_id = provider.submit("true", 1, "parlay.conformance.block-3")
        self.final_status(provider, job_id)
        unknown = re.sub(r"\d+", "987654", job_id, count=1)
        [status] = provider.status([unknown])
        assert status.state is JobState.MISSING, status
        assert provider.cancel([unknown]) == [True], "cancelling a job the scheduler forgot is not an error"

    # --- a crashed run ----------------------------------------------------------------------------

    def test_parlay_cleanup_cancels_a_crashed_runs_jobs(
        self, provider: ClusterProvider, run_dir: Path, scheduler: FakeScheduler | None
    ) -> None:
        done = provider.submit("true", 1, "parlay.conformance.block-0")
        self.final_status(provider, done)
        ids = []
        for n in (1, 2):
            ids.append(provider.submit(f"touch {run_dir}/started-{n}; sleep 300", 1, f"parlay.conformance.block-{n}"))
            self.wait_started(run_dir / f"started-{n}")
        answer = run_cleanup(run_dir)
        assert answer.returncode == 0, answer.stdout + answer.stderr
        for job_id in ids:
            assert re.search(rf"{re.escape(job_id)}\b.*cancelled", answer.stdout), answer.stdout
        assert re.search(rf"{re.escape(done)}\b.*already ended", answer.stdout), answer.stdout
        fresh = type(provider)(**provider.cleanup_options())
        fresh.script_dir = provider.script_dir
        for job_id in ids:
            self.final_status(fresh, job_id)  # a fresh provider may not tell a cancelled job from a failed one
        if scheduler is not None:
            assert scheduler.active_jobs() == []
        again = run_cleanup(run_dir)
        assert again.returncode == 0 and "nothing to cancel" in again.stdout, again.stdout


class ProviderConformance(LiveProviderConformance):
    """The whole suite against a fake of the scheduler (`fake_class`): the tests above, and failures injected
    into the fake's commands (a refused submission, a hanging or failing status command, a vanished job, a
    job held in the queue)."""

    #: The `FakeScheduler` subclass speaking this scheduler's commands; the failure tests ask it which
    #: command submits and which lists jobs.
    fake_class: ClassVar[type[FakeScheduler] | None] = None

    @pytest.fixture
    def scheduler(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeScheduler]:
        if self.fake_class is None:
            pytest.fail(f"{type(self).__name__} must name its scheduler's fake: fake_class = FakeMyScheduler")
        with fake_scheduler(tmp_path / "scheduler", self.fake_class, monkeypatch) as fake:
            yield fake

    @pytest.fixture
    def fake(self, scheduler: FakeScheduler) -> FakeScheduler:
        """The scheduler, by the name the injected-failure tests give it."""
        return scheduler

    # --- injected failures ------------------------------------------------------------------------

    def test_a_refused_submission_shows_the_command_and_its_stderr(
        self, provider: ClusterProvider, fake: FakeScheduler
    ) -> None:
        submit = fake.submit_command
        fake.fail(submit, "Invalid account or account/partition combination specified")
        with pytest.raises(SubmitException) as info:
            provider.submit("true", 1, "parlay.conformance.block-4")
        text = str(info.value)
        assert submit in text and "Invalid account" in text
        assert provider.script_path("parlay.conformance.block-4") in text
        assert not provider.job_names, "a refused job is not recorded as submitted"

    def test_a_hanging_status_command_times_out(self, provider: ClusterProvider, fake: FakeScheduler) -> None:
        job_id = provider.submit("sleep 300", 1, "parlay.conformance.block-5")
        provider.cmd_timeout = 1
        fake.hang(fake.status_command)
        with pytest.raises(ExecutionProviderException, match=r"did not answer within 1 s"):
            provider.status([job_id])
        fake.heal()
        provider.cmd_timeout = TIMEOUT  # what follows must not fail for a slow machine
        assert provider.status([job_id])[0].state in (JobState.PENDING, JobState.RUNNING)

    def test_a_failing_status_command_shows_its_stderr(self, provider: ClusterProvider, fake: FakeScheduler) -> None:
        job_id = provider.submit("sleep 300", 1, "parlay.conformance.block-6")
        command = fake.status_command
        fake.fail(command, "Socket timed out on send/recv operation", 1)
        with pytest.raises(ExecutionProviderException) as info:
            provider.status([job_id])
        assert command in str(info.value) and "Socket timed out" in str(info.value)

    def test_a_vanished_job_is_missing(self, provider: ClusterProvider, fake: FakeScheduler, run_dir: Path) -> None:
        marker = run_dir / "started"
        job_id = provider.submit(f"touch {marker}; sleep 300", 1, "parlay.conformance.block-7")
        self.wait_started(marker)
        fake.vanish(job_id)
        [status] = provider.status([job_id])
        assert status.state is JobState.MISSING, status

    def test_a_queued_job_is_pending(self, provider: ClusterProvider, fake: FakeScheduler) -> None:
        fake.queue_delay = 300
        job_id = provider.submit("true", 1, "parlay.conformance.block-8")
        [status] = provider.status([job_id])
        assert status.state is JobState.PENDING, status
        provider.cancel([job_id])
        assert self.final_status(provider, job_id).state is JobState.CANCELLED
