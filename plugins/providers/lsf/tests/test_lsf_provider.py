"""LSFProvider: the conformance suite through the fake LSF (with both submission forms), the directives
each option renders, walltime rounding, option validation, and parsing of real bsub and bjobs output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parlay.errors import ConfigurationError, SubmitException
from parlay.launchers.builtin import SimpleLauncher, SingleNodeLauncher
from parlay.plugins import registry
from parlay.providers.base import JobState
from parlay.testing.fake_scheduler import fake_scheduler
from parlay.testing.providers import ProviderConformance, wait_for
from parlay_provider_lsf import LSFProvider
from parlay_provider_lsf.fake import FakeLSF
from parlay_provider_lsf.provider import bsub_options, run_limit


class TestLSFConformance(ProviderConformance):
    """The default `bsub [options] script`: the #BSUB options travel on the command line."""

    fake_class = FakeLSF

    def make_provider(self, **options):
        return LSFProvider(**options)


class TestLSFRedirectedConformance(ProviderConformance):
    """`bsub < script`: LSF reads the #BSUB lines from the script on stdin."""

    fake_class = FakeLSF

    def make_provider(self, **options):
        return LSFProvider(bsub_redirection=True, **options)


@pytest.mark.parametrize("redirection", [False, True])
def test_a_failed_copys_exit_code_is_the_jobs(tmp_path, monkeypatch, redirection):
    provider = LSFProvider(bsub_redirection=redirection)
    provider.script_dir = str(tmp_path / "scripts")
    with fake_scheduler(tmp_path / "scheduler", FakeLSF, monkeypatch):
        job_id = provider.submit("echo copy-$PARLAY_COPY-failed >&2; exit 3", 2, "parlay.t.block-0")
        status = wait_for(lambda: next((s for s in provider.status([job_id]) if s.terminal), None), "the job to end")
        assert (status.state, status.exit_code) == (JobState.FAILED, 3), status
        assert "copy-2-failed" in status.stderr_tail()


def directives(tmp_path: Path, **options) -> list[str]:
    provider = LSFProvider(**options)
    provider.script_dir = str(tmp_path)
    return [line for line in provider.job_script("worker", 1, "parlay.t.block-0").splitlines() if "#BSUB" in line]


# --- directives ------------------------------------------------------------------------------------


def test_default_directives(tmp_path):
    assert directives(tmp_path) == [
        "#BSUB -J parlay.t.block-0",
        f"#BSUB -o {tmp_path}/parlay.t.block-0.stdout",
        f"#BSUB -e {tmp_path}/parlay.t.block-0.stderr",
        "#BSUB -W 00:10",
        "#BSUB -nnodes 1",
    ]


def test_nodes_project_queue_and_scheduler_options(tmp_path):
    lines = directives(
        tmp_path, nodes_per_block=4, project="GEN011", queue="batch", scheduler_options="#BSUB -alloc_flags smt4"
    )
    assert lines[4:] == ["#BSUB -nnodes 4", "#BSUB -P GEN011", "#BSUB -q batch", "#BSUB -alloc_flags smt4"]


def test_request_by_cores_with_and_without_ptile(tmp_path):
    provider = LSFProvider(request_by_nodes=False, cores_per_block=10, cores_per_node=4)
    assert provider.nodes_per_block == 3, "ceil(10 / 4) hosts"
    lines = directives(tmp_path, request_by_nodes=False, cores_per_block=10, cores_per_node=4)
    assert lines[4:] == ["#BSUB -n 10", '#BSUB -R "span[ptile=4]"']
    assert not any("-nnodes" in line for line in lines)
    assert directives(tmp_path, request_by_nodes=False, cores_per_block=6)[4:] == ["#BSUB -n 6"]
    assert LSFProvider(request_by_nodes=False, cores_per_block=6).nodes_per_block == 1


