"""End to end through real schedulers started for the session by tools/schedulers (Slurm and Grid Engine):
the seed user's config scaled down to this machine, a submitter stopped by SIGTERM or Ctrl-C (it cancels its
own jobs), killed with SIGKILL (its interchange stops the blocks' managers, so the jobs end), or killed with
its interchange (then `parlay cleanup` cancels the jobs), a block that cannot start, and an MPI app whose
ranks MpiExecLauncher starts inside a Slurm job."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import parlay
from parlay import Config, bash_app, python_app
from parlay.errors import BadStateException
from parlay.providers.base import read_journal
from parlay.testing import TIMEOUT
from parlay.testing.providers import run_cleanup, wait_for


@python_app
def double(x):
    import os

    return 2 * x, os.environ.get("SLURM_JOB_ID") or os.environ.get("JOB_ID")


@bash_app
def mpi_ranks(stdout=None):
    """Two MPI ranks, started by the command MpiExecLauncher builds, each printing its PMI rank."""
    from parlay.launchers import MpiExecLauncher

    return MpiExecLauncher()("echo rank=$PMI_RANK size=$PMI_SIZE", 2, 1)


def seed_provider(scheduler, **options):
    """The seed user's provider, scaled down to this machine's one node."""
    from parlay.launchers import SrunLauncher
    from parlay.providers import GridEngineProvider, SlurmProvider

    common = {"nodes_per_block": 1, "init_blocks": 1, "max_blocks": 1, "walltime": "00:10:00",
              "status_polling_interval": 2}  # fmt: skip
    if scheduler == "slurm":
        return SlurmProvider(
            account=os.getenv("SLURM_ACCOUNT", "default_account"),
            partition=os.environ["PARLAY_TEST_SLURM_PARTITION"],
            scheduler_options="#SBATCH --comment=seed-config",
            **{"launcher": SrunLauncher(), **common, **options},
        )
    return GridEngineProvider(queue=os.environ["PARLAY_TEST_SGE_QUEUE"], **{**common, **options})


def seed_config(run_dir, scheduler="slurm", address=None, **provider_options):
    """The seed user's config with 2 workers."""
    from parlay.executors import HighThroughputExecutor

    provider = seed_provider(scheduler, **provider_options)
    executor = HighThroughputExecutor(
        label="my_hpc_cluster", max_workers_per_node=2, provider=provider, address=address
    )
    return Config(executors=[executor], run_dir=str(run_dir), strategy_period=1)


@pytest.fixture(params=["slurm", "sge"])
def scheduler(request):
    """Each real scheduler in turn, started once for the session."""
    request.getfixturevalue(f"live_{request.param}")
    return request.param


def listed(scheduler, job_ids):
    """The jobs among `job_ids` that the scheduler still lists, with their state codes."""
    command = ["squeue", "--noheader", "--format=%i %t"] if scheduler == "slurm" else ["qstat"]
    rows = [
        line.split() for line in subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()
    ]
    state_column = 1 if scheduler == "slurm" else 4
    return {row[0]: row[state_column] for row in rows if row and row[0] in job_ids}


def ending(scheduler, state):
    """Whether a listed job is on its way out: Slurm's CG (completing), Grid Engine's d (being deleted)."""
    return state == "CG" if scheduler == "slurm" else "d" in state


def assert_no_job_left(scheduler, job_ids):
    """No job of the run is queued or running: at most some are still ending, and they soon leave the list."""
    assert all(ending(scheduler, state) for state in listed(scheduler, job_ids).values()), listed(scheduler, job_ids)
    wait_for(lambda: not listed(scheduler, job_ids), "the scheduler to list no job of the run")


def journaled_jobs(run_dir):
    return [job_id for (_, job_id) in read_journal(run_dir)]


def test_seed_config_runs_200_tasks_and_leaves_no_job(tmp_path, scheduler):
    with parlay.load(seed_config(tmp_path / "runinfo", scheduler)) as dfk:
        results = [f.result(TIMEOUT) for f in [double(i) for i in range(200)]]
        run_dir = dfk.run_dir
    assert [value for value, _ in results] == [2 * i for i in range(200)]
    jobs = journaled_jobs(run_dir)
    assert {job for _, job in results} <= set(jobs), "every task ran inside a job of the run"
    assert_no_job_left(scheduler, jobs)


