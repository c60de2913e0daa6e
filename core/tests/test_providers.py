"""Providers, the cluster-provider base (against a small real scheduler stand-in), block-provider
executors, launchers, staging and File."""

import os
import pickle
import subprocess
from pathlib import Path

import pytest

import parlay
from parlay import Config, File
from parlay.errors import (
    BadLauncher,
    ConfigurationError,
    ExecutionProviderException,
    ScalingWarning,
    SubmitException,
)
from parlay.executors.blocks import BlockProviderExecutor
from parlay.executors.threads import ThreadPoolExecutor
from parlay.launchers.builtin import SimpleLauncher, SingleNodeLauncher, WrappedLauncher
from parlay.plugins import hookimpl
from parlay.plugins.manager import get_hooks
from parlay.providers.base import JobState, JobStatus, read_journal
from parlay.providers.cluster import ClusterProvider, hms
from parlay.staging.files import NoOpFileStaging
from parlay.testing.fake_scheduler import FakeScheduler, Refused, fake_scheduler
from parlay.testing.providers import wait_for

TIMEOUT = 60


class MiniatureScheduler(FakeScheduler):
    """The scheduler `FakeProvider` drives, in Slurm's words: `sbatch --parsable SCRIPT`, `squeue ... --format=%i %t
    --jobs=IDS` (an error when it knows none of them) and `scancel IDS`."""

    submit_command, status_command, cancel_command = "sbatch", "squeue", "scancel"
    job_id_variable = "MINIATURE_JOB_ID"
    output_pattern, error_pattern, name_pattern = r"--output=(\S+)", r"--error=(\S+)", r"--job-name=(\S+)"
    codes = {"pending": "PD", "running": "R", "completed": "CD", "failed": "F", "cancelled": "CA"}

    def answer(self, command, args):
        if command == "sbatch":
            return self.submit(args[-1], Path(args[-1]).read_text()) + "\n"
        if command == "scancel":
            for job in self.jobs(args):
                job.cancel()
            return ""
        jobs = self.jobs(args[-1].removeprefix("--jobs=").split(","))
        if not jobs:
            raise Refused("slurm_load_jobs error: Invalid job id specified")
        return "".join(f"{job.number} {self.codes[job.state()]}\n" for job in jobs)


class FakeProvider(ClusterProvider):
    """A scheduler plugin in miniature, driving `MiniatureScheduler`."""

    kind = "fake"
    states = {"PD": JobState.PENDING, "R": JobState.RUNNING, "CD": JobState.COMPLETED, "CA": JobState.CANCELLED}
    unknown_job_errors = "Invalid job id"

    def __init__(self, label="fake", **options):
        super().__init__(label=label, **options)
        self.commands = []

    def execute_wait(self, command, stdin_path=None, tolerate=None):
        self.commands.append(command)
        return super().execute_wait(command, stdin_path, tolerate)

    def _directives(self, job_name, tasks_per_node):
        out, err = self.output_paths(job_name)
        return [f"#SBATCH --job-name={job_name}", f"#SBATCH --time={int(self.walltime_seconds)}",
                f"#SBATCH --output={out}", f"#SBATCH --error={err}"]  # fmt: skip

    def _submit_command(self, script_path):
        return ["sbatch", "--parsable", script_path]

    def _parse_submit(self, stdout):
        return stdout.strip()

    def _status_command(self, job_ids):
        return ["squeue", "--noheader", "--states=all", "--format=%i %t", f"--jobs={','.join(job_ids)}"]

    def _parse_status(self, stdout):
        return {job_id: self.listed_status(code) for job_id, code in (line.split() for line in stdout.splitlines())}

    def _cancel_command(self, job_ids):
        return ["scancel", *job_ids]


@pytest.fixture
def scheduler(tmp_path, monkeypatch):
    with fake_scheduler(tmp_path / "scheduler", MiniatureScheduler, monkeypatch) as scheduler:
        yield scheduler


@pytest.fixture
def provider(tmp_path, scheduler):
    provider = FakeProvider(walltime="00:01:30", worker_init="export GREETING=hello")
    provider.script_dir = str(tmp_path / "run" / "submit_scripts")
    return provider


