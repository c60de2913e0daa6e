"""PBSProProvider: the provider conformance suite against the fake PBS Pro, plus the directives each option
renders, how options are checked and how PBS Pro's answers are read."""

import pytest

from parlay.errors import ConfigurationError, ExecutionProviderException
from parlay.launchers.builtin import SimpleLauncher, SingleNodeLauncher
from parlay.plugins import registry
from parlay.providers.base import JobState
from parlay.testing.fake_scheduler import fake_scheduler
from parlay.testing.providers import ProviderConformance
from parlay_provider_pbs import PBSProProvider
from parlay_provider_pbs.fake import FakePBSPro
from parlay_provider_pbs.pbspro import load_qstat_json


class TestPBSProProvider(ProviderConformance):
    fake_class = FakePBSPro

    def make_provider(self, **options):
        return PBSProProvider(queue="workq", **options)


def directives(tmp_path, **options):
    provider = PBSProProvider(**options)
    provider.script_dir = str(tmp_path)
    script = provider.job_script("worker", 4, "parlay.htex.block-0")
    return [line.split(" ", 1)[1] for line in script.splitlines() if line.startswith("#PBS")]


def test_every_option_renders_its_directive(tmp_path):
    rendered = directives(
        tmp_path,
        account="physics",
        queue="debug",
        nodes_per_block=4,
        cpus_per_node=64,
        select_options="ngpus=2:mem=200gb",
        walltime="36:00:00",
        scheduler_options="#PBS -l place=scatter",
    )
    out = tmp_path / "parlay.htex.block-0"
    assert rendered == [
        "-N parlay_htex_block-0",
        "-S /bin/bash",
        f"-o {out}.stdout",
        f"-e {out}.stderr",
        "-l walltime=36:00:00",
        "-l select=4:ncpus=64:ngpus=2:mem=200gb",
        "-A physics",
        "-q debug",
        "-l place=scatter",
    ]


def test_defaults_follow_parsl(tmp_path):
    provider = PBSProProvider()
    assert (provider.label, provider.kind, provider.walltime) == ("pbspro", "pbs", "00:20:00")
    assert (provider.cmd_timeout, provider.status_polling_interval) == (120, 60)
    assert (provider.nodes_per_block, provider.cpus_per_node, provider.cores_per_node) == (1, 1, 1)
    assert (provider.init_blocks, provider.min_blocks, provider.max_blocks, provider.parallelism) == (1, 0, 1, 1)
    assert isinstance(provider.launcher, SingleNodeLauncher)
    assert isinstance(PBSProProvider(launcher=SimpleLauncher()).launcher, SimpleLauncher)
    rendered = directives(tmp_path)
    assert "-l select=1:ncpus=1" in rendered and "-l walltime=00:20:00" in rendered
    assert not [line for line in rendered if line.startswith(("-A", "-q"))]


def test_select_options_may_start_with_a_colon(tmp_path):
    assert "-l select=1:ncpus=8:ngpus=1" in directives(tmp_path, cpus_per_node=8, select_options=":ngpus=1")


def test_walltime_in_seconds_is_rounded_up(tmp_path):
    assert "-l walltime=01:00:01" in directives(tmp_path, walltime=3600.2)


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("parlay.htex.block-0", "parlay_htex_block-0"),
        ("parlay.my gpus+cpus.block-12", "parlay_my_gpus+cpus_block-12"),
        ("7-day.block-1", "parlay-7-day_block-1"),
        ("_x", "parlay-_x"),
        ("a" * 300, "a" * 230),
    ],
)
def test_job_names_are_made_acceptable_to_pbs(name, accepted):
    assert PBSProProvider().pbs_job_name(name) == accepted


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cpus_per_node": 0}, "PBSProProvider.cpus_per_node=0: expected an integer >= 1"),
        ({"cpus_per_node": True}, "PBSProProvider.cpus_per_node=True: expected an integer >= 1"),
        ({"select_options": "ngpus=1 mem=4gb"}, "PBSProProvider.select_options='ngpus=1 mem=4gb': expected chunk"),
        ({"select_options": None}, "PBSProProvider.select_options=None: expected chunk resources"),
        ({"account": "two words"}, "PBSProProvider.account='two words': expected a name without spaces, or None"),
        ({"queue": ""}, "PBSProProvider.queue='': expected a name without spaces, or None"),
        ({"queue": 7}, "PBSProProvider.queue=7: expected a name without spaces"),
        ({"walltime": "soon"}, "PBSProProvider.walltime='soon': expected seconds or 'HH:MM:SS'"),
        ({"nodes_per_block": 0}, "PBSProProvider.nodes_per_block=0: expected an integer >= 1"),
        ({"cmd_timeout": -1}, "PBSProProvider.cmd_timeout=-1: expected seconds > 0"),
        ({"scheduler_options": ["#PBS -V"]}, "PBSProProvider.scheduler_options=['#PBS -V']: expected a string"),
    ],
)
def test_wrong_options_are_refused(options, message):
    with pytest.raises(ConfigurationError) as info:
        PBSProProvider(**options)
    assert message in str(info.value)