def test_defaults_follow_parsl():
    provider = LSFProvider()
    assert (provider.label, provider.kind, provider.walltime) == ("lsf", "lsf", "00:10:00")
    assert (provider.init_blocks, provider.min_blocks, provider.max_blocks, provider.parallelism) == (1, 0, 1, 1)
    assert (provider.cmd_timeout, provider.status_polling_interval) == (120, 60)
    assert (provider.bsub_redirection, provider.request_by_nodes, provider.submit_reads_stdin) == (False, True, False)
    assert isinstance(provider.launcher, SingleNodeLauncher)
    assert isinstance(LSFProvider(launcher=SimpleLauncher()).launcher, SimpleLauncher)
    assert LSFProvider(bsub_redirection=True).submit_reads_stdin is True
    assert registry.load("providers", "lsf") is LSFProvider


@pytest.mark.parametrize(
    ("walltime", "limit"),
    [
        ("00:10:00", "00:10"),
        ("01:30:00", "01:30"),
        ("00:00:01", "00:01"),
        ("00:10:01", "00:11"),
        (59.5, "00:01"),
        (90, "00:02"),
        ("48:00:00", "48:00"),
        ("100:59:30", "101:00"),
    ],
)
def test_walltime_is_rounded_up_to_whole_minutes(tmp_path, walltime, limit):
    assert f"#BSUB -W {limit}" in directives(tmp_path, walltime=walltime)


def test_run_limit_is_hours_and_minutes():
    assert [run_limit(s) for s in (60, 61, 3600, 3599.9)] == ["00:01", "00:02", "01:00", "01:00"]


# --- the submit command --------------------------------------------------------------------------------


def test_command_line_submission_carries_every_bsub_option(tmp_path):
    provider = LSFProvider(
        request_by_nodes=False,
        cores_per_block=8,
        cores_per_node=4,
        queue="short",
        scheduler_options="#BSUB -G physics  # the group\n# a plain comment\n#BSUB -R 'select[mem>4000]'",
    )
    provider.script_dir = str(tmp_path)
    script = provider.write_script("echo '#BSUB -q ignored'", 1, "parlay.t.block-1")
    out, err = provider.output_paths("parlay.t.block-1")
    assert provider._submit_command(script) == [
        "bsub", "-J", "parlay.t.block-1", "-o", out, "-e", err, "-W", "00:10", "-n", "8", "-R", "span[ptile=4]",
        "-q", "short", "-G", "physics", "-R", "select[mem>4000]", script,
    ]  # fmt: skip


def test_redirected_submission_reads_the_script_on_stdin(tmp_path):
    provider = LSFProvider(bsub_redirection=True)
    assert provider._submit_command(str(tmp_path / "job.submit")) == ["bsub"]


def test_bsub_options_stop_at_the_first_command():
    script = ["#!/bin/bash", "#BSUB -J a", "", "# note", "#BSUB -q 'long queue'", "export X=1", "#BSUB -P late"]
    assert bsub_options(script) == ["-J", "a", "-q", "long queue"]
    with pytest.raises(ValueError):
        bsub_options(['#BSUB -R "unbalanced'])


def test_parse_submit_output():
    provider = LSFProvider()
    assert provider._parse_submit("Job <4211> is submitted to default queue <normal>.\n") == "4211"
    assert provider._parse_submit("Job <77> is submitted to queue <batch>.\n") == "77"
    assert provider._parse_submit("Request aborted by esub. Job not submitted.\n") == ""


def test_unparsable_submit_output_is_a_submit_error(tmp_path, monkeypatch):
    provider = LSFProvider()
    provider.script_dir = str(tmp_path)
    monkeypatch.setattr(provider, "execute_wait", lambda command, stdin_path=None, tolerate=None: "Thank you\n")
    with pytest.raises(SubmitException, match="no job id in the scheduler's answer 'Thank you"):
        provider.submit("true", 1, "parlay.t.block-2")


