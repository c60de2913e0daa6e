"""GridEngineProvider: the conformance suite against the fake Grid Engine and against a real one, the
directives each option renders, option checks, and parsing what the real qsub, qstat and qacct print."""

import inspect
import os
from pathlib import Path

import pytest

from parlay.errors import ConfigurationError, ExecutionProviderException
from parlay.launchers.builtin import SimpleLauncher
from parlay.providers.base import JobState
from parlay.testing.fake_scheduler import fake_scheduler
from parlay.testing.providers import LiveProviderConformance, ProviderConformance, wait_for
from parlay_provider_sge import GridEngineProvider
from parlay_provider_sge.fake import FakeGridEngine
from parlay_provider_sge.provider import accounting_status, job_state, parse_qacct, parse_qstat, sge_name

# --- what Son of Grid Engine 8.1.9 printed (Debian 12, tools/schedulers/sge.sh) --------------------------

QSTAT = """\
job-ID  prior   name       user         state submit/start at     queue                          slots ja-task-ID 
-----------------------------------------------------------------------------------------------------------------
     10 0.50000 tjob       root         r     11/25/2026 10:24:59 all.q@vm                           1        
     40 0.50000 sleep      root         dr    11/25/2026 10:26:44 all.q@vm                           1        
      3 0.50000 parlay.x.b root         t     11/25/2026 10:22:34 all.q@vm                           1        
      8 0.50000 errjob     root         Eqw   11/25/2026 10:24:59                                    1        
      9 0.00000 holdjob    root         hqw   11/25/2026 10:24:59                                    1        
     12 0.00000 waiting    root         qw    11/25/2026 10:25:01                                    4 1-3:1
"""  # noqa: W291 - qstat pads its lines

QSTAT_J_ERROR = """\
==============================================================
job_number:                 8
exec_file:                  job_scripts/8
owner:                      root
cwd:                        /tmp/sge-exp/t
job_name:                   errjob
stdout_path_list:           NONE:NONE:/nonexistent/dir/x.out
error reason          1:      11/25/2026 10:24:59 [0:16932]: error: can't open output file "/nonexistent/dir/x.out": No such file or directory
scheduling info:            Job is in error state
"""  # noqa: E501


def qacct_record(name: str, number: int, failed: str, exit_status: str) -> str:
    return f"""\
==============================================================
qname        all.q               
hostname     vm                  
owner        root                
jobname      {name}    
jobnumber    {number}                   
taskid       undefined
qsub_time    Wed Nov 25 10:22:34 2026
start_time   Wed Nov 25 10:22:34 2026
end_time     Wed Nov 25 10:22:39 2026
granted_pe   NONE                
slots        1                   
failed       {failed}    
exit_status  {exit_status}                   
ru_wallclock 5s
category     -q all.q -l h_rt=600
"""  # noqa: W291 - qacct pads its values


# --- the conformance suite --------------------------------------------------------------------------


class TestGridEngineProvider(ProviderConformance):
    """Against the fake Grid Engine, which writes a job's accounting record the moment the job ends: no grace
    is needed for it, and the suite wants a vanished job missing at once."""

    fake_class = FakeGridEngine

    def make_provider(self, **options):
        return GridEngineProvider(accounting_grace=0, **options)


class TestLiveGridEngine(LiveProviderConformance):
    """The same tests against a real Son of Grid Engine (tools/schedulers/sge.sh), with the default grace."""

    @pytest.fixture(autouse=True)
    def _grid_engine(self, live_sge):
        return live_sge

    def make_provider(self, **options):
        return GridEngineProvider(queue=os.environ["PARLAY_TEST_SGE_QUEUE"], **options)


# --- more real jobs ---------------------------------------------------------------------------------


@pytest.fixture
def fake(tmp_path, monkeypatch):
    with fake_scheduler(tmp_path / "scheduler", FakeGridEngine, monkeypatch) as scheduler:
        yield scheduler


def make(tmp_path, **options):
    provider = GridEngineProvider(**options)
    provider.script_dir = str(tmp_path / "runinfo" / "000" / "submit_scripts")
    return provider


