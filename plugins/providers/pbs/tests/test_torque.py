"""TorqueProvider: the provider conformance suite against the fake Torque, plus the directives each option
renders, how options are checked and how Torque's `qstat -f` is read."""

import pytest

from parlay.errors import ConfigurationError, ExecutionProviderException
from parlay.launchers.builtin import SingleNodeLauncher
from parlay.plugins import registry
from parlay.providers.base import JobState
from parlay.testing.fake_scheduler import fake_scheduler
from parlay.testing.providers import ProviderConformance
from parlay_provider_pbs import TorqueProvider
from parlay_provider_pbs.fake import FakeTorque
from parlay_provider_pbs.torque import parse_full_status


class TestTorqueProvider(ProviderConformance):
    fake_class = FakeTorque

    def make_provider(self, **options):
        return TorqueProvider(queue="batch", **options)


def directives(tmp_path, **options):
    provider = TorqueProvider(**options)
    provider.script_dir = str(tmp_path)
    script = provider.job_script("worker", 4, "parlay.htex.block-0")
    return [line.split(" ", 1)[1] for line in script.splitlines() if line.startswith("#PBS")]


def test_every_option_renders_its_directive(tmp_path):
    rendered = directives(
        tmp_path,
        account="physics",
        queue="batch",
        nodes_per_block=3,
        walltime="48:00:00",
        scheduler_options="#PBS -l pmem=4gb",
    )
    out = tmp_path / "parlay.htex.block-0"
    assert rendered == [
        "-N parlay.htex.block-0",
        "-S /bin/bash",
        f"-o {out}.stdout",
        f"-e {out}.stderr",
        "-l walltime=48:00:00",
        "-l nodes=3:ppn=4",
        "-A physics",
        "-q batch",
        "-l pmem=4gb",
    ]


def test_defaults_follow_parsl_but_for_the_launcher(tmp_path):
    provider = TorqueProvider()
    assert (provider.label, provider.kind, provider.walltime) == ("torque", "torque", "00:20:00")
    assert (provider.cmd_timeout, provider.status_polling_interval, provider.nodes_per_block) == (120, 60, 1)
    assert (provider.init_blocks, provider.min_blocks, provider.max_blocks, provider.parallelism) == (1, 0, 1, 1)
    assert isinstance(provider.launcher, SingleNodeLauncher)
    rendered = directives(tmp_path)
    assert "-l nodes=1:ppn=4" in rendered and "-l walltime=00:20:00" in rendered
    assert not [line for line in rendered if line.startswith(("-A", "-q"))]


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("parlay.htex.block-0", "parlay.htex.block-0"),
        ("parlay.my label.block-1", "parlay.my_label.block-1"),
        ("0day.block-2", "parlay-0day.block-2"),
        ("b" * 300, "b" * 256),
    ],
)
def test_job_names_are_made_acceptable_to_torque(name, accepted):
    assert TorqueProvider().pbs_job_name(name) == accepted


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"account": "a b"}, "TorqueProvider.account='a b': expected a name without spaces, or None"),
        ({"queue": ["batch"]}, "TorqueProvider.queue=['batch']: expected a name without spaces, or None"),
        ({"walltime": "1:xx"}, "TorqueProvider.walltime='1:xx': expected seconds or 'HH:MM:SS'"),
        ({"walltime": 0}, "TorqueProvider.walltime=0: must be positive"),
        ({"nodes_per_block": 1.5}, "TorqueProvider.nodes_per_block=1.5: expected an integer >= 1"),
        ({"min_blocks": 2, "max_blocks": 1}, "min_blocks=2 must not exceed max_blocks=1"),
        ({"status_polling_interval": 0}, "TorqueProvider.status_polling_interval=0: expected seconds > 0"),
    ],
)
def test_wrong_options_are_refused(options, message):
    with pytest.raises(ConfigurationError) as info:
        TorqueProvider(**options)
    assert message in str(info.value)


def test_the_entry_point_loads_it_for_parlay_cleanup():
    assert registry.load("providers", "torque") is TorqueProvider
    assert registry.load("providers", "TorqueProvider") is TorqueProvider
    assert TorqueProvider(label="mine", queue="batch").cleanup_options() == {"label": "mine"}


# --- reading Torque's answers --------------------------------------------------------------------------