# --- option validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"request_by_nodes": False}, "LSFProvider.cores_per_block=None: request_by_nodes=False needs an integer"),
        ({"request_by_nodes": False, "cores_per_block": 0}, "LSFProvider.cores_per_block=0: expected an integer >= 1"),
        ({"request_by_nodes": False, "cores_per_block": True}, "cores_per_block=True"),
        ({"cores_per_block": 8}, "LSFProvider.cores_per_block=8: only used with request_by_nodes=False"),
        (
            {"request_by_nodes": False, "cores_per_block": 8, "cores_per_node": 4, "nodes_per_block": 3},
            r"LSFProvider.nodes_per_block=3: .* = 2 node\(s\)",
        ),
        ({"request_by_nodes": False, "cores_per_block": 8, "nodes_per_block": 2}, "nodes_per_block=2"),
        ({"request_by_nodes": False, "cores_per_block": 8, "cores_per_node": 0}, "cores_per_node=0"),
        ({"request_by_nodes": "no"}, "LSFProvider.request_by_nodes='no': expected True or False"),
        ({"bsub_redirection": 1}, "LSFProvider.bsub_redirection=1: expected True or False"),
        ({"queue": "two words"}, "LSFProvider.queue='two words': expected a name without spaces, or None"),
        ({"project": ""}, "LSFProvider.project='': expected a name without spaces"),
        ({"walltime": "soon"}, "LSFProvider.walltime='soon': expected seconds or 'HH:MM:SS'"),
        ({"nodes_per_block": 0}, "LSFProvider.nodes_per_block=0: expected an integer >= 1"),
        ({"scheduler_options": "#BSUB -R 'open"}, "LSFProvider.scheduler_options=.*cannot be split"),
        ({"cmd_timeout": 0}, "LSFProvider.cmd_timeout=0"),
    ],
)
def test_invalid_options_name_the_field(options, message):
    with pytest.raises(ConfigurationError, match=message):
        LSFProvider(**options)


def test_consistent_nodes_per_block_is_accepted():
    provider = LSFProvider(request_by_nodes=False, cores_per_block=8, cores_per_node=4, nodes_per_block=2)
    assert provider.nodes_per_block == 2


# --- bjobs output ----------------------------------------------------------------------------------------

# `bjobs -a -noheader -o "jobid stat exit_code" ...` as LSF 10.1 prints it: fields padded to the widest
# value, "-" where a job has no exit code yet.
BJOBS = """\
101     RUN     -
102     PEND    -
103     DONE    -
104     EXIT    3
105     USUSP   -
106     PSUSP   -
107     SSUSP   -
108     WAIT    -
109     ZOMBI   130
110     UNKWN   -
111     EXIT    -
112     PROV    -
113[2]  RUN     -
"""


def test_parse_real_bjobs_output():
    provider = LSFProvider()
    found = provider._parse_status(BJOBS + "No unfinished job found\n")
    assert len(found) == 13, "only job lines count"
    failed = found["104"]
    assert (failed.state, failed.exit_code, failed.message) == (JobState.FAILED, 3, "scheduler state EXIT")
    assert (found["113[2]"].state, found["113[2]"].exit_code) == (JobState.RUNNING, None)


def test_status_maps_states_and_exit_codes(monkeypatch):
    provider = LSFProvider()
    commands = []

    def bjobs(command, stdin_path=None, tolerate=None):
        commands.append((command, tolerate))
        return BJOBS

    monkeypatch.setattr(provider, "execute_wait", bjobs)
    ids = [str(n) for n in range(101, 113)] + ["999"]
    statuses = provider.status(ids)
    assert commands == [(["bjobs", "-a", "-noheader", "-o", "jobid stat exit_code", *ids], provider.unknown_job_errors)]
    assert [s.state for s in statuses] == [
        JobState.RUNNING, JobState.PENDING, JobState.COMPLETED, JobState.FAILED, JobState.HELD, JobState.HELD,
        JobState.HELD, JobState.PENDING, JobState.FAILED, JobState.UNKNOWN, JobState.FAILED, JobState.PENDING,
        JobState.MISSING,
    ]  # fmt: skip
    assert statuses[3].exit_code == 3 and statuses[3].message == "scheduler state EXIT"
    assert statuses[8].exit_code == 130
    assert statuses[10].exit_code is None, "an EXIT without a code stays unknown"
    assert statuses[0].exit_code is None, "a running job has no exit code"


@pytest.mark.parametrize(
    ("line", "tolerated"),
    [
        ("Job <987654> is not found", True),
        ("Job <12>: Job has already finished", True),
        ("Job <12>: No matching job found", True),
        ("LSF is down. Please wait ...", False),
        ("batch system daemon not responding ... still trying", False),
    ],
)
def test_unknown_job_errors(line, tolerated):
    assert bool(re.search(LSFProvider.unknown_job_errors, line)) is tolerated
