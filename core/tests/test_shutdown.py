"""Stopping a run: SIGTERM, Ctrl-C, an exception in the script and plain interpreter exit all clean up
promptly, say so in one line, and leave no command of the run behind; the tasks they stop count as cancelled,
and a start that fails stops what it had started. (`tests/test_interrupts.py` drills every phase with htex.)"""

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import TaskCancelled
from parlay.executors.threads import ThreadPoolExecutor
from parlay.plugins import hookimpl
from parlay.testing import TIMEOUT
from parlay.testing.executors import process_alive

SCRIPT = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whoever started the tests
import parlay
from parlay import bash_app, python_app

@bash_app
def hold(pid_file):
    return f"sleep 300 & echo $! > {{pid_file}}; wait"

@python_app
def nap():
    print("napping", flush=True)
    time.sleep(300)

PID_FILE = {pid_file!r}
parlay.load(parlay.Config(run_dir={run_dir!r}))
hold(PID_FILE)
# the shell creates the file before it writes the pid: wait for the whole line
while not (os.path.exists({pid_file!r}) and open({pid_file!r}).read().endswith("\\n")):
    time.sleep(0.01)
print("ready", flush=True)
{ending}
"""


def start(tmp_path, ending):
    pid_file = str(tmp_path / "pid")
    script = SCRIPT.format(run_dir=str(tmp_path / "runinfo"), pid_file=pid_file, ending=textwrap.dedent(ending))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc, int(open(pid_file).read())


def napping(proc):
    """Wait until the script's `nap` task runs."""
    assert proc.stdout.readline().strip() == "napping", proc.stderr.read()


def finish(proc, timeout=60):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not stop: it hung")
    return out, err


def assert_gone(pid):
    deadline = time.monotonic() + 30
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(pid), "a command of the run was left running"


def assert_cleaned_up(tmp_path):
    log = (tmp_path / "runinfo" / "000" / "parlay.log").read_text()
    assert "cleaning up run" in log
    assert "finished; tasks by final state: {'cancelled': 2}" in log


def said(err, how):
    """parlay's one line on stderr: the run stopped `how`, its two unfinished tasks cancelled."""
    assert re.search(rf"^parlay: run \S+/runinfo/000 stopped {how}; 2 unfinished tasks cancelled$", err, re.M), err


def test_sigterm(tmp_path):
    proc, pid = start(tmp_path, "nap().result()")
    napping(proc)
    proc.send_signal(signal.SIGTERM)
    _, err = finish(proc)
    assert proc.returncode == 128 + signal.SIGTERM
    said(err, "by SIGTERM")
    assert_gone(pid)
    assert_cleaned_up(tmp_path)


def test_ctrl_c(tmp_path):
    proc, pid = start(tmp_path, "nap().result()")
    napping(proc)
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc)
    assert "KeyboardInterrupt" in err
    assert proc.returncode == -signal.SIGINT  # killed by SIGINT, as Python ends on Ctrl-C: a shell shows 130
    said(err, "at exit")
    assert_gone(pid)
    assert_cleaned_up(tmp_path)


def test_ctrl_c_in_a_with_block(tmp_path):
    proc, pid = start(tmp_path, "with parlay.dfk():\n    nap().result()")
    napping(proc)
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc)
    assert proc.returncode == -signal.SIGINT
    said(err, "by Ctrl-C")
    assert_gone(pid)
    assert_cleaned_up(tmp_path)


def test_exception_in_script(tmp_path):
    proc, pid = start(tmp_path, "nap()\nraise RuntimeError('script bug')")
    _, err = finish(proc)
    assert "RuntimeError: script bug" in err
    assert proc.returncode == 1
    said(err, "at exit")
    assert_gone(pid)
    assert_cleaned_up(tmp_path)


def test_interpreter_exit_without_cleanup(tmp_path):
    proc, pid = start(tmp_path, "nap()")
    _, err = finish(proc)
    assert proc.returncode == 0
    said(err, "at exit")
    assert_gone(pid)
    assert_cleaned_up(tmp_path)


def test_a_finished_run_says_nothing(tmp_path):
    proc, _ = start(tmp_path, "os.kill(int(open(PID_FILE).read()), 9)\nparlay.wait_for_current_tasks()")
    _, err = finish(proc)
    assert proc.returncode == 0 and "parlay:" not in err, err


# --- in this process ------------------------------------------------------------------------------------


class Counts:
    """Keeps the task counts the run reports when it finishes."""

    def __init__(self):
        self.task_counts = None

    @hookimpl
    def parlay_workflow_finished(self, dfk, run_id, run_dir, task_counts):
        self.task_counts = task_counts


@python_app
def wait_on(event):
    return event.wait(TIMEOUT)


@python_app
def echo(value):
    return value


def test_tasks_stopped_by_cleanup_count_as_cancelled(run_dir):
    counts = Counts()
    dfk = parlay.load(Config(run_dir=run_dir, plugins=[counts]))
    gate = threading.Event()
    running = wait_on(gate)  # on a thread of the pool, until the gate opens
    waiting = echo(running)  # waits for a task that is stopped: stopped too, not failed for its dependency
    assert echo(1).result(TIMEOUT) == 1
    dfk.cleanup()
    gate.set()
    for future in (running, waiting):
        with pytest.raises(TaskCancelled, match="cleaned up"):
            future.result(TIMEOUT)
        assert future.task_status() == "cancelled"
    assert counts.task_counts == {"exec_done": 1, "cancelled": 2}


class BrokenExecutor(ThreadPoolExecutor):
    """Starts its threads, then fails."""

    stopped = False

    def _start(self):
        super()._start()
        raise RuntimeError("no such cluster")

    def _shutdown(self):
        self.stopped = True
        super()._shutdown()


def test_a_start_that_fails_stops_what_started_and_logs_why(run_dir):
    first, broken = ThreadPoolExecutor(label="first"), BrokenExecutor(label="broken")
    with pytest.raises(RuntimeError, match="no such cluster"):
        parlay.load(Config(run_dir=run_dir, executors=[first, broken]))
    assert not first.running and broken.stopped
    assert not any(thread.is_alive() for thread in first._threads + broken._threads)
    log = open(os.path.join(run_dir, "000", "parlay.log")).read()
    assert "could not start (RuntimeError: no such cluster); stopping what had started" in log
    assert "Traceback" in log
    assert not [h for h in logging.getLogger("parlay").handlers if getattr(h, "baseFilename", "").startswith(run_dir)]
    parlay.load(Config(run_dir=run_dir)).cleanup()  # nothing of it is current