def test_the_entry_point_loads_it_for_parlay_cleanup():
    assert registry.load("providers", "pbs") is PBSProProvider
    assert registry.load("providers", "PBSProProvider") is PBSProProvider
    assert PBSProProvider(label="mine", account="physics").cleanup_options() == {"label": "mine"}


# --- reading PBS Pro's answers -------------------------------------------------------------------------

# `qstat -f -F json -x` as PBS Pro prints it (attributes trimmed): a job that succeeded, one that failed,
# one killed at its walltime, one deleted while it ran, one running, one queued, one held.
QSTAT_JSON = r"""{
    "timestamp":1700000000,
    "pbs_version":"2022.1.3",
    "pbs_server":"pbs01",
    "Jobs":{
        "1201.pbs01":{
            "Job_Name":"parlay_htex_block-0",
            "Job_Owner":"alice@login01",
            "resources_used":{
                "cpupercent":0,
                "cput":"00:00:00",
                "mem":"5560kb",
                "ncpus":1,
                "vmem":"12500kb",
                "walltime":"00:00:12"
            },
            "job_state":"F",
            "queue":"workq",
            "server":"pbs01",
            "Checkpoint":"u",
            "ctime":"Tue Nov 14 10:00:00 2023",
            "Error_Path":"login01:/home/alice/runinfo/000/submit_scripts/parlay.htex.block-0.stderr",
            "exec_host":"node07/0",
            "exec_vnode":"(node07:ncpus=1)",
            "Output_Path":"login01:/home/alice/runinfo/000/submit_scripts/parlay.htex.block-0.stdout",
            "Resource_List":{
                "ncpus":1,
                "nodect":1,
                "place":"pack",
                "select":"1:ncpus=1",
                "walltime":"00:20:00"
            },
            "substate":92,
            "Variable_List":{
                "PBS_O_HOME":"/home/alice",
                "PBS_O_LANG":"en_US.UTF-8",
                "PBS_O_PATH":"/usr/local/bin:/usr/bin",
                "PBS_O_WORKDIR":"/home/alice",
                "PBS_O_SYSTEM":"Linux",
                "PBS_O_QUEUE":"workq",
                "PBS_O_HOST":"login01"
            },
            "comment":"Job run at Tue Nov 14 at 10:00 on (node07:ncpus=1) and finished",
            "run_count":1,
            "Exit_status":0,
            "Submit_arguments":"/home/alice/runinfo/000/submit_scripts/parlay.htex.block-0.submit",
            "history_timestamp":1700000012,
            "project":"_pbs_project_default"
        },
        "1202.pbs01":{
            "Job_Name":"parlay_htex_block-1",
            "job_state":"F",
            "queue":"workq",
            "comment":"Job run at Tue Nov 14 at 10:00 on (node08:ncpus=1) and failed",
            "Exit_status":3
        },
        "1203.pbs01":{
            "Job_Name":"parlay_htex_block-2",
            "job_state":"F",
            "comment":"Job run at Tue Nov 14 at 10:00 on (node09:ncpus=1) and failed",
            "Exit_status":-29
        },
        "1204.pbs01":{
            "Job_Name":"parlay_htex_block-3",
            "job_state":"F",
            "Exit_status":271
        },
        "1205.pbs01":{
            "Job_Name":"parlay_htex_block-4",
            "job_state":"R",
            "substate":42,
            "exec_host":"node10/0"
        },
        "1206.pbs01":{
            "Job_Name":"parlay_htex_block-5",
            "job_state":"Q",
            "comment":"Not Running: Insufficient amount of resource: ncpus"
        },
        "1207.pbs01":{
            "Job_Name":"parlay_htex_block-6",
            "job_state":"H"
        }
    }
}
"""


