"""Elasticity with real blocks (LocalProvider process groups): scaling out with the work, back in when
idle, replacing a block that died, and failing loudly when blocks cannot start."""

import glob
import os
import signal
import time

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import BadStateException, ManagerLost
from parlay.providers.base import JobState
from parlay.testing import TIMEOUT
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_local import LocalProvider


@python_app
def block_of():
    time.sleep(0.5)
    return os.environ["PARLAY_WORKER_BLOCK_ID"]


@python_app
def nap(seconds):
    time.sleep(seconds)
    return seconds


def config(tmp_path, provider, strategy="simple", **executor_options):
    provider.status_polling_interval = 0.2
    executor = HighThroughputExecutor(
        provider=provider, max_workers_per_node=1, heartbeat_period=0.5, heartbeat_threshold=3, **executor_options
    )
    return Config(
        executors=[executor],
        run_dir=str(tmp_path / "runinfo"),
        strategy=strategy,
        strategy_period=0.2,
        max_idletime=0.5,
    )


def wait_until(predicate, what):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_scales_out_with_work_and_in_when_idle(tmp_path):
    provider = LocalProvider(init_blocks=0, min_blocks=0, max_blocks=2)
    with parlay.load(config(tmp_path, provider)) as dfk:
        executor = dfk.executors["htex"]
        assert executor.blocks == {}
        blocks = {f.result(TIMEOUT) for f in [block_of() for _ in range(8)]}
        assert blocks == {"0", "1"}, "both blocks took work"
        wait_until(lambda: executor.blocks == {}, "idle blocks to be scaled in")
        assert block_of().result(TIMEOUT) == "2", "a new block starts when work comes back"


def test_blocks_that_cannot_start_fail_the_tasks_with_their_output(tmp_path):
    provider = LocalProvider(worker_init="echo 'module python/9.9 not found' >&2; exit 1")
    with parlay.load(config(tmp_path, provider)), pytest.raises(BadStateException) as info:
        nap(0).result(TIMEOUT)
    text = str(info.value)
    assert "3 block(s) in a row failed to start" in text and "block 2, never started" in text
    assert "module python/9.9 not found" in text
    assert "parlay.htex.block-2.submit" in text


def test_block_that_dies_fails_its_tasks_and_is_replaced(tmp_path):
    provider = LocalProvider(init_blocks=1, max_blocks=1)
    with parlay.load(config(tmp_path, provider)) as dfk:
        executor = dfk.executors["htex"]
        assert block_of().result(TIMEOUT) == "0"
        running = nap(60)
        wait_until(lambda: executor.command("managers")[0]["tasks"] == 1, "the task to reach the manager")
        [manager] = executor.command("managers")
        os.kill(manager["pid"], signal.SIGKILL)
        with pytest.raises(ManagerLost, match="block 0"):
            running.result(TIMEOUT)
        assert block_of().result(TIMEOUT) == "1", "the strategy started a replacement block"


def test_strategy_none_keeps_init_blocks(tmp_path):
    provider = LocalProvider(init_blocks=1, max_blocks=3)
    with parlay.load(config(tmp_path, provider, strategy="none")) as dfk:
        assert {f.result(TIMEOUT) for f in [block_of() for _ in range(4)]} == {"0"}
        assert list(dfk.executors["htex"].blocks) == ["0"]


def test_block_drains_before_its_walltime_and_is_replaced(tmp_path):
    """A block whose deadline (PARLAY_BLOCK_DEADLINE, as cluster providers export it) is 16 s away stops
    taking tasks half-way, finishes those it holds, and ends; a new block takes the rest. No task is lost."""
    provider = LocalProvider(
        init_blocks=1, max_blocks=1, worker_init="export PARLAY_BLOCK_DEADLINE=$(( $(date +%s) + 16 ))"
    )
    with parlay.load(config(tmp_path, provider)) as dfk:
        executor = dfk.executors["htex"]
        assert block_of().result(TIMEOUT) == "0"
        first_job = executor.blocks["0"]
        blocks = [f.result(TIMEOUT) for f in [block_of() for _ in range(30)]]
        assert blocks[0] == "0" and blocks[-1] != "0", "the first block drained and a new one took over"
        [status] = provider.status([first_job])
        assert status.state is JobState.COMPLETED, "the drained block ended on its own, not killed"
    [log] = glob.glob(str(tmp_path / "runinfo" / "**" / "block-0" / "*" / "manager.log"), recursive=True)
    with open(log) as stream:
        assert "the block's walltime ends in" in stream.read()