# `qstat -f` as Torque prints it (attributes trimmed): values folded at column 78 or after a comma onto
# lines that start with a tab. A job that succeeded, one that failed, one deleted while it ran, one
# deleted while queued, one exiting, one running, one queued, one held.
QSTAT_FULL = """\
Job Id: 3041.torque01.cluster
    Job_Name = parlay.htex.block-0
    Job_Owner = alice@login01.cluster
    resources_used.cput = 00:00:00
    resources_used.energy_used = 0
    resources_used.mem = 3164kb
    resources_used.vmem = 38640kb
    resources_used.walltime = 00:00:05
    job_state = C
    queue = batch
    server = torque01.cluster
    Checkpoint = u
    ctime = Tue Nov 14 10:00:00 2023
    Error_Path = login01.cluster:/home/alice/runinfo/000/submit_scripts/parlay.ht
\tex.block-0.stderr
    exec_host = node07/0
    Hold_Types = n
    Join_Path = n
    Keep_Files = n
    Mail_Points = a
    mtime = Tue Nov 14 10:00:05 2023
    Output_Path = login01.cluster:/home/alice/runinfo/000/submit_scripts/parlay.h
\ttex.block-0.stdout
    Priority = 0
    qtime = Tue Nov 14 10:00:00 2023
    Rerunable = True
    Resource_List.nodect = 1
    Resource_List.nodes = 1:ppn=1
    Resource_List.walltime = 00:20:00
    session_id = 23456
    Shell_Path_List = /bin/bash
    Variable_List = PBS_O_QUEUE=batch,PBS_O_HOME=/home/alice,
\tPBS_O_LOGNAME=alice,PBS_O_PATH=/usr/local/bin:/usr/bin,
\tPBS_O_SHELL=/bin/bash,PBS_O_LANG=en_US.UTF-8,
\tPBS_O_WORKDIR=/home/alice,PBS_O_HOST=login01.cluster,
\tPBS_O_SERVER=torque01.cluster
    euser = alice
    egroup = alice
    queue_type = E
    etime = Tue Nov 14 10:00:00 2023
    exit_status = 0
    submit_args = /home/alice/runinfo/000/submit_scripts/parlay.htex.block-0.submit
    start_time = Tue Nov 14 10:00:00 2023
    start_count = 1
    fault_tolerant = False
    comp_time = Tue Nov 14 10:00:05 2023
    job_radix = 0
    total_runtime = 5.120000
    submit_host = login01.cluster
    init_work_dir = /home/alice
    request_version = 1

Job Id: 3042.torque01.cluster
    Job_Name = parlay.htex.block-1
    job_state = C
    queue = batch
    exit_status = 1
    comp_time = Tue Nov 14 10:00:07 2023

Job Id: 3043.torque01.cluster
    Job_Name = parlay.htex.block-2
    job_state = C
    queue = batch
    exit_status = 271

Job Id: 3044.torque01.cluster
    Job_Name = parlay.htex.block-3
    job_state = C
    queue = batch

Job Id: 3045.torque01.cluster
    Job_Name = parlay.htex.block-4
    job_state = E
    queue = batch

Job Id: 3046.torque01.cluster
    Job_Name = parlay.htex.block-5
    job_state = R
    queue = batch

Job Id: 3047.torque01.cluster
    Job_Name = parlay.htex.block-6
    job_state = Q
    queue = batch

Job Id: 3048.torque01.cluster
    Job_Name = parlay.htex.block-7
    job_state = H
    queue = batch

"""


def test_reads_states_and_exit_statuses_of_qstat_full():
    found = TorqueProvider()._parse_status(QSTAT_FULL)
    summary = {job_id.split(".")[0]: (status.state, status.exit_code) for job_id, status in found.items()}
    assert summary == {
        "3041": (JobState.COMPLETED, 0),
        "3042": (JobState.FAILED, 1),
        "3043": (JobState.FAILED, 271),
        "3044": (JobState.FAILED, None),
        "3045": (JobState.RUNNING, None),
        "3046": (JobState.RUNNING, None),
        "3047": (JobState.PENDING, None),
        "3048": (JobState.HELD, None),
    }
    assert "3041.torque01.cluster" in found
    assert found["3043.torque01.cluster"].message == "scheduler state C, exit status 271 (killed by signal 15)"
    assert found["3044.torque01.cluster"].message == "scheduler state C, ended without an exit status"


def test_folded_values_are_joined_again():
    job = parse_full_status(QSTAT_FULL)["3041.torque01.cluster"]
    assert job["Error_Path"] == "login01.cluster:/home/alice/runinfo/000/submit_scripts/parlay.htex.block-0.stderr"
    assert job["Variable_List"].split(",")[-1] == "PBS_O_SERVER=torque01.cluster"
    assert job["Resource_List.nodes"] == "1:ppn=1"
    assert parse_full_status("") == {}


@pytest.fixture
def scheduler(tmp_path, monkeypatch):
    with fake_scheduler(tmp_path / "scheduler", FakeTorque, monkeypatch) as scheduler:
        yield scheduler


def test_unknown_and_completed_jobs_are_not_errors_of_qstat_and_qdel(scheduler):
    provider = TorqueProvider()
    scheduler.fail("qstat", "Unknown Job Id Error 3041.torque01.cluster", 153)
    assert [s.state for s in provider.status(["3041.torque01.cluster"])] == [JobState.MISSING]
    for message in (
        "Request invalid for state of job MSG=invalid state for job - COMPLETE 3041.torque01.cluster",
        "nonexistent job id: 3041.torque01.cluster",
        "Unknown Job Id 3041.torque01.cluster",
    ):
        scheduler.fail("qdel", message, 170)
        assert provider.cancel(["3041.torque01.cluster"]) == [True]
    scheduler.fail("qdel", "Unauthorized Request  MSG=operation not permitted 3041.torque01.cluster", 159)
    with pytest.raises(ExecutionProviderException, match="Unauthorized Request"):
        provider.cancel(["3041.torque01.cluster"])