def ended(provider, job_id, what):
    """The job's terminal status, once it has one."""
    return wait_for(lambda: next((s for s in provider.status([job_id]) if s.terminal), None), what)


def test_a_job_whose_record_is_late_is_unknown_until_it_appears(tmp_path, fake):
    provider = make(tmp_path)
    job_id = provider.submit("true", 1, "parlay.sge.block-0")
    wait_for(lambda: not fake.active_jobs(), "the job to end")
    fake.fail("qacct", f"error: job id {job_id} not found")  # its record is not written yet
    [status] = provider.status([job_id])
    assert status.state is JobState.UNKNOWN and not status.terminal, status
    assert "accounting record" in status.message
    fake.heal()
    [status] = provider.status([job_id])
    assert status.state is JobState.COMPLETED and status.exit_code == 0, status


def test_a_job_without_a_record_is_missing_after_the_grace(tmp_path, fake):
    provider = make(tmp_path, accounting_grace=1)
    job_id = provider.submit("sleep 300", 1, "parlay.sge.block-0")
    fake.vanish(job_id)
    [status] = provider.status([job_id])
    assert status.state is JobState.UNKNOWN, status
    assert ended(provider, job_id, "the grace to run out").state is JobState.MISSING


def test_a_failing_qdel_shows_its_output_while_the_job_is_queued(tmp_path, fake):
    provider = make(tmp_path)
    job_id = provider.submit("sleep 300", 1, "parlay.sge.block-0")
    fake.fail("qdel", "error: unable to send message to qmaster")
    with pytest.raises(ExecutionProviderException, match=rf"(?s)`qdel {job_id}` exited with code 1.*unable to send"):
        provider.cancel([job_id])
    fake.heal()
    assert provider.cancel([job_id, "987654"]) == [True, True], "a job already gone is not an error"
    assert provider.status([job_id])[0].state is JobState.CANCELLED


@pytest.mark.usefixtures("fake")
def test_qstat_runs_once_per_poll_whatever_the_batch_size(tmp_path, monkeypatch):
    provider = make(tmp_path)
    provider.status_batch_size = 1
    ids = [provider.submit("sleep 300", 1, f"parlay.sge.block-{n}") for n in range(3)]
    calls = []
    original = provider.execute_wait
    monkeypatch.setattr(
        provider, "execute_wait", lambda command, *a, **k: calls.append(command) or original(command, *a, **k)
    )
    assert all(status.state in (JobState.PENDING, JobState.RUNNING) for status in provider.status(ids))
    assert [c for c in calls if c[0] == "qstat"] == [["qstat"]]
    provider.cancel(ids)


