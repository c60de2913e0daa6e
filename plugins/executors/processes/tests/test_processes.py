"""What only a process pool can get wrong: workers that die, workers that cannot start, what crosses the
process boundary, and leaving no process behind."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import BadStateException, ConfigurationError, SerializationError, WorkerLost
from parlay.testing import TIMEOUT, processes
from parlay.testing import workflow_apps as apps
from parlay_executor_processes import ProcessExecutor


@python_app
def pid():
    return os.getpid()


@python_app
def die(code_or_signal):
    if code_or_signal == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(code_or_signal)


@python_app
def hang_until_killed(pid_file):
    with open(pid_file, "w") as stream:
        stream.write(str(os.getpid()))
    time.sleep(300)


@python_app
def raise_deep():
    def inner():
        raise ValueError("deep inside")

    inner()


@python_app
def echo(value):
    return value


def config(tmp_path, **options):
    return Config(executors=[ProcessExecutor(max_workers=2)], run_dir=str(tmp_path / "runinfo"), **options)


def test_tasks_run_in_other_processes(tmp_path):
    with parlay.load(config(tmp_path)):
        pids = {f.result(TIMEOUT) for f in [pid() for _ in range(20)]}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_killed_worker_fails_its_task_and_is_replaced(tmp_path):
    with parlay.load(config(tmp_path)):
        with pytest.raises(WorkerLost) as info:
            die("kill").result(TIMEOUT)
        assert "killed by SIGKILL" in str(info.value)
        assert "worker_" in str(info.value) and ".log" in str(info.value)
        with pytest.raises(WorkerLost, match="exited with code 3"):
            die(3).result(TIMEOUT)
        assert [echo(i).result(TIMEOUT) for i in range(10)] == list(range(10))


def test_killed_worker_is_retried(tmp_path):
    with parlay.load(config(tmp_path, retries=1)):
        assert apps.die_first_time(str(tmp_path / "marker")).result(TIMEOUT) == "survived"


def test_worker_killed_from_outside(tmp_path):
    pid_file = tmp_path / "worker.pid"
    with parlay.load(config(tmp_path)):
        future = hang_until_killed(str(pid_file))
        deadline = time.monotonic() + TIMEOUT
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        with pytest.raises(WorkerLost):
            future.result(TIMEOUT)
        assert echo("still working").result(TIMEOUT) == "still working"


def test_remote_exception_keeps_type_and_traceback(tmp_path):
    with parlay.load(config(tmp_path)), pytest.raises(ValueError, match="deep inside") as info:
        raise_deep().result(TIMEOUT)
    assert "in inner" in str(info.value.__cause__)
    assert type(info.value.__cause__).__name__ == "RemoteTraceback"


def test_unserializable_argument_is_named(tmp_path):
    with parlay.load(config(tmp_path)):
        future = echo(x for x in "generators cannot travel")
        with pytest.raises(SerializationError, match="positional argument 0 of task function echo"):
            future.result(TIMEOUT)


def test_workers_that_cannot_start(tmp_path, monkeypatch):
    executor = ProcessExecutor(max_workers=1)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"))):
        with pytest.raises(BadStateException, match="died before they were ready"):
            echo(1).result(TIMEOUT)
        with pytest.raises(BadStateException):
            echo(2).result(TIMEOUT)


def test_shutdown_leaves_no_process(tmp_path):
    pid_file = tmp_path / "worker.pid"
    before = set(processes.children(os.getpid()))  # what other tests' session fixtures may have started
    dfk = parlay.load(config(tmp_path))
    hang_until_killed(str(pid_file))
    echo(1).result(TIMEOUT)
    assert len(set(processes.children(os.getpid())) - before) == 2
    dfk.cleanup()
    assert set(processes.children(os.getpid())) - before == set()


def test_max_workers_is_checked():
    with pytest.raises(ConfigurationError, match=r"^ProcessExecutor\.max_workers=0: expected an integer >= 1, or None"):
        ProcessExecutor(max_workers=0)
    assert ProcessExecutor().worker_count == (os.cpu_count() or 1), "one per CPU by default"
    assert ProcessExecutor("mine", 3).worker_count == 3


def test_functions_from_a_script_without_main_guard(tmp_path):
    script = tmp_path / "workflow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import math
            import parlay
            from parlay.executors import ProcessExecutor

            OFFSET = 10

            @parlay.python_app
            def shifted_root(x):
                return math.sqrt(x) + OFFSET

            config = parlay.Config(executors=[ProcessExecutor(max_workers=2)], run_dir={str(tmp_path / "runinfo")!r})
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
    # the workers never re-ran the script: its body printed once
    assert result.stdout.splitlines() == ["[11.0, 12.0, 13.0]", "script body ran"]
