"""Ctrl-C, SIGTERM and an exception at every phase of a run, as a user meets them.

Each drill runs a real script in a subprocess: htex with its interchange and blocks of real managers and
workers (started by LocalProvider, or by SlurmProvider through the fake Slurm), a bash app running a long
command on htex and another on a thread pool. The signal comes when the script prints that it reached the
phase: SIGINT to the script's process group, as a terminal's Ctrl-C; SIGTERM to the script alone, as `kill`.
Then the script must end promptly with the conventional exit status, say on stderr what happened in one
line, and leave no process of the run behind: every process the script started carries a marker in its
environment, which /proc shows even after the process is orphaned.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import parlay
from parlay import Config
from parlay.executors.threads import ThreadPoolExecutor
from parlay.providers.base import read_journal
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_local import LocalProvider
from parlay_provider_slurm.fake import FakeSlurm

#: Limits that only catch hangs.
PHASE_TIMEOUT = 90
EXIT_TIMEOUT = 60
ORPHAN_TIMEOUT = 30

SCRIPT = r"""
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whoever started the tests
import parlay
from parlay import Config, bash_app, python_app
from parlay.executors.threads import ThreadPoolExecutor
from parlay.launchers import SingleNodeLauncher
from parlay.plugins import hookimpl
from parlay_executor_htex import HighThroughputExecutor

PHASE, PROVIDER, RUN_DIR = sys.argv[1:]
GO = os.path.join(RUN_DIR, "go")


def mark(text):
    print(text, flush=True)


class Pause:
    # holds the run at phases too quick to interrupt otherwise, until the test says go (or signals)
    blocks = 0

    @hookimpl
    def parlay_provider_job_preamble(self, provider, job_name):
        Pause.blocks += 1
        if PHASE == "load" and Pause.blocks == 2:  # the first block is submitted already
            mark("loading")
            time.sleep(300)

    @hookimpl
    def parlay_executor_stopped(self, executor):
        if PHASE in ("cleanup", "exit") and executor.label == "threads":  # before htex stops
            mark("cleaning up")
            while not os.path.exists(GO):
                time.sleep(0.01)


def wait_for_pid(path):
    while not (os.path.exists(path) and open(path).read().endswith("\n")):  # the whole line
        time.sleep(0.01)


@bash_app(executors=["threads"])
def hold_here(pid_file):
    return f"sleep 300 & echo $! > {pid_file}; wait"


@bash_app(executors=["htex"])
def hold_there(pid_file):
    return f"sleep 300 & echo $! > {pid_file}; wait"


@python_app(executors=["htex"])
def nap(seconds):
    time.sleep(seconds)


if PROVIDER == "local":
    from parlay_provider_local import LocalProvider

    provider = LocalProvider(init_blocks=2, max_blocks=2)
else:
    from parlay_provider_slurm import SlurmProvider

    provider = SlurmProvider(init_blocks=2, max_blocks=2, exclusive=False, launcher=SingleNodeLauncher())
htex = HighThroughputExecutor(
    label="htex", provider=provider, address="127.0.0.1", max_workers_per_node=1, heartbeat_period=1,
    heartbeat_threshold=5,
)
config = Config(executors=[ThreadPoolExecutor(label="threads"), htex], run_dir=RUN_DIR, strategy="none",
                plugins=[Pause()])
dfk = parlay.load(config)
hold_here(os.path.join(RUN_DIR, "here.pid"))
hold_there(os.path.join(RUN_DIR, "there.pid"))
wait_for_pid(os.path.join(RUN_DIR, "here.pid"))
wait_for_pid(os.path.join(RUN_DIR, "there.pid"))
if PHASE == "submit":
    mark("submitting")
    while True:
        nap(0)
elif PHASE in ("wait", "exit"):
    naps = [nap(300), nap(300)]
    mark("waiting")
    for future in naps:
        future.result()
elif PHASE == "error":
    nap(300)
    raise RuntimeError("a bug in the script")
elif PHASE == "cleanup":
    dfk.cleanup()