def test_a_job_in_error_state_is_failed_with_its_reason(tmp_path, monkeypatch):
    """A stand-in qstat printing what the real one printed for a job whose output file could not be opened."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "list").write_text(QSTAT)
    (tmp_path / "job").write_text(QSTAT_J_ERROR)
    qstat = bin_dir / "qstat"
    qstat.write_text(f'#!/bin/sh\nif [ "$1" = -j ]; then cat {tmp_path}/job; else cat {tmp_path}/list; fi\n')
    qstat.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    provider = make(tmp_path)
    provider.adopt("8", "errjob")
    error, other = provider.status(["8", "9"])
    assert error.state is JobState.FAILED and error.terminal
    assert "scheduler state Eqw" in error.message
    assert 'can\'t open output file "/nonexistent/dir/x.out"' in error.message and "qdel 8" in error.message
    assert other.state is JobState.HELD and other.message == "scheduler state hqw"


@pytest.mark.usefixtures("live_sge")
def test_live_error_state_and_walltime(tmp_path):
    provider = make(tmp_path, queue=os.environ["PARLAY_TEST_SGE_QUEUE"], walltime=2)
    slow = provider.submit("sleep 60", 1, "parlay.sge.block-0")
    provider.scheduler_options = "#$ -e /nonexistent/dir/x.err"  # a later -e wins: the job cannot open it
    broken = provider.submit("true", 1, "parlay.sge.block-1")
    try:
        status = ended(provider, broken, "the job to fail to start")
        assert status.state is JobState.FAILED, status
        assert "Eqw" in status.message and "/nonexistent/dir/x.err" in status.message, status
        status = ended(provider, slow, "h_rt to end the job")
        assert status.state is JobState.TIMEOUT and status.exit_code == 137, status
    finally:
        provider.cancel([slow, broken])
    assert ended(provider, broken, "the deletion").state is JobState.CANCELLED


# --- the job script, offline ------------------------------------------------------------------------


def directives(tmp_path, job_name="parlay.htex.block-0", **options):
    provider = make(tmp_path, **options)
    return [line for line in provider.job_script("worker", 1, job_name).splitlines() if line.startswith("#$")]


def test_default_directives(tmp_path):
    out = tmp_path / "runinfo" / "000" / "submit_scripts" / "parlay.htex.block-0"
    assert directives(tmp_path) == [
        "#$ -S /bin/bash",
        "#$ -cwd",
        "#$ -V",
        "#$ -N parlay.htex.block-0",
        f"#$ -o {out}.stdout",
        f"#$ -e {out}.stderr",
        "#$ -l h_rt=00:10:00",
    ]


def test_options_directives(tmp_path):
    lines = directives(tmp_path, queue="long.q", pe="mpi", cores_per_node=8, nodes_per_block=2, walltime=90061.5)
    assert lines[-3:] == ["#$ -l h_rt=25:01:02", "#$ -q long.q", "#$ -pe mpi 16"]
    assert directives(tmp_path, pe="smp")[-1] == "#$ -pe smp 1"


def test_scheduler_options_come_after_the_directives_so_that_they_win(tmp_path):
    provider = make(tmp_path, scheduler_options="#$ -P physics\n#$ -l h_rt=1:00:00", worker_init="module load python")
    lines = provider.job_script("worker --block 0", 1, "parlay.htex.block-0").splitlines()
    assert lines[6:10] == ["#$ -e " + provider.output_paths("parlay.htex.block-0")[1], "#$ -l h_rt=00:10:00",
                           "#$ -P physics", "#$ -l h_rt=1:00:00"]  # fmt: skip
    assert lines[10].startswith("export PARLAY_BLOCK_DEADLINE=") and lines[11] == "module load python"
    assert any("worker --block 0" in line for line in lines[12:]), "the launcher runs the command last"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("parlay.htex.block-0", "parlay.htex.block-0"),
        ("7up", "_7up"),
        ("-x", "_-x"),
        ("a b:c/d@e*f?g\\hé", "a_b_c_d_e_f_g_h_"),
        ("", "parlay"),
        ("x" * 600, "x" * 512),
    ],
)
def test_job_names_are_made_acceptable(name, expected):
    assert sge_name(name) == expected


def test_odd_output_paths(tmp_path):
    spaced = make(tmp_path / "my runs")
    coloned = make(tmp_path / "a:b")
    assert '#$ -o "' + str(tmp_path / "my runs") in spaced.job_script("worker", 1, "b-0")
    assert f"#$ -e :{tmp_path / 'a:b'}" in coloned.job_script("worker", 1, "b-0")


# --- options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"queue": "all q"}, "GridEngineProvider.queue='all q': expected a name without spaces, or None"),
        ({"queue": ""}, "GridEngineProvider.queue='': expected a name without spaces"),
        ({"pe": 4}, "GridEngineProvider.pe=4: expected a name without spaces, or None"),
        ({"cores_per_node": 4}, "GridEngineProvider.cores_per_node=4: more than one slot needs a parallel environment"),
        ({"nodes_per_block": 2}, "GridEngineProvider.nodes_per_block=2: more than one slot needs a parallel"),
        ({"pe": "smp", "cores_per_node": 0}, "GridEngineProvider.cores_per_node=0: expected an integer >= 1"),
        ({"walltime": "soon"}, "GridEngineProvider.walltime='soon': expected seconds or 'HH:MM:SS'"),
        ({"walltime": None}, "GridEngineProvider.walltime=None: expected seconds or 'HH:MM:SS'"),
        ({"cmd_timeout": -1}, "GridEngineProvider.cmd_timeout=-1: expected seconds > 0"),
        ({"accounting_grace": -1}, "GridEngineProvider.accounting_grace=-1: expected seconds >= 0"),
        ({"max_blocks": 0, "min_blocks": 1}, "min_blocks=1 must not exceed max_blocks=0"),
    ],
)
def test_wrong_options_are_refused(options, message):
    with pytest.raises(ConfigurationError) as info:
        GridEngineProvider(**options)
    assert message in str(info.value)


def test_defaults_follow_parsl():
    provider = GridEngineProvider()
    assert (provider.label, provider.kind, provider.queue, provider.pe) == ("sge", "sge", None, None)
    assert (provider.nodes_per_block, provider.init_blocks, provider.min_blocks, provider.max_blocks) == (1, 1, 0, 1)
    assert (provider.walltime, provider.cmd_timeout, provider.status_polling_interval) == ("00:10:00", 60, 60)
    assert type(provider.launcher).__name__ == "SingleNodeLauncher"
    assert provider.cleanup_options() == {"label": "sge"}


# --- parsing ----------------------------------------------------------------------------------------


def test_parse_qstat():
    listed = parse_qstat(QSTAT)
    assert listed == {"10": "r", "40": "dr", "3": "t", "8": "Eqw", "9": "hqw", "12": "qw"}
    assert parse_qstat("") == {}


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("qw", JobState.PENDING),
        ("hqw", JobState.HELD),
        ("hRwq", JobState.HELD),
        ("r", JobState.RUNNING),
        ("t", JobState.RUNNING),
        ("Rr", JobState.RUNNING),
        ("dr", JobState.RUNNING),
        ("dt", JobState.RUNNING),
        ("s", JobState.HELD),
        ("S", JobState.HELD),
        ("T", JobState.HELD),
        ("Eqw", JobState.FAILED),
        ("Ehqw", JobState.FAILED),
        ("z", JobState.UNKNOWN),
    ],
)
def test_state_codes(code, state):
    assert job_state(code) is state


def test_parse_qacct_keeps_every_record():
    text = qacct_record("first", 7, "0", "0") + qacct_record("second", 7, "0", "3")
    records = parse_qacct(text)
    assert [r["jobname"] for r in records] == ["first", "second"]
    assert records[1]["exit_status"] == "3" and records[0]["category"] == "-q all.q -l h_rt=600"
    assert parse_qacct("no jobs running since startup\n") == []


@pytest.mark.parametrize(
    ("failed", "exit_status", "state", "code"),
    [
        ("0", "0", JobState.COMPLETED, 0),
        ("0", "3", JobState.FAILED, 3),
        ("100 : assumedly after job", "137                  (Killed)", JobState.FAILED, 137),
        ("37  : qmaster enforced h_rt, h_cpu, or h_vmem limit", "137                  (Killed)", JobState.TIMEOUT, 137),
    ],
)
def test_accounting_status(failed, exit_status, state, code):
    [record] = parse_qacct(qacct_record("parlay.x.block-0", 5, failed, exit_status))
    status = accounting_status(record)
    assert (status.state, status.exit_code) == (state, code)
    assert f"exit status {code}" in status.message
    assert (f"failed {failed}" in status.message) == (failed != "0")


def test_a_record_of_another_job_with_the_same_id_is_not_this_jobs(tmp_path, fake):
    provider = make(tmp_path, accounting_grace=0, launcher=SimpleLauncher())
    job_id = provider.submit("exit 3", 1, "parlay.sge.block-0")
    provider.job_names[job_id] = "parlay.sge.block-9"  # as if this id had been another job's before
    wait_for(lambda: not fake.active_jobs(), "the job to end")
    assert provider.status([job_id])[0].state is JobState.MISSING
    provider.job_names[job_id] = "parlay.sge.block-0"
    assert provider.status([job_id])[0].exit_code == 3


SUBMITTED = ["42\n", "42.1-10:1\n", 'Your job 42 ("x") has been submitted\n', 'Your job-array 42.1-3:1 ("x") has been']


@pytest.mark.parametrize("stdout", SUBMITTED)
def test_parse_submit(stdout):
    assert GridEngineProvider()._parse_submit(stdout) == "42"


def test_the_readme_documents_every_option():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name in inspect.signature(GridEngineProvider).parameters:
        assert f"| `{name}` |" in readme, name