def test_job_script_layout(provider):
    class SitePlugin:
        @hookimpl
        def parlay_provider_job_preamble(self, provider, job_name):
            return f"module load python # {job_name}"

    provider.scheduler_options = "#SBATCH --account=physics"
    provider.launcher = WrappedLauncher("nice -n 5")
    plugin = SitePlugin()
    get_hooks().register(plugin)
    try:
        script = provider.job_script("worker --block 0", 1, "parlay.x.block-0")
    finally:
        get_hooks().unregister(plugin)
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert lines[1:3] == ["#SBATCH --job-name=parlay.x.block-0", "#SBATCH --time=90"]
    assert lines[5:] == [
        "#SBATCH --account=physics",
        "export PARLAY_BLOCK_DEADLINE=$(( $(date +%s) + 90 ))",
        "module load python # parlay.x.block-0",
        "export GREETING=hello",
        "nice -n 5 worker --block 0",
    ]


def test_submit_status_cancel_for_real(provider, tmp_path):
    marker = tmp_path / "ran"
    job_id = provider.submit(f"echo $GREETING > {marker}; sleep 60", 1, "parlay.x.block-0")
    wait_for(marker.exists, "the job to start", interval=0.05)
    assert marker.read_text() == "hello\n"
    [status] = provider.status([job_id])
    assert status.state is JobState.RUNNING and not status.terminal
    assert provider.cancel([job_id]) == [True]
    [status] = provider.status([job_id])
    assert status.state is JobState.CANCELLED and status.terminal
    journal = read_journal(str(tmp_path / "run"))
    assert journal["fake", job_id]["event"] == "cancelled"
    assert journal["fake", job_id]["job_name"] == "parlay.x.block-0"
    assert journal["fake", job_id]["provider"] == "fake"


def test_job_is_journaled_the_moment_it_is_submitted(provider, tmp_path):
    job_id = provider.submit("true", 1, "parlay.x.block-1")
    assert read_journal(str(tmp_path / "run"))["fake", job_id]["event"] == "submitted"
    wait_for(lambda: provider.status([job_id])[0].state is JobState.COMPLETED, "the job to complete")


def test_status_is_batched(provider):
    provider.status_batch_size = 2
    ids = [provider.submit("sleep 60", 1, f"parlay.x.block-{n}") for n in range(3)]
    wait_for(lambda: [s.state for s in provider.status(ids)] == [JobState.RUNNING] * 3, "the jobs to run")
    provider.commands.clear()
    provider.status(ids)
    assert [c[-1] for c in provider.commands] == [f"--jobs={ids[0]},{ids[1]}", f"--jobs={ids[2]}"]
    provider.commands.clear()
    assert provider.cancel(ids) == [True, True, True]
    assert [c[1:] for c in provider.commands] == [ids[:2], ids[2:]]


def test_unlisted_job_is_missing(provider):
    [status] = provider.status(["999"])
    assert status.state is JobState.MISSING
    assert "no longer known" in status.message


def test_job_output_tails(provider):
    job_id = provider.submit("echo out-line; echo err-line >&2", 1, "parlay.x.block-2")
    wait_for(lambda: provider.status([job_id])[0].terminal, "the job to end")
    out, err = provider.output_paths("parlay.x.block-2")
    status = JobStatus(JobState.FAILED, stdout_path=out, stderr_path=err)
    wait_for(lambda: "err-line" in status.stderr_tail(), "the job's stderr to reach its file", interval=0.05)
    assert status.stdout_tail() == "out-line\n"
    assert JobStatus(JobState.FAILED).stderr_tail() == ""


def test_submit_failure_shows_command_stderr_and_script(provider, scheduler):
    scheduler.fail("sbatch", "scheduler is down for maintenance")
    with pytest.raises(SubmitException) as info:
        provider.submit("true", 1, "parlay.x.block-3")
    text = str(info.value)
    assert "`sbatch --parsable " in text
    assert "exited with code 1" in text
    assert "scheduler is down for maintenance" in text
    assert "parlay.x.block-3.submit" in text


