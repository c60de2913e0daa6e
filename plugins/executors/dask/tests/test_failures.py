"""What only a Dask cluster can get wrong: workers that die, resources no worker has, priorities, cancelling
queued tasks, workers that cannot start, options, and leaving no process behind."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import (
    BadStateException,
    ConfigurationError,
    InvalidResourceSpecification,
    SerializationError,
    WorkerLost,
)
from parlay.testing import TIMEOUT, process_alive, processes
from parlay.testing import workflow_apps as apps
from parlay.testing.providers import wait_for
from parlay_executor_dask import DaskExecutor
from parlay_provider_local import LocalProvider


@python_app
def hang_until_killed(pid_file):
    with open(pid_file, "w") as stream:
        stream.write(str(os.getpid()))
    time.sleep(300)


@python_app
def wait_for_file(path, started=None):
    if started:
        open(started, "w").close()
    while not os.path.exists(path):
        time.sleep(0.02)
    return "released"


@python_app
def append(path, text):
    with open(path, "a") as stream:
        stream.write(text)
    return text


@python_app
def echo(value):
    return value


@python_app
def raise_deep():
    def inner():
        raise ValueError("deep inside")

    inner()


def tasks_known(dask_scheduler):
    return len(dask_scheduler.tasks)


def config(tmp_path, executor=None, **options):
    executor = executor or DaskExecutor(n_workers=1)
    return Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), **options)


def started(pid_file):
    return pid_file.exists() and pid_file.read_text()


# --- workers that die ---------------------------------------------------------------------------------


def test_a_worker_killed_during_its_task_fails_it_with_worker_lost(tmp_path):
    pid_file = tmp_path / "worker.pid"
    with parlay.load(config(tmp_path)) as dfk:
        running = hang_until_killed(str(pid_file))
        wait_for(lambda: started(pid_file), "the task to start", interval=0.02)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        with pytest.raises(WorkerLost) as info:
            running.result(TIMEOUT)
        text = str(info.value)
        assert "dask-local" in text, "the worker's name"
        assert os.path.join(dfk.run_dir, "dask", "workers.log") in text, "where its output went"
        assert echo("the nanny started another worker").result(TIMEOUT) == "the nanny started another worker"


def test_with_retries_a_task_whose_worker_died_runs_again(tmp_path):
    with parlay.load(config(tmp_path, retries=1)):
        assert apps.die_first_time(str(tmp_path / "marker")).result(TIMEOUT) == "survived"


def test_local_workers_killed_all_at_once_are_started_again(tmp_path):
    # a task sent before the scheduler sees the connection drop goes to the dead worker: the retry runs it
    with parlay.load(config(tmp_path, retries=1)) as dfk:
        assert echo("before").result(TIMEOUT) == "before"
        workers = dfk.executors["dask"]._workers
        os.killpg(workers.pid, signal.SIGKILL)  # the nanny and its worker, as the OOM killer might
        workers.wait()
        assert echo("after").result(TIMEOUT) == "after"
        assert dfk.executors["dask"]._workers is not workers


def test_local_workers_that_cannot_start_fail_the_tasks_with_their_output(tmp_path):
    executor = DaskExecutor(n_workers=1, worker_extra_args="--no-such-option")
    with parlay.load(config(tmp_path, executor)):
        with pytest.raises(BadStateException) as info:
            echo(1).result(TIMEOUT)
        assert "3 times in a row before any of them connected" in str(info.value)
        assert "no-such-option" in str(info.value), "the tail of the workers' log"
        with pytest.raises(BadStateException):
            echo(2).result(TIMEOUT)


# --- resources and priorities -------------------------------------------------------------------------


def test_resources_the_workers_declare_are_honoured(tmp_path):
    executor = DaskExecutor(n_workers=1, threads_per_worker=2, memory_limit="2GB", worker_resources={"FPGA": 1})
    with parlay.load(config(tmp_path, executor)):
        spec = {"cores": 2, "memory": 2000, "FPGA": 1, "priority": 5}
        assert echo("fits", resource_specification=spec).result(TIMEOUT) == "fits"


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"gpus": 1}, "key 'gpus' asks for Dask resource 'GPU', which no worker declares (they declare: CPU=1)"),
        ({"cores": 2}, "cores=2 asks for 2 of Dask resource 'CPU', but no worker declares more than 1"),
        ({"num_nodes": 2}, "key 'num_nodes': a Dask task runs in one worker process on one node"),
        ({"disk": 10}, "key 'disk': Dask does not track disk space"),
        ({"cores": -1}, "cores=-1: expected a number > 0"),
        ({"priority": "high"}, "priority='high': expected an integer (lower runs first)"),
    ],
)
def test_a_resource_no_worker_can_honour_is_an_error_naming_the_key(tmp_path, spec, message):
    with parlay.load(config(tmp_path)):
        with pytest.raises(InvalidResourceSpecification) as info:
            echo(1, resource_specification=spec).result(TIMEOUT)
        assert message in str(info.value)
        assert info.value.invalid_keys == set(spec)


def test_lower_priority_runs_first(tmp_path):
    gate, order, running = tmp_path / "gate", tmp_path / "order", tmp_path / "running"
    with parlay.load(config(tmp_path)) as dfk:
        blocker = wait_for_file(str(gate), str(running))
        wait_for(running.exists, "the worker's single thread to run the blocker", interval=0.02)
        # Dask sends the first few tasks of a kind straight to the workers; priorities order those it queues
        ahead = [append(str(order), "-") for _ in range(3)]
        priorities = {"a": 3, "b": 1, "c": 4, "d": 2}
        queued = [append(str(order), name, resource_specification={"priority": p}) for name, p in priorities.items()]
        client = dfk.executors["dask"]._client
        wait_for(lambda: client.run_on_scheduler(tasks_known) == 8, "every task to reach the scheduler", interval=0.05)
        gate.touch()
        assert blocker.result(TIMEOUT) == "released"
        for future in [*ahead, *queued]:
            future.result(TIMEOUT)
    assert order.read_text() == "---bdac"


# --- cancelling -----------------------------------------------------------------------------------------


def test_a_queued_task_is_cancelled_and_never_runs_and_a_running_one_is_not(tmp_path):
    gate, marker, running = tmp_path / "gate", tmp_path / "marker", tmp_path / "running"
    with parlay.load(config(tmp_path)):
        blocker = wait_for_file(str(gate), str(running))
        queued = append(str(marker), "ran")
        wait_for(running.exists, "the worker's single thread to run the blocker", interval=0.02)
        assert not blocker.cancel(), "a running task cannot be cancelled"
        assert queued.cancel()
        assert queued.cancelled() and queued.task_status() == "cancelled"
        gate.touch()
        assert blocker.result(TIMEOUT) == "released"
        assert append(str(tmp_path / "after"), "next").result(TIMEOUT) == "next"
    assert not marker.exists(), "the cancelled task ran"


# --- what crosses the process boundary -----------------------------------------------------------------


def test_remote_exception_keeps_type_and_traceback(tmp_path):
    with parlay.load(config(tmp_path)), pytest.raises(ValueError, match="deep inside") as info:
        raise_deep().result(TIMEOUT)
    assert "in inner" in str(info.value.__cause__)


def test_unserializable_argument_is_named(tmp_path):
    with parlay.load(config(tmp_path)):
        future = echo(x for x in "generators cannot travel")
        with pytest.raises(SerializationError, match="positional argument 0 of task function echo"):
            future.result(TIMEOUT)


# --- options and processes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        ({"address": "localhost"}, "DaskExecutor.address='localhost': expected an address such as tcp://host:8786"),
        (
            {"client": "tcp://x:1"},
            "DaskExecutor.client='tcp://x:1': expected a distributed.Client (not an asynchronous one), or None",
        ),
        ({"n_workers": 0}, "DaskExecutor.n_workers=0: expected an integer >= 1, or None"),
        ({"memory_limit": "lots"}, "DaskExecutor.memory_limit='lots': expected bytes, a string such as '4GB'"),
        ({"worker_resources": {"A B": 1}}, "DaskExecutor.worker_resources={'A B': 1}: expected a dict"),
        ({"address": "tcp://h:1", "provider": LocalProvider()}, "give either a provider, or an existing scheduler"),
    ],
)
def test_bad_options_name_the_option(options, message):
    with pytest.raises(ConfigurationError) as info:
        DaskExecutor(**options)
    assert message in str(info.value)


def test_a_script_without_main_guard_runs_once(tmp_path):
    """The local cluster's workers are fresh interpreters: they never run the script's top level again."""
    script = tmp_path / "workflow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import math
            import parlay
            from parlay.executors import DaskExecutor

            OFFSET = 10

            @parlay.python_app
            def shifted_root(x):
                return math.sqrt(x) + OFFSET

            config = parlay.Config(executors=[DaskExecutor(n_workers=2)], run_dir={str(tmp_path / "runinfo")!r})
            with parlay.load(config):
                print([shifted_root(x).result() for x in (1, 4, 9)])
            print("script body ran", flush=True)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[11.0, 12.0, 13.0]", "script body ran"]


def test_cleanup_leaves_no_worker_process(tmp_path):
    pid_file = tmp_path / "worker.pid"
    dfk = parlay.load(config(tmp_path, DaskExecutor(n_workers=2)))
    hang_until_killed(str(pid_file))
    wait_for(lambda: started(pid_file), "the task to start", interval=0.02)
    workers = dfk.executors["dask"]._workers
    dfk.cleanup()
    assert workers.poll() is not None, "the workers' process ended"
    gone = "every process of the workers' session to end"
    wait_for(lambda: not processes.session_members(workers.pid), gone, interval=0.05)
    assert not process_alive(int(pid_file.read_text())), "the worker running a task"
