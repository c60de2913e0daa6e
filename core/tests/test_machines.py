"""`LocalMachine`, the instance that cloud stand-ins boot: its script runs as a local process group in a folder
of its own, with power commands that only mark it powered off."""

import os
import signal
import sys

import pytest

from parlay.testing import processes
from parlay.testing.machines import LocalMachine
from parlay.testing.providers import wait_for


@pytest.fixture
def machines():
    """Makes machines, and halts every one after the test."""
    made = []

    def make(*args, **kwargs):
        made.append(LocalMachine(*args, **kwargs))
        return made[-1]

    yield make
    for machine in made:
        machine.halt()


def test_the_script_runs_in_its_folder_with_a_clean_environment(machines, tmp_path):
    script = 'echo "hello from $HOME"; echo "$LANG $TMPDIR"; sleep 300\n'
    machine = machines(tmp_path / "vm", script, environment={"TMPDIR": "/elsewhere"})
    assert not machine.alive and machine.console_text() == "", "nothing runs before the boot"
    machine.boot()
    wait_for(lambda: "/elsewhere" in machine.console_text(), "the script's output", interval=0.05)
    assert machine.console_text() == f"hello from {tmp_path / 'vm'}\nC.UTF-8 /elsewhere\n"
    assert machine.alive and not machine.script_ended and not machine.powered_off
    machine.halt()
    assert not machine.alive and machine.script_ended


def test_shutdown_only_marks_the_machine_powered_off(machines, tmp_path):
    script = "command -v shutdown; command -v python3; shutdown -h now; echo still here\n"
    machine = machines(tmp_path / "vm", script, console_name="serial-port-1")
    machine.boot()
    wait_for(lambda: machine.script_ended, "the script to end", interval=0.05)
    assert machine.powered_off
    shutdown, python, after = machine.console_text().splitlines()
    assert shutdown == str(tmp_path / "vm" / "bin" / "shutdown"), "the machine's own, not this host's"
    assert python == os.path.join(os.path.dirname(sys.executable), "python3")
    assert after == "still here"
    assert (tmp_path / "vm" / "serial-port-1").read_text() == machine.console_text()


def test_halt_kills_what_the_script_left_in_the_background(machines, tmp_path):
    machine = machines(tmp_path / "vm", b"#!/bin/sh\nsleep 300 &\necho $!\n", interpreter=None)
    machine.boot()
    wait_for(lambda: machine.script_ended and machine.console_text(), "the script to end", interval=0.05)
    child = int(machine.console_text())
    assert processes.alive(child) and machine.alive, "the group lives on in the background child"
    machine.halt()
    assert not machine.alive
    wait_for(lambda: not processes.alive(child), "the background child to die", timeout=5, interval=0.05)


def test_a_signal_reaches_the_whole_group(machines, tmp_path):
    script = "trap 'echo terminated; exit 0' TERM\nsleep 300 & echo $!\nwait\n"
    machine = machines(tmp_path / "vm", script)
    machine.boot()
    child = int(wait_for(lambda: machine.console_text().strip(), "the child's pid", interval=0.05))
    machine.signal(signal.SIGTERM)
    wait_for(lambda: machine.script_ended and not processes.alive(child), "the group to end", interval=0.05)
    assert machine.console_text().endswith("terminated\n")