"""


class Run:
    """The script in a subprocess of its own session, its output in files, its processes marked."""

    def __init__(self, tmp_path: Path, phase: str, provider: str, env: dict[str, str] | None = None):
        self.tmp = tmp_path
        self.run_dir = tmp_path / "runinfo"
        self.marker = uuid.uuid4().hex
        (tmp_path / "script.py").write_text(SCRIPT)
        self.out, self.err = tmp_path / "stdout", tmp_path / "stderr"
        environment = {**os.environ, **(env or {}), "PARLAY_DRILL": self.marker, "TMPDIR": str(tmp_path)}
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(tmp_path / "script.py"), phase, provider, str(self.run_dir)],
                stdout=out,
                stderr=err,
                env=environment,
                start_new_session=True,
            )

    def wait_for(self, text: str, stream: str = "stdout") -> None:
        path = self.out if stream == "stdout" else self.err
        deadline = time.monotonic() + PHASE_TIMEOUT
        while text not in path.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the script never printed {text!r} on {stream}:\n{self.output()}")
            time.sleep(0.02)

    def signal(self, signum: int) -> None:
        """SIGINT as a terminal sends it, to the whole foreground process group; other signals as `kill`."""
        if signum == signal.SIGINT:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)

    def finish(self) -> int:
        """The script's exit status as a shell reports it (128 + N when killed by signal N)."""
        try:
            self.proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the script did not stop: it hung\n{self.output()}")
        code = self.proc.returncode
        return code if code >= 0 else 128 - code

    def leftovers(self) -> list[str]:
        """Live processes started by the script, orphans included."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if f"PARLAY_DRILL={self.marker}".encode() in environ.split(b"\0") and state != "Z":
                found.append(f"{pid}: {command[:150]}")
        return found

    def assert_nothing_left(self) -> None:
        deadline = time.monotonic() + ORPHAN_TIMEOUT
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        if left:
            for line in left:
                os.kill(int(line.split(":")[0]), signal.SIGKILL)
            pytest.fail("processes of the run were left running:\n" + "\n".join(left))

    def stderr_line(self) -> str:
        """parlay's own line on stderr (the one line that says what happened)."""
        lines = [line for line in self.err.read_text().splitlines() if line.startswith("parlay: ")]
        assert len(lines) == 1, self.output()
        return lines[0]

    def log(self) -> str:
        return (self.run_dir / "000" / "parlay.log").read_text()

    def output(self) -> str:
        return f"stdout:\n{self.out.read_text()}\nstderr:\n{self.err.read_text()}"


def assert_stopped_cleanly(run: Run) -> None:
    """The run's processes, its private folder and its jobs are gone, and its summary is honest."""
    run.assert_nothing_left()
    assert not [name for name in os.listdir(run.tmp) if name.startswith("parlay-htex-")], "the socket folder is left"
    journal = read_journal(str(run.run_dir / "000"))
    assert journal and {job["event"] for job in journal.values()} == {"cancelled"}, journal
    summary = re.search(r"tasks by final state: (\{.*\})", run.log())
    assert summary is not None, run.log()
    assert "'failed'" not in summary.group(1) and "'cancelled'" in summary.group(1), summary.group(1)


STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
HOW = {signal.SIGINT: "by Ctrl-C|at exit", signal.SIGTERM: "by SIGTERM"}


@pytest.fixture
def slurm(tmp_path):
    """The fake Slurm's commands, first on the PATH given to the script."""
    scheduler = FakeSlurm.create(tmp_path / "slurm")
    try:
        yield scheduler
    finally:
        scheduler.stop()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
@pytest.mark.parametrize("phase", ["submit", "wait"])
def test_a_signal_while_the_run_works(tmp_path, phase, signum):
    run = Run(tmp_path, phase, "local")
    run.wait_for("submitting" if phase == "submit" else "waiting")
    run.signal(signum)
    assert run.finish() == STATUS[signum], run.output()
    assert re.fullmatch(rf"parlay: run \S+ stopped ({HOW[signum]}); \d+ unfinished tasks? cancelled", run.stderr_line())
    assert_stopped_cleanly(run)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_while_the_run_starts(tmp_path, signum):
    run = Run(tmp_path, "load", "local")
    run.wait_for("loading")  # one block submitted, the next being submitted
    run.signal(signum)
    assert run.finish() == STATUS[signum], run.output()
    how = "by Ctrl-C" if signum == signal.SIGINT else "by SIGTERM"
    assert re.fullmatch(rf"parlay: run \S+ stopped {how} while it started", run.stderr_line())
    run.assert_nothing_left()
    assert not [name for name in os.listdir(tmp_path) if name.startswith("parlay-htex-")]
    assert {job["event"] for job in read_journal(str(run.run_dir / "000")).values()} == {"cancelled"}
    assert re.search(r"ERROR run \S+ could not start \((KeyboardInterrupt|SystemExit: 143)\)", run.log()), run.log()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_during_cleanup_lets_it_finish(tmp_path, signum):
    run = Run(tmp_path, "cleanup", "local")
    run.wait_for("cleaning up")
    run.signal(signum)
    run.wait_for("finishing the cleanup", "stderr")
    (run.run_dir / "go").touch()
    assert run.finish() == STATUS[signum], run.output()
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert re.fullmatch(rf"parlay: {name}: finishing the cleanup of run \S+ first \({name} again quits at once\)",
                        run.stderr_line())  # fmt: skip
    assert_stopped_cleanly(run)


