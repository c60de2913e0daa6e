"""Dask workers in blocks that parlay's LocalProvider starts: scaling out with the work and in when idle
(never taking a block whose workers run a task), blocks that die or never start, nothing left after
`cleanup()`, and `parlay cleanup` after the submitter was SIGKILLed."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import BadStateException, WorkerLost
from parlay.providers.base import read_journal
from parlay.testing import TIMEOUT, process_alive, processes
from parlay.testing.providers import run_cleanup, wait_for
from parlay_executor_dask import DaskExecutor
from parlay_provider_local import LocalProvider


@python_app
def block_of(gate=None, started=None):
    """The block whose worker runs this task, once `gate` exists."""
    import os
    import re
    import time

    from distributed import get_worker

    if started:
        open(started, "w").close()
    while gate and not os.path.exists(gate):
        time.sleep(0.02)
    return re.match(r"dask-block-(\d+)-", get_worker().name).group(1)


@python_app
def die():
    os.kill(os.getpid(), signal.SIGKILL)


def config(tmp_path, provider, strategy="htex_auto_scale", **executor_options):
    provider.status_polling_interval = 0.2
    executor = DaskExecutor(provider=provider, n_workers=1, death_timeout=30, **executor_options)
    return Config(
        executors=[executor],
        run_dir=str(tmp_path / "runinfo"),
        strategy=strategy,
        strategy_period=0.2,
        max_idletime=0.5,
    )


def connected_blocks(executor):
    return set(executor._tracker.finished)


def assert_no_job_left(run_dir):
    jobs = [int(job_id) for _, job_id in read_journal(run_dir)]
    assert jobs, "the run journaled its blocks"
    wait_for(
        lambda: not any(process_alive(job) or processes.session_members(job) for job in jobs),
        "the blocks' jobs and every process they started to end",
        interval=0.05,
    )


def test_workers_come_up_in_blocks_scale_out_with_work_and_idle_blocks_scale_in(tmp_path):
    gate = tmp_path / "gate"
    provider = LocalProvider(init_blocks=1, min_blocks=0, max_blocks=2)
    with parlay.load(config(tmp_path, provider)) as dfk:
        executor = dfk.executors["dask"]
        futures = [block_of(str(gate)) for _ in range(300)]
        wait_for(
            lambda: connected_blocks(executor) == {"0", "1"}, "a second block for the waiting tasks", interval=0.05
        )
        gate.touch()
        blocks = [future.result(TIMEOUT) for future in futures]
        assert set(blocks) == {"0", "1"}, "both blocks ran tasks"
        wait_for(lambda: executor.blocks == {}, "the idle blocks to be scaled in", interval=0.05)
        assert executor.tasks_run_by("0") + executor.tasks_run_by("1") == 300
        assert block_of().result(TIMEOUT) == "2", "a new block starts when work comes back"
        run_dir = dfk.run_dir
    assert_no_job_left(run_dir)


def test_scaling_in_never_takes_a_block_whose_worker_runs_a_task(tmp_path):
    gate, started = tmp_path / "gate", tmp_path / "started"
    provider = LocalProvider(init_blocks=2, min_blocks=0, max_blocks=2)
    with parlay.load(config(tmp_path, provider)) as dfk:
        executor = dfk.executors["dask"]
        running = block_of(str(gate), str(started))
        wait_for(started.exists, "the task to start", interval=0.05)
        wait_for(lambda: len(executor.blocks) == 1, "the idle block to be scaled in", interval=0.05)
        gate.touch()
        assert running.result(TIMEOUT) in executor.blocks, "the block that ran the task is the one kept"


def test_a_block_whose_worker_dies_fails_its_task_with_worker_lost_naming_the_block(tmp_path):
    provider = LocalProvider(init_blocks=1, max_blocks=1)
    with parlay.load(config(tmp_path, provider)):
        with pytest.raises(WorkerLost) as info:
            die().result(TIMEOUT)
        assert "dask-block-0" in str(info.value)
        assert "it ran in block 0, whose output is in" in str(info.value)
        assert "parlay.dask.block-0.stderr" in str(info.value)
        assert block_of().result(TIMEOUT) == "0", "its nanny started another worker"


def test_blocks_that_cannot_start_fail_the_tasks_with_their_output(tmp_path):
    provider = LocalProvider(worker_init="echo 'module python/9.9 not found' >&2; exit 1")
    with parlay.load(config(tmp_path, provider, strategy="simple")), pytest.raises(BadStateException) as info:
        block_of().result(TIMEOUT)
    text = str(info.value)
    assert "3 block(s) in a row failed to start" in text
    assert "module python/9.9 not found" in text


def test_parlay_cleanup_cancels_the_blocks_of_a_sigkilled_submitter(tmp_path):
    program = tmp_path / "submitter.py"
    program.write_text(
        textwrap.dedent(
            f"""
            import time
            import parlay
            from parlay_executor_dask import DaskExecutor
            from parlay_provider_local import LocalProvider

            @parlay.python_app
            def one():
                return 1

            provider = LocalProvider(init_blocks=1, max_blocks=1)
            executor = DaskExecutor(provider=provider, n_workers=1, death_timeout=300)
            dfk = parlay.load(parlay.Config(executors=[executor], run_dir={str(tmp_path / "runinfo")!r}))
            one().result(120)
            print(dfk.run_dir, flush=True)
            time.sleep(600)
            """
        )
    )
    submitter = subprocess.Popen([sys.executable, str(program)], stdout=subprocess.PIPE, text=True)
    try:
        run_dir = submitter.stdout.readline().strip()
    finally:
        submitter.kill()
        submitter.wait(TIMEOUT)
        submitter.stdout.close()
    assert run_dir, "the submitter did not get its first result"
    [(_, job)] = read_journal(run_dir)
    assert process_alive(int(job)), "the block outlives its submitter"
    cleanup = run_cleanup(run_dir)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert f"job {job} (parlay.dask.block-0): RUNNING, cancelled" in cleanup.stdout
    assert_no_job_left(run_dir)
