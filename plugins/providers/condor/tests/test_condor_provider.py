"""CondorProvider: the provider conformance suite against the fake scheduler's HTCondor tools, plus the
submit description each option renders, environment quoting, option checks and how condor_q and
condor_history answers are read."""

import os
import re

import pytest

from parlay.errors import ConfigurationError, SubmitException
from parlay.launchers.builtin import SimpleLauncher, SingleNodeLauncher
from parlay.providers.base import JobState
from parlay.testing.fake_scheduler import fake_scheduler
from parlay.testing.providers import ProviderConformance, wait_for
from parlay_provider_condor import CondorProvider
from parlay_provider_condor.fake import FakeCondor
from parlay_provider_condor.provider import condor_environment


class TestCondorProvider(ProviderConformance):
    fake_class = FakeCondor

    def make_provider(self, **options):
        return CondorProvider(**options)

    def submission_text(self, provider, command, job_name):
        return provider.submit_description(job_name) + provider.job_script(command, 1, job_name)


def provider_in(tmp_path, **options):
    provider = CondorProvider(**options)
    provider.script_dir = str(tmp_path / "scripts")
    return provider


def test_default_submit_description(tmp_path):
    provider = provider_in(tmp_path)
    base = os.path.join(provider.script_dir, "parlay.x.block-0")
    assert provider.submit_description("parlay.x.block-0").splitlines() == [
        "universe = vanilla",
        f"executable = {base}.submit",
        "batch_name = parlay.x.block-0",
        f"output = {base}.stdout",
        f"error = {base}.stderr",
        f"log = {base}.log",
        "should_transfer_files = IF_NEEDED",
        "when_to_transfer_output = ON_EXIT",
        "periodic_remove = JobStatus == 2 && time() - JobCurrentStartDate > 600",
        "queue 1",
    ]
    assert isinstance(provider.launcher, SingleNodeLauncher)
    assert (provider.label, provider.cmd_timeout, provider.max_blocks) == ("condor", 60, 1)


def test_every_option_renders_into_the_description(tmp_path):
    provider = provider_in(
        tmp_path,
        cores_per_slot=8,
        mem_per_slot=1.5,
        walltime="01:30:00",
        project="physics",
        requirements='OpSysMajorVer == 9 && Arch == "X86_64"',
        environment={"OMP_NUM_THREADS": "8", "GREETING": "hello world"},
        transfer_input_files=["env.tar.gz", "/data/input/"],
        scheduler_options='+SingularityImage = "img.sif"\naccounting_group = group_physics',
    )
    lines = provider.submit_description("parlay.x.block-1").splitlines()
    assert lines[8:] == [
        "periodic_remove = JobStatus == 2 && time() - JobCurrentStartDate > 5400",
        "request_cpus = 8",
        "request_memory = 1536",
        '+ProjectName = "physics"',
        'requirements = OpSysMajorVer == 9 && Arch == "X86_64"',
        "environment = \"OMP_NUM_THREADS='8' GREETING='hello world'\"",
        "transfer_input_files = env.tar.gz,/data/input/",
        '+SingularityImage = "img.sif"',
        "accounting_group = group_physics",
        "queue 1",
    ]
    assert (provider.cores_per_node, provider.mem_per_node) == (8, 1.5)


def test_job_script_and_description_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-scheduler-here"))
    provider = provider_in(
        tmp_path,
        cores_per_slot=4,
        mem_per_slot=2,
        walltime="01:30:00",
        worker_init="export STAGE=init",
        scheduler_options="# site option 42\nrequest_disk = 1GB",
    )
    script = provider.job_script("worker --block 7", 4, "parlay.offline.block-7")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert lines[1:4] == [
        "export PARLAY_BLOCK_DEADLINE=$(( $(date +%s) + 5400 ))",
        "export PARLAY_CORES=4",
        "export PARLAY_MEMORY_GB=2",
    ]
    assert "site option 42" not in script and "request_disk" not in script, "bash must not run submit commands"
    assert lines.index("export STAGE=init") < max(i for i, line in enumerate(lines) if "worker --block 7" in line)
    path = provider.write_script("worker --block 7", 4, "parlay.offline.block-7")
    assert path == provider.script_path("parlay.offline.block-7") and os.access(path, os.X_OK)
    with open(provider.description_path("parlay.offline.block-7")) as stream:
        description = stream.read()
    assert description == provider.submit_description("parlay.offline.block-7")
    assert description.endswith("# site option 42\nrequest_disk = 1GB\nqueue 1\n")
    assert f"executable = {os.path.abspath(path)}\n" in description


