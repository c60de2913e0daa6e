"""Stopping a run: SIGTERM, Ctrl-C, an exception in the script and plain interpreter exit all clean up
promptly, and leave no command of the run behind."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from parlay.testing.executors import process_alive

SCRIPT = """
import os, sys, time
import parlay
from parlay import bash_app, python_app

@bash_app
def hold(pid_file):
    return f"sleep 300 & echo $! > {{pid_file}}; wait"

@python_app
def nap():
    time.sleep(300)

parlay.load(parlay.Config(run_dir={run_dir!r}))
hold({pid_file!r})
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
    assert "finished; tasks by final state" in log


def test_sigterm(tmp_path):
    proc, pid = start(tmp_path, "nap().result()")
    proc.send_signal(signal.SIGTERM)
    finish(proc)
    assert proc.returncode == 128 + signal.SIGTERM
    assert_gone(pid)
    assert_cleaned_up(tmp_path)


def test_ctrl_c(tmp_path):
    proc, pid = start(tmp_path, "nap().result()")
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc)
    assert "KeyboardInterrupt" in err
    assert proc.returncode != 0
    assert_gone(pid)
    assert_cleaned_up(tmp_path)


def test_exception_in_script(tmp_path):
    proc, pid = start(tmp_path, "nap()\nraise RuntimeError('script bug')")
    _, err = finish(proc)
    assert "RuntimeError: script bug" in err
    assert proc.returncode == 1
    assert_gone(pid)
    assert_cleaned_up(tmp_path)


def test_interpreter_exit_without_cleanup(tmp_path):
    proc, pid = start(tmp_path, "nap()")
    finish(proc)
    assert proc.returncode == 0
    assert_gone(pid)
    assert_cleaned_up(tmp_path)