def test_reads_states_and_exit_statuses_of_qstat_json():
    found = PBSProProvider()._parse_status(QSTAT_JSON)
    summary = {job_id: (status.state, status.exit_code) for job_id, status in found.items()}
    assert summary == {
        "1201.pbs01": (JobState.COMPLETED, 0),
        "1202.pbs01": (JobState.FAILED, 3),
        "1203.pbs01": (JobState.TIMEOUT, -29),
        "1204.pbs01": (JobState.FAILED, 271),
        "1205.pbs01": (JobState.RUNNING, None),
        "1206.pbs01": (JobState.PENDING, None),
        "1207.pbs01": (JobState.HELD, None),
    }
    assert found["1203.pbs01"].message == "scheduler state F, exit status -29 (walltime exceeded)"
    assert found["1204.pbs01"].message == "scheduler state F, exit status 271 (killed by signal 15)"
    assert found["1206.pbs01"].message == "scheduler state Q"


def test_a_finished_job_without_exit_status_failed():
    [status] = PBSProProvider()._parse_status('{"Jobs": {"5.pbs01": {"job_state": "F"}}}').values()
    assert status.state is JobState.FAILED and status.exit_code is None
    assert "without an exit status" in status.message


def test_only_unknown_ids_leave_no_jobs():
    # qstat prints the header without "Jobs" (and "qstat: Unknown Job Id ..." on stderr) when it knows none
    header = '{\n    "timestamp":1700000000,\n    "pbs_version":"2022.1.3",\n    "pbs_server":"pbs01"\n}\n'
    assert PBSProProvider()._parse_status(header) == {}
    assert PBSProProvider()._parse_status("") == {}


def test_stray_backslashes_of_older_pbs_versions_are_dropped():
    text = r'{"Jobs": {"9.pbs01": {"job_state": "R", "Variable_List": {"A": "x\,y", "B": "it\'s", "C": "a\\b\"c"}}}}'
    job = load_qstat_json(text)["Jobs"]["9.pbs01"]
    assert job["Variable_List"] == {"A": "x,y", "B": "it's", "C": 'a\\b"c'}


def test_output_that_is_not_json_is_an_error():
    with pytest.raises(ExecutionProviderException, match=r"qstat -F json printed something that is not JSON"):
        PBSProProvider()._parse_status("qstat: illegally formed job identifier\n{")


@pytest.fixture
def scheduler(tmp_path, monkeypatch):
    with fake_scheduler(tmp_path / "scheduler", FakePBSPro, monkeypatch) as scheduler:
        yield scheduler


def test_unknown_and_finished_jobs_are_not_errors_of_qstat_and_qdel(scheduler):
    provider = PBSProProvider()
    scheduler.fail("qstat", "Unknown Job Id 1201.pbs01", 153)
    assert [s.state for s in provider.status(["1201.pbs01"])] == [JobState.MISSING]
    scheduler.fail("qdel", "Job has finished 1201.pbs01", 35)
    assert provider.cancel(["1201.pbs01"]) == [True]
    scheduler.fail("qdel", "Unknown Job Id 1201.pbs01", 153)
    assert provider.cancel(["1201.pbs01"]) == [True]
    scheduler.fail("qdel", "Unauthorized Request  1201.pbs01", 159)
    with pytest.raises(ExecutionProviderException, match=r"`qdel 1201\.pbs01` exited with code 159"):
        provider.cancel(["1201.pbs01"])
