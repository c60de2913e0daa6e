"""Blocks that die or never start, with real processes: a manager SIGKILLed mid-run (as the OOM killer or a
node failure would) loses no task when retries allow and is replaced; a block whose workers never register
fails the waiting tasks after `block_error_threshold` blocks, quoting its stderr; a job submission the
scheduler refuses (the fake Slurm's sbatch) backs off and then fails the waiting tasks with its message."""

import itertools
import os
import signal
import time

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import BadStateException, ManagerLost, ScalingWarning
from parlay.testing import TIMEOUT
from parlay.testing.fake_scheduler import fake_scheduler
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_local import LocalProvider

TASKS = 3000


@python_app
def double(x):
    import os
    import time

    time.sleep(0.003)
    return 2 * x, os.environ["PARLAY_WORKER_BLOCK_ID"]


def htex(provider, **options):
    return HighThroughputExecutor(
        provider=provider, max_workers_per_node=2, heartbeat_period=0.5, heartbeat_threshold=2, **options
    )


def wait_until(predicate, what):
    deadline = time.monotonic() + TIMEOUT
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def busy_manager(executor, spared):
    """A registered manager of a block not in `spared` that has finished 100 tasks already."""
    found = [m for m in executor.command("managers") if m["block_id"] not in spared and m["done"] >= 100]
    return found[0] if found else None


def kill_managers(executor, kills):
    """SIGKILL the manager of each block in turn, once it has run tasks; the blocks killed."""
    killed = []
    for _ in range(kills):
        manager = wait_until(lambda: busy_manager(executor, killed), "a manager that runs tasks")
        os.kill(manager["pid"], signal.SIGKILL)
        killed.append(manager["block_id"])
    return killed


@pytest.mark.parametrize("kills", [1, 2])
def test_managers_killed_mid_run_lose_no_task_with_retries(tmp_path, kills):
    # the default periods (5 s): each manager dies before a status poll could have listed it, as users saw
    provider = LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1)
    config = Config(executors=[htex(provider)], run_dir=str(tmp_path / "runinfo"), retries=20)
    with parlay.load(config) as dfk:
        executor = dfk.executors["htex"]
        futures = [double(i) for i in range(TASKS)]
        killed = kill_managers(executor, kills)
        results = [future.result(TIMEOUT) for future in futures]
        assert not executor.failed_to_start
    assert [value for value, _ in results] == [2 * i for i in range(TASKS)]
    assert killed == [str(k) for k in range(kills)]
    assert {block for _, block in results} - set(killed), "a replacement block ran the rest"


def test_without_retries_only_the_lost_managers_tasks_fail(tmp_path):
    provider = LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1)
    config = Config(executors=[htex(provider)], run_dir=str(tmp_path / "runinfo"))
    with parlay.load(config) as dfk:
        executor = dfk.executors["htex"]
        futures = [double(i) for i in range(TASKS)]
        manager = wait_until(lambda: busy_manager(executor, ()), "tasks to run")
        os.kill(manager["pid"], signal.SIGKILL)
        outcomes = [future.exception(TIMEOUT) or future.result() for future in futures]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert lost, "the killed manager held tasks"
    assert all(isinstance(e, ManagerLost) for e in lost), {type(e).__name__ for e in lost}
    text = str(lost[0])
    assert manager["hostname"] in text and "block 0" in text and manager["log"] in text
    assert "after running" in text
    done = [(i, o) for i, o in enumerate(outcomes) if not isinstance(o, BaseException)]
    assert all(value == 2 * i for i, (value, _) in done)
    assert {block for _, (_, block) in done} >= {"0", "1"}, "the replacement block ran the tasks still queued"


def test_workers_that_never_register_fail_the_tasks_after_the_threshold(tmp_path):
    provider = LocalProvider(init_blocks=1, max_blocks=1, worker_init="echo 'python3: command not found' >&2; exit 1")
    provider.status_polling_interval = 0.2
    executor = htex(provider, block_error_threshold=2)
    config = Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=0.2)
    with parlay.load(config), pytest.raises(BadStateException) as info:
        double(1).result(TIMEOUT)
    text = str(info.value)
    assert "2 block(s) in a row failed to start and none is left (block_error_threshold=2)" in text
    assert "block 1, never started: its job ended FAILED: job script exited with code 1" in text
    assert "parlay.htex.block-1.submit" in text
    assert "its stderr ends with:\npython3: command not found" in text
    assert "died" not in text