def test_status_failure_and_timeout(provider, scheduler):
    scheduler.fail("squeue", "scheduler is down")
    with pytest.raises(ExecutionProviderException, match="scheduler is down"):
        provider.status(["100"])
    provider.cmd_timeout = 0.5
    with pytest.raises(ExecutionProviderException, match=r"did not answer within 0\.5 s"):
        provider.execute_wait(["sleep", "30"])
    with pytest.raises(ExecutionProviderException, match="could not run"):
        provider.execute_wait(["/no/such/scheduler"])


def test_walltime_in_hms():
    assert [hms(1), hms(59.2), hms(3600), hms(360000)] == ["00:00:01", "00:01:00", "01:00:00", "100:00:00"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nodes_per_block": 0}, "FakeProvider.nodes_per_block=0: expected an integer >= 1"),
        ({"min_blocks": 3, "max_blocks": 2}, "min_blocks=3 must not exceed max_blocks=2"),
        ({"parallelism": 2}, "FakeProvider.parallelism=2: expected a number from 0 to 1"),
        ({"walltime": "soon"}, "FakeProvider.walltime='soon': expected seconds or 'HH:MM:SS'"),
        ({"cmd_timeout": 0}, "FakeProvider.cmd_timeout=0"),
        ({"status_batch_size": 0}, "FakeProvider.status_batch_size=0"),
    ],
)
def test_provider_settings_are_checked(options, message):
    with pytest.raises(ConfigurationError) as info:
        FakeProvider(**options)
    assert message in str(info.value)


# --- block-provider executors ---------------------------------------------------------------------


class MarkerExecutor(BlockProviderExecutor):
    """Blocks that only write a marker and wait: enough to exercise the block table."""

    def __init__(self, provider, marker_dir):
        super().__init__("markers", provider)
        self.marker_dir = marker_dir
        self.stopped = False

    outstanding = 0
    workers_per_node = 1

    def _get_launch_command(self, block_id):
        return f"touch {self.marker_dir}/block-{block_id}; sleep 120"

    def _start_service(self):
        pass

    def _stop_service(self):
        self.stopped = True

    def set_bad_state_and_fail_all(self, exception):
        raise NotImplementedError

    def _submit(self, func, resource_specification, args, kwargs):
        raise NotImplementedError


def test_block_executor_scales_and_cancels_everything_at_shutdown(provider, tmp_path):
    provider.init_blocks = 2
    executor = MarkerExecutor(provider, tmp_path)
    with parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"))) as dfk:
        assert provider.script_dir == str(tmp_path / "run" / "submit_scripts")
        wait_for(
            lambda: (tmp_path / "block-0").exists() and (tmp_path / "block-1").exists(),
            "both blocks to start",
            interval=0.05,
        )
        assert list(executor.blocks) == ["0", "1"]
        assert {s.state for s in executor.status().values()} == {JobState.RUNNING}
        assert executor.scale_out(1) == ["2"]
        assert executor.scale_in(1) == ["2"]
        assert dfk.run_dir
    assert executor.stopped
    assert executor.blocks == {}
    journal = read_journal(str(tmp_path / "run"))
    assert len(journal) == 3
    assert {entry["event"] for entry in journal.values()} == {"cancelled"}


def test_scaling_failure_quotes_the_scheduler(provider, scheduler, tmp_path):
    provider.init_blocks = 0
    executor = MarkerExecutor(provider, tmp_path)
    with parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"))):
        scheduler.fail("sbatch", "scheduler is down")
        with pytest.warns(ScalingWarning, match=r"(?s)could not start block 0.*scheduler is down"):
            assert executor.scale_out(1) == []
        assert executor.refusals == 1


# --- launchers --------------------------------------------------------------------------------------


def test_simple_and_wrapped_launchers():
    assert SimpleLauncher()("worker -x", 4, 1) == "worker -x"
    assert WrappedLauncher("apptainer exec img.sif")("worker", 1, 1) == "apptainer exec img.sif worker"
    with pytest.raises(BadLauncher, match="tasks_per_node=0 must be an integer >= 1"):
        SimpleLauncher()("worker", 0, 1)