def test_ctrl_c_twice_during_cleanup_quits_at_once(tmp_path):
    run = Run(tmp_path, "cleanup", "local")
    run.wait_for("cleaning up")
    run.signal(signal.SIGINT)
    run.wait_for("finishing the cleanup", "stderr")
    run.signal(signal.SIGINT)
    assert run.finish() == 130, run.output()
    assert "parlay: Ctrl-C: quitting at once, before the cleanup of run" in run.err.read_text()
    run.assert_nothing_left()


class Unreachable(ThreadPoolExecutor):
    def _start(self):
        raise RuntimeError("no such cluster")


def test_a_load_that_fails_leaves_nothing_and_says_why(tmp_path, monkeypatch):
    """htex starts (its interchange, a block, a private socket folder), then the next executor fails to."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    htex = HighThroughputExecutor(label="htex", provider=LocalProvider(), address="127.0.0.1", max_workers_per_node=1)
    run_dir = tmp_path / "runinfo"
    with pytest.raises(RuntimeError, match="no such cluster"):
        parlay.load(Config(executors=[htex, Unreachable(label="far")], run_dir=str(run_dir)))
    assert htex._interchange.poll() is not None
    assert not [name for name in os.listdir(tmp_path) if name.startswith("parlay-htex-")]
    assert {job["event"] for job in read_journal(str(run_dir / "000")).values()} == {"cancelled"}
    log = (run_dir / "000" / "parlay.log").read_text()
    assert "could not start (RuntimeError: no such cluster); stopping what had started" in log


def test_an_exception_in_the_script(tmp_path):
    run = Run(tmp_path, "error", "local")
    assert run.finish() == 1, run.output()
    assert "RuntimeError: a bug in the script" in run.err.read_text()
    assert re.fullmatch(r"parlay: run \S+ stopped at exit; 3 unfinished tasks cancelled", run.stderr_line())
    assert_stopped_cleanly(run)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_second_signal_during_cleanup_quits_at_once(tmp_path, signum):
    """The cleanup at exit is held before it stops htex and kills the bash commands: the second signal kills
    the commands itself, and htex's processes must notice the script is gone."""
    run = Run(tmp_path, "exit", "local")
    run.wait_for("waiting")
    run.signal(signum)
    run.wait_for("cleaning up")
    run.signal(signum)
    assert run.finish() == STATUS[signum], run.output()
    assert re.fullmatch(r"parlay: \S+: quitting at once, before the cleanup of run \S+ was done; `parlay cleanup \S+` "
                        r"cancels any job it left", run.stderr_line())  # fmt: skip
    run.assert_nothing_left()


@pytest.mark.parametrize("phase", ["wait", "exit"])
def test_ctrl_c_leaves_no_scheduler_job(tmp_path, slurm, phase):
    run = Run(tmp_path, phase, "slurm", env={"PATH": slurm.path})
    run.wait_for("waiting")
    run.signal(signal.SIGINT)
    if phase == "exit":  # Ctrl-C again during the cleanup: the blocks' managers stop when htex's interchange does
        run.wait_for("cleaning up")
        run.signal(signal.SIGINT)
    assert run.finish() == 130, run.output()
    run.assert_nothing_left()
    assert slurm.job_ids() and not slurm.active_jobs()
    if phase == "wait":
        assert {job["event"] for job in read_journal(str(run.run_dir / "000")).values()} == {"cancelled"}
