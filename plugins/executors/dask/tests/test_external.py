"""A scheduler parlay did not start (the `external_scheduler` fixture: real `dask scheduler` and `dask worker`
processes): a client passed in stays open, resources are checked against what its workers declare, a worker
killed during a task ends it with `WorkerLost`, and a scheduler that goes away fails the tasks it held."""

import os
import signal
import time

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import ExecutorError, InvalidResourceSpecification, WorkerLost
from parlay.testing import TIMEOUT
from parlay.testing.providers import wait_for
from parlay_executor_dask import DaskExecutor


@python_app
def echo(value):
    return value


@python_app
def hang_until_killed(pid_file):
    with open(pid_file, "w") as stream:
        stream.write(str(os.getpid()))
    time.sleep(300)


def config(tmp_path, executor):
    return Config(executors=[executor], run_dir=str(tmp_path / "runinfo"))


def test_a_client_passed_in_stays_open_after_the_run(tmp_path, external_scheduler):
    from distributed import Client

    with Client(external_scheduler, set_as_default=False) as client:
        with parlay.load(config(tmp_path, DaskExecutor(client=client))) as dfk:
            assert echo("through the client").result(TIMEOUT) == "through the client"
            assert dfk.executors["dask"].scheduler_address == external_scheduler
        assert client.submit(len, "still open").result(TIMEOUT) == 10


def test_resources_are_checked_against_what_the_workers_declare(tmp_path, external_scheduler):
    with parlay.load(config(tmp_path, DaskExecutor(address=external_scheduler))):
        with pytest.raises(InvalidResourceSpecification) as info:
            echo(1, resource_specification={"gpus": 1}).result(TIMEOUT)
        assert "Dask resource 'GPU', which no worker declares (they declare: none)" in str(info.value)
        assert echo(2, resource_specification={"priority": 1}).result(TIMEOUT) == 2


def test_a_worker_killed_during_its_task_fails_it_with_worker_lost(tmp_path, external_scheduler):
    pid_file = tmp_path / "worker.pid"
    with parlay.load(config(tmp_path, DaskExecutor(address=external_scheduler))):
        running = hang_until_killed(str(pid_file))
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), "the task to start", interval=0.02)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        with pytest.raises(WorkerLost, match="external-"):
            running.result(TIMEOUT)
        assert echo("the others still work").result(TIMEOUT) == "the others still work"


def test_a_lost_scheduler_fails_the_tasks_it_held_at_once(tmp_path, start_dask_cluster):
    pid_file = tmp_path / "worker.pid"
    with (
        start_dask_cluster(tmp_path, 1) as (address, scheduler),
        parlay.load(config(tmp_path, DaskExecutor(address=address))),
    ):
        running = hang_until_killed(str(pid_file))
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), "the task to start", interval=0.02)
        os.killpg(scheduler.pid, signal.SIGKILL)
        with pytest.raises(ExecutorError, match="scheduler-connection-lost"):
            running.result(TIMEOUT)