def test_launch_command_hook_applies_before_the_launcher(provider):
    class Profiler:
        @hookimpl(wrapper=True)
        def parlay_launcher_command(self, command):
            command = yield
            return f"perf record -- {command}"

    provider.launcher = WrappedLauncher("time")
    plugin = Profiler()
    get_hooks().register(plugin)
    try:
        assert provider.job_script("worker", 1, "j").splitlines()[-1] == "time perf record -- worker"
    finally:
        get_hooks().unregister(plugin)
    assert WrappedLauncher("time")("worker", 1, 1) == "time worker", "a launcher alone is a pure command builder"


@pytest.mark.parametrize(
    ("fail_on_any", "failures", "code"), [(False, 1, 0), (False, 6, 1), (True, 1, 1), (True, 0, 0)]
)
def test_single_node_launcher_runs_every_copy(tmp_path, fail_on_any, failures, code):
    command = (
        f"touch {tmp_path}/copy-$PARLAY_COPY; echo $CORES > {tmp_path}/cores; "
        f'[ "$PARLAY_COPIES" = 6 ] && [ $PARLAY_COPY -gt {failures} ]'
    )
    script = SingleNodeLauncher(fail_on_any=fail_on_any)(command, 3, 2)
    result = subprocess.run(["bash", "-c", script], timeout=TIMEOUT)
    assert sorted(p.name for p in tmp_path.glob("copy-*")) == [f"copy-{n}" for n in range(1, 7)]
    assert int((tmp_path / "cores").read_text()) >= 1
    assert result.returncode == code


# --- staging and files ----------------------------------------------------------------------------


def test_noop_file_staging():
    staging = NoOpFileStaging()
    assert staging.can_stage_in(File("/data/x")) and staging.can_stage_out(File("file:///data/x"))
    assert not staging.can_stage_in(File("https://example.org/x"))
    assert staging.stage_in(None, "threads", File("x"), None) is None


def test_file_parsing():
    local = File("results/out.txt")
    assert (local.scheme, local.filepath, local.filename) == ("file", "results/out.txt", "out.txt")
    assert os.fspath(local) == str(local) == "results/out.txt"
    url = File("file:///tmp/a.csv")
    assert (url.scheme, url.filepath) == ("file", "/tmp/a.csv")
    remote = File("https://example.org/data/b.csv")
    assert (remote.scheme, remote.netloc, remote.path, remote.filename) == (
        "https",
        "example.org",
        "/data/b.csv",
        "b.csv",
    )
    with pytest.raises(ValueError, match="has not been staged in"):
        remote.filepath
    remote.local_path = "/scratch/b.csv"
    assert remote.filepath == "/scratch/b.csv"
    copy = pickle.loads(pickle.dumps(remote))
    assert copy == remote and copy.local_path == "/scratch/b.csv"
    assert File(Path("a") / "b") == File("a/b")
    assert repr(remote) == "File('https://example.org/data/b.csv')"


def test_unknown_scheme_says_nothing_can_stage_it(tmp_path):
    @parlay.python_app
    def use(inputs=()):
        return inputs

    with (
        parlay.load(Config(run_dir=str(tmp_path / "runinfo"))),
        pytest.raises(ConfigurationError, match=r"app use: executor .threads. cannot stage in gopher://host/data"),
    ):
        use(inputs=[File("gopher://host/data")])


def test_missing_staging_plugin_names_its_package(tmp_path):
    @parlay.python_app
    def use(inputs=()):
        return inputs

    threads = ThreadPoolExecutor(label="threads", storage_access=[NoOpFileStaging()])
    with (
        parlay.load(Config(executors=[threads], run_dir=str(tmp_path / "runinfo"))),
        pytest.raises(ConfigurationError, match=r"s3://bucket/key.*pip install parlay-staging-s3"),
    ):
        use(inputs=[File("s3://bucket/key")])


def test_storage_access_must_be_staging_providers():
    with pytest.raises(ConfigurationError, match=r"ThreadPoolExecutor.storage_access=\['http'\]: expected None or"):
        ThreadPoolExecutor(storage_access=["http"])