def test_a_block_that_ran_tasks_is_told_apart_from_blocks_that_never_started(tmp_path):
    """Block 0 runs tasks and is killed; its replacements cannot start (the node lost its software)."""
    marker = tmp_path / "broken"
    provider = LocalProvider(
        init_blocks=1, max_blocks=1, worker_init=f"[ -e {marker} ] && echo 'no such module' >&2 && exit 1"
    )
    provider.status_polling_interval = 0.2
    executor = htex(provider, block_error_threshold=2)
    with parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=0.2)):
        futures = [double(i) for i in range(TASKS)]
        manager = wait_until(lambda: busy_manager(executor, ()), "tasks to run")
        marker.touch()
        os.kill(manager["pid"], signal.SIGKILL)
        with pytest.raises(BadStateException) as info:
            futures[-1].result(TIMEOUT)
        finished = sum(f.exception(TIMEOUT) is None for f in futures)
    text = str(info.value)
    assert "2 block(s) in a row failed to start" in text and "no such module" in text
    ran = int(text.split("before them, block 0 died after running ")[1].split()[0])
    assert ran >= finished >= 100
    assert "its job ended FAILED: job script exited with code 137" in text


# --- a scheduler that refuses the job ------------------------------------------------------------------

REFUSAL = "error: Batch job submission failed: Invalid account or account/partition combination specified"


@pytest.fixture
def slurm(tmp_path, monkeypatch):
    """The fake Slurm, refusing every sbatch; `slurm.calls()` are the times sbatch was run."""
    fake = pytest.importorskip("parlay_provider_slurm.fake")
    with fake_scheduler(tmp_path / "slurm", fake.FakeSlurm, monkeypatch) as scheduler:
        scheduler.fail("sbatch", REFUSAL)
        counting, log = tmp_path / "counting", tmp_path / "sbatch.calls"
        counting.mkdir()
        (counting / "sbatch").write_text(f'#!/bin/sh\ndate +%s.%N >> {log}\nexec {scheduler.bin}/sbatch "$@"\n')
        (counting / "sbatch").chmod(0o755)
        monkeypatch.setenv("PATH", f"{counting}{os.pathsep}{os.environ['PATH']}")
        scheduler.calls = lambda: [float(t) for t in log.read_text().split()] if log.exists() else []
        yield scheduler


def slurm_config(tmp_path, init_blocks, **executor_options):
    from parlay_provider_slurm import SlurmProvider

    provider = SlurmProvider(account="physics", init_blocks=init_blocks, max_blocks=1, status_polling_interval=0.2)
    executor = htex(provider, **executor_options)
    return Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=0.2)


@pytest.mark.parametrize("init_blocks", [0, 1])
def test_refused_sbatch_fails_the_waiting_task_with_its_message(tmp_path, slurm, init_blocks):
    started = time.monotonic()
    with pytest.warns(ScalingWarning) as warned, parlay.load(slurm_config(tmp_path, init_blocks)) as dfk:
        with pytest.raises(BadStateException) as info:
            double(1).result(TIMEOUT)
        took = time.monotonic() - started
        with open(os.path.join(dfk.run_dir, "parlay.log")) as stream:
            log = stream.read()
    text = str(info.value)
    assert "3 block(s) in a row failed to start" in text and "its submission was refused" in text
    assert "sbatch --parsable" in text and "parlay.htex.block-2.submit" in text and REFUSAL in text
    assert took < TIMEOUT / 2, f"the refusal took {took:.1f} s to fail the task"
    calls = slurm.calls()
    assert len(calls) == 3
    assert calls[2] - calls[1] >= 0.9 * 0.4, "the third submission waited two periods"
    [warning] = [w for w in warned if w.category is ScalingWarning]
    assert REFUSAL in str(warning.message)
    assert log.rindex("Traceback") < log.index("2 refusals in a row"), "the traceback is logged once"


def test_refused_sbatch_is_retried_less_and_less_often(tmp_path, slurm):
    with pytest.warns(ScalingWarning), parlay.load(slurm_config(tmp_path, 0, block_error_handler=False)):
        waiting = double(1)
        time.sleep(6)  # 30 strategy periods
        calls = slurm.calls()
        assert not waiting.done()
    assert 3 <= len(calls) <= 7, f"sbatch ran {len(calls)} times in 30 periods"
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert all(gap >= 0.9 * 0.2 * 2**i for i, gap in enumerate(gaps)), f"no back-off: {gaps}"