def network_address():
    """This host's address on its network (not loopback), as compute nodes would reach a login node."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # picks the route's source address; sends nothing
        return probe.getsockname()[0]


def stopped_submitter(tmp_path, scheduler, signum, whole_group=False):
    """Run a submitter whose block is running, stop it (or with `whole_group`, it and its interchange) with
    `signum`; its run directory and job ids. With `whole_group` the managers connect over the network, as
    from compute nodes: managers on the submitting host would see their local connection close and stop."""
    address = network_address() if whole_group else None
    program = tmp_path / "submitter.py"
    program.write_text(
        textwrap.dedent(
            f"""
            import signal, sys, time
            signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whoever started us
            sys.path.insert(0, {os.path.dirname(__file__)!r})
            import parlay
            from test_live_schedulers import seed_config

            @parlay.python_app
            def one():
                return 1

            dfk = parlay.load(seed_config({str(tmp_path / "runinfo")!r}, {scheduler!r}, {address!r}))
            one().result(120)
            print(dfk.run_dir, flush=True)
            time.sleep(600)
            """
        )
    )
    submitter = subprocess.Popen(
        [sys.executable, str(program)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        run_dir = submitter.stdout.readline().strip()
        assert run_dir, "the submitter did not get its first result"
        jobs = journaled_jobs(run_dir)
        assert listed(scheduler, jobs), "the block runs while the submitter is alive"
    finally:
        if whole_group:  # frozen first, so neither can tell the managers anything: as if its host went down
            os.killpg(submitter.pid, signal.SIGSTOP)
            os.killpg(submitter.pid, signum)
        else:
            submitter.send_signal(signum)
        try:
            submitter.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(submitter.pid, signal.SIGKILL)
            raise
    return run_dir, jobs


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stopped_submitter_cancels_its_own_jobs(tmp_path, scheduler, signum):
    _, jobs = stopped_submitter(tmp_path, scheduler, signum)
    assert_no_job_left(scheduler, jobs)


def test_sigkilled_submitter_leaves_no_job(tmp_path, scheduler):
    """The interchange sees its submitter's end of their socket pair close and stops the managers."""
    _, jobs = stopped_submitter(tmp_path, scheduler, signal.SIGKILL)
    wait_for(lambda: not listed(scheduler, jobs), "the blocks to end once their managers stop")


def test_sigkilled_submitter_and_interchange_then_parlay_cleanup_leaves_no_job(tmp_path, scheduler):
    run_dir, jobs = stopped_submitter(tmp_path, scheduler, signal.SIGKILL, whole_group=True)
    assert listed(scheduler, jobs), "with the interchange killed too, nothing stops the blocks: they are orphans"
    cleanup = run_cleanup(run_dir)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert f"job {jobs[0]} (parlay.my_hpc_cluster.block-0): RUNNING, cancelled" in cleanup.stdout
    assert_no_job_left(scheduler, jobs)


def test_worker_init_that_fails_ends_the_tasks_with_its_error(tmp_path, scheduler):
    worker_init = "echo 'module python/3.12: not found' >&2; exit 1"
    config = seed_config(tmp_path / "runinfo", scheduler, worker_init=worker_init)
    started = time.monotonic()
    with parlay.load(config), pytest.raises(BadStateException) as info:
        double(1).result(TIMEOUT)
    took = time.monotonic() - started
    text = str(info.value)
    assert "failed to start" in text
    assert "module python/3.12: not found" in text
    assert re.search(r"parlay\.my_hpc_cluster\.block-\d+\.submit", text)  # the last of the blocks that failed
    assert took < TIMEOUT / 2, f"the failure took {took:.1f} s to surface"


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="needs an MPI library's mpiexec (apt-get install mpich)")
@pytest.mark.usefixtures("live_slurm")
def test_mpi_app_through_mpiexec_launcher_in_a_slurm_job(tmp_path):
    """As with Parsl's MPI apps, the block's manager is started plainly (SimpleLauncher) and the app launches
    its ranks with mpiexec inside the job's allocation; mpiexec nested in an srun step or in another
    mpiexec cannot get resources and hangs."""
    from parlay.launchers import SimpleLauncher

    out = tmp_path / "ranks.out"
    with parlay.load(seed_config(tmp_path / "runinfo", launcher=SimpleLauncher())):
        assert mpi_ranks(stdout=str(out)).result(TIMEOUT) == 0
    assert sorted(out.read_text().split()) == ["rank=0", "rank=1", "size=2", "size=2"]


@python_app
def nap_in_job(seconds):
    import os
    import time

    time.sleep(seconds)
    return os.environ.get("SLURM_JOB_ID")


@pytest.mark.usefixtures("live_slurm")
def test_blocks_drain_before_their_walltime_and_are_replaced(tmp_path):
    """A one-minute block stops taking tasks half-way (at most half its life), finishes them and ends on its
    own before Slurm's limit; a new block takes the rest. No task is lost to the walltime."""
    from parlay.providers import SlurmProvider

    with parlay.load(seed_config(tmp_path / "runinfo", walltime="00:01:00")) as dfk:
        jobs = [f.result(TIMEOUT * 2) for f in [nap_in_job(1) for _ in range(80)]]
        run_dir = dfk.run_dir
    first, *others = dict.fromkeys(jobs)  # in the order the blocks served
    assert others, "the work outlived the first block, so another one took over"
    provider = SlurmProvider()
    [status] = provider.status([first])
    assert status.state.name == "COMPLETED", f"the first block drained and ended on its own: {status}"
    assert set(jobs) <= set(journaled_jobs(run_dir))
