"""SlurmProvider: the provider conformance suite against the fake scheduler and against a real Slurm,
plus the directives each option renders and how Slurm's answers are read."""

import os

import pytest

from parlay.errors import ConfigurationError, ExecutionProviderException
from parlay.launchers.builtin import SingleNodeLauncher
from parlay.providers.base import JobState
from parlay.testing.fake_scheduler import fake_scheduler
from parlay.testing.providers import LiveProviderConformance, ProviderConformance
from parlay_provider_slurm import SlurmProvider
from parlay_provider_slurm.fake import FakeSlurm
from parlay_provider_slurm.provider import slurm_time


class TestSlurmProvider(ProviderConformance):
    fake_class = FakeSlurm

    def make_provider(self, **options):
        return SlurmProvider(partition="debug", exclusive=False, **options)


class TestLiveSlurm(LiveProviderConformance):
    """The same suite through the real sbatch, squeue, scontrol and scancel."""

    @pytest.fixture(autouse=True)
    def _slurm(self, live_slurm):
        return live_slurm

    def make_provider(self, **options):
        return SlurmProvider(partition=os.environ["PARLAY_TEST_SLURM_PARTITION"], exclusive=False, **options)


def script_for(tmp_path, **options):
    provider = SlurmProvider(**options)
    provider.script_dir = str(tmp_path)
    return provider.job_script("worker", 4, "parlay.x.block-0")


def test_seed_users_options_render(tmp_path):
    script = script_for(
        tmp_path,
        account="physics",
        partition="standard",
        qos="high",
        constraint="haswell",
        clusters="east",
        nodes_per_block=10,
        cores_per_node=48,
        mem_per_node=1.5,
        gres="gpu:4",
        walltime="02:00:00",
        scheduler_options="#SBATCH --gpus-per-node=4",
    )
    directives = [line.split(" ", 1)[1] for line in script.splitlines() if line.startswith("#SBATCH")]
    assert directives[:3] == [
        "--job-name=parlay.x.block-0",
        f"--output={tmp_path}/parlay.x.block-0.stdout",
        f"--error={tmp_path}/parlay.x.block-0.stderr",
    ]
    assert directives[3:] == [
        "--nodes=10",
        "--ntasks-per-node=4",
        "--time=02:00:00",
        "--cpus-per-task=48",
        "--mem=1536M",
        "--exclusive",
        "--partition=standard",
        "--account=physics",
        "--qos=high",
        "--constraint=haswell",
        "--clusters=east",
        "--gres=gpu:4",
        "--gpus-per-node=4",
    ]


def test_defaults_follow_parsl(tmp_path):
    provider = SlurmProvider()
    assert (provider.nodes_per_block, provider.init_blocks, provider.min_blocks, provider.max_blocks) == (1, 1, 0, 1)
    assert provider.exclusive is True
    assert isinstance(provider.launcher, SingleNodeLauncher)
    script = script_for(tmp_path, exclusive=False)
    assert "--exclusive" not in script and "--partition" not in script and "--time=00:10:00" in script


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "00:01:00"), (60, "00:01:00"), (61, "00:02:00"), (7200, "02:00:00"), (90000, "1-01:00:00")],
)
def test_walltime_rounds_up_to_whole_minutes(seconds, text):
    assert slurm_time(seconds) == text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"partition": ""}, "SlurmProvider.partition='': expected a name without spaces, or None"),
        ({"account": "a\n#SBATCH --x"}, "SlurmProvider.account="),
        ({"mem_per_node": -1}, "SlurmProvider.mem_per_node=-1: expected gigabytes > 0, or None"),
        ({"exclusive": "yes"}, "SlurmProvider.exclusive='yes': expected True or False"),
        ({"cores_per_node": 0}, "SlurmProvider.cores_per_node=0: expected an integer >= 1"),
        ({"walltime": "two hours"}, "SlurmProvider.walltime='two hours'"),
    ],
)
def test_bad_options_name_the_field(options, message):
    with pytest.raises(ConfigurationError) as info:
        SlurmProvider(**options)
    assert message in str(info.value)


def test_squeue_output_with_cluster_headers_and_reasons():
    provider = SlurmProvider(clusters="east")
    found = provider._parse_status("CLUSTER: east\n17|PD|Resources\n18|R|None\n19|CG|None\n20|TO|TimeLimit\n")
    assert {job: status.state for job, status in found.items()} == {
        "17": JobState.PENDING,
        "18": JobState.RUNNING,
        "19": JobState.RUNNING,
        "20": JobState.TIMEOUT,
    }
    assert found["17"].message == "scheduler state PD (Resources)"
    assert provider._parse_submit("42;east\n") == "42"
    assert provider.cleanup_options() == {"label": "slurm", "clusters": "east"}


@pytest.fixture
def scheduler(tmp_path, monkeypatch):
    with fake_scheduler(tmp_path / "scheduler", FakeSlurm, monkeypatch) as scheduler:
        yield scheduler


def test_forgotten_jobs_are_read_from_sacct_then_scontrol(tmp_path, monkeypatch, scheduler):
    provider = SlurmProvider()
    provider.script_dir = str(tmp_path / "scripts")
    calls = []
    original = provider.execute_wait

    def record(command, stdin_path=None, tolerate=None):
        calls.append(command[0])
        return original(command, stdin_path, tolerate)

    monkeypatch.setattr(provider, "execute_wait", record)
    assert provider._final_status(["5"]) == {}  # sacct knows nothing of job 5
    assert calls == ["sacct"]
    scheduler.fail("sacct", "Slurm accounting storage is disabled")
    calls.clear()
    assert provider._final_status(["5"]) == {}  # scontrol: Invalid job id, tolerated
    assert provider._final_status(["6"]) == {}
    assert calls == ["sacct", "scontrol", "scontrol"], "sacct is not asked again once accounting is off"
    scheduler.heal()
    scheduler.fail("sacct", "Unable to contact slurm controller")
    provider._accounting = True
    with pytest.raises(ExecutionProviderException, match="Unable to contact"):
        provider._final_status(["5"])