def test_environment_quoting():
    # the manual's own example: one=1, two="2", three=spacey 'quoted' value
    rendered = condor_environment({"one": "1", "two": '"2"', "three": "spacey 'quoted' value"})
    assert rendered == "\"one='1' two='\"\"2\"\"' three='spacey ''quoted'' value'\""
    assert condor_environment({"EMPTY": ""}) == "\"EMPTY=''\""
    # condor_submit would expand $(...) as a macro: a literal $ is written $(DOLLAR)
    assert condor_environment({"PRICE": "$(Cluster) costs $5"}) == "\"PRICE='$(DOLLAR)(Cluster) costs $(DOLLAR)5'\""


def test_literal_paths_and_project_quoting(tmp_path):
    provider = provider_in(tmp_path, project='say "hi" \\ $x', transfer_input_files=["$HOME/in"])
    description = provider.submit_description("parlay.x.block-2")
    assert '+ProjectName = "say \\"hi\\" \\\\ $(DOLLAR)x"\n' in description
    assert "transfer_input_files = $(DOLLAR)HOME/in\n" in description


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nodes_per_block": 2}, "CondorProvider.nodes_per_block=2: expected 1"),
        ({"nodes_per_block": True}, "CondorProvider.nodes_per_block=True: expected 1"),
        ({"cores_per_slot": 0}, "CondorProvider.cores_per_slot=0: expected an integer >= 1, or None"),
        ({"cores_per_slot": 2.5}, "CondorProvider.cores_per_slot=2.5: expected an integer >= 1, or None"),
        ({"mem_per_slot": -1}, "CondorProvider.mem_per_slot=-1: expected gigabytes > 0, or None"),
        ({"mem_per_slot": "4GB"}, "CondorProvider.mem_per_slot='4GB': expected gigabytes > 0, or None"),
        ({"environment": ["A=1"]}, "CondorProvider.environment=['A=1']: expected a dict of variable names"),
        ({"environment": {"1ST": "x"}}, "CondorProvider.environment={'1ST': 'x'}: expected a dict"),
        ({"environment": {"N": 4}}, "CondorProvider.environment={'N': 4}: expected a dict"),
        ({"environment": {"A": "x\ny"}}, "to one-line string values, or None"),
        ({"project": "a\nb"}, "CondorProvider.project='a\\nb': expected a string of one line"),
        ({"requirements": None}, "CondorProvider.requirements=None: expected a string of one line"),
        ({"transfer_input_files": "in.txt"}, "CondorProvider.transfer_input_files='in.txt': expected a list"),
        ({"transfer_input_files": ["a,b"]}, "expected a list of paths (without commas or newlines)"),
        ({"walltime": "soon"}, "CondorProvider.walltime='soon': expected seconds or 'HH:MM:SS'"),
        ({"cmd_timeout": 0}, "CondorProvider.cmd_timeout=0: expected seconds > 0"),
        ({"scheduler_options": ["queue 2"]}, "CondorProvider.scheduler_options=['queue 2']: expected a string"),
    ],
)
def test_options_are_checked(options, message):
    with pytest.raises(ConfigurationError) as info:
        CondorProvider(**options)
    assert message in str(info.value)


def test_submit_answer_and_commands(tmp_path):
    provider = provider_in(tmp_path)
    assert provider._parse_submit("Submitting job(s).\n1 job(s) submitted to cluster 4217.\n") == "4217"
    assert provider._parse_submit("ERROR: on Line 3 of submit file:\n") == ""
    assert provider._submit_command("/r/parlay.x.block-0.submit") == ["condor_submit", "/r/parlay.x.block-0.condor"]
    assert provider._status_command(["7", "8"]) == ["condor_q", "7", "8", "-af:j", "JobStatus", "ExitCode"]
    assert provider._cancel_command(["7", "8"]) == ["condor_rm", "7", "8"]


def test_condor_q_answers_including_held_jobs(tmp_path):
    provider = provider_in(tmp_path)
    answer = "11.0 1 undefined\n12.0 2 undefined\n13.0 5 undefined\n14.0 7 undefined\n15.0 6 0\n16.0 3 undefined\n"
    statuses = provider._parse_status(answer + "17.0 4 0\n18.0 4 3\n19.0 4 undefined\n20.0 9 undefined\n\n")
    assert {job: s.state for job, s in statuses.items()} == {
        "11": JobState.PENDING,
        "12": JobState.RUNNING,
        "13": JobState.HELD,
        "14": JobState.HELD,
        "15": JobState.RUNNING,
        "16": JobState.CANCELLED,
        "17": JobState.COMPLETED,
        "18": JobState.FAILED,
        "19": JobState.FAILED,
        "20": JobState.UNKNOWN,
    }
    assert statuses["13"].message == "scheduler state 5 (held)"
    assert [statuses[job].exit_code for job in ("12", "17", "18", "19")] == [None, 0, 3, None]
    assert statuses["18"].message == "scheduler state 4 (completed, exit code 3)"
    assert provider._parse_status("") == {}
    assert provider._parse_status("-- Schedd: submit.example.org : <10.0.0.1:9618?...\n") == {}


@pytest.fixture
def scheduler(tmp_path, monkeypatch):
    with fake_scheduler(tmp_path / "scheduler", FakeCondor, monkeypatch) as scheduler:
        yield scheduler


@pytest.fixture
def provider(tmp_path, scheduler):
    """A provider whose jobs the fake HTCondor runs."""
    return provider_in(tmp_path, launcher=SimpleLauncher())


def test_history_reports_how_jobs_that_left_the_queue_ended(tmp_path, monkeypatch, scheduler, provider):
    ok = provider.submit("true", 1, "parlay.x.block-0")
    bad = provider.submit("exit 7", 1, "parlay.x.block-1")
    wait_for(lambda: not scheduler.active_jobs(), "both jobs to leave the queue")
    fresh = provider_in(tmp_path)  # no memory of anything: everything comes from condor_history
    commands = []
    execute_wait = fresh.execute_wait

    def recording(command, **options):
        commands.append(command)
        return execute_wait(command, **options)

    monkeypatch.setattr(fresh, "execute_wait", recording)
    ended = fresh.status([ok, bad, "987654"])
    assert [(s.state, s.exit_code) for s in ended] == [
        (JobState.COMPLETED, 0), (JobState.FAILED, 7), (JobState.MISSING, None)
    ]  # fmt: skip
    assert commands[-1] == ["condor_history", ok, bad, "987654", "-af:j", "JobStatus", "ExitCode", "-limit", "3"]


def test_removing_a_job_that_left_the_queue_is_not_an_error(tmp_path, provider):
    ended = provider.submit("true", 1, "parlay.x.block-0")
    wait_for(lambda: provider.status([ended])[0].terminal, "the first job to end")
    running = provider.submit(f"touch {tmp_path}/started; sleep 300", 1, "parlay.x.block-1")
    wait_for((tmp_path / "started").exists, "the second job to start")
    # with a job still queued, condor_rm fails: "Couldn't find/remove all jobs in cluster N"
    assert provider.cancel([ended]) == [True]
    assert provider.status([running])[0].state is JobState.RUNNING
    assert provider.cancel([running, ended]) == [True, True]
    wait_for(lambda: provider.status([running])[0].state is JobState.CANCELLED, "the removal")


def test_refused_submission_names_both_files(scheduler, provider):
    scheduler.fail("condor_submit", "ERROR: Failed to connect to local queue manager")
    with pytest.raises(SubmitException) as info:
        provider.submit("true", 1, "parlay.x.block-3")
    text = str(info.value)
    assert re.search(r"`condor_submit \S+/parlay\.x\.block-3\.condor` exited with code 1", text), text
    assert "Failed to connect to local queue manager" in text
    assert provider.script_path("parlay.x.block-3") in text
