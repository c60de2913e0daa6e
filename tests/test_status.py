"""`parlay status`: a run's summary from its log and job journal (finished, with failures, with blocks,
killed), the latest run by default, clear errors for folders that hold no run, and a plugin's answer first."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from parlay import cli, status
from parlay.plugins import hookimpl
from parlay.plugins.manager import Hooks, get_hooks

DEADLINE = 120  # seconds a child may take on a busy machine before the test gives up on it
RUNS = textwrap.dedent(
    """
    import sys, time
    import parlay
    from parlay import Config, python_app
    from parlay.executors import HighThroughputExecutor

    @python_app
    def work(i, pause=0.0):
        time.sleep(pause)
        if i < 0:
            raise ValueError(f"bad input {i}")
        return i

    root = sys.argv[1]
    if sys.argv[2] == "finished":
        # 000: threads, failures (each tried twice), a task left unrun by one; 001: htex, with a block
        with parlay.load(Config(run_dir=root, retries=1)):
            ok = [work(i) for i in range(4)]
            bad = [work(-1), work(-2)]
            unrun = work(bad[0])
            for future in [*ok, *bad, unrun]:
                future.exception()
        executor = HighThroughputExecutor(label="htex", max_workers_per_node=1)
        executor.provider.status_polling_interval = 0.2
        with parlay.load(Config(executors=[executor], run_dir=root, strategy_period=0.2)):
            assert [work(i).result() for i in range(3)] == [0, 1, 2]
    else:
        # 002: killed while its tasks run
        with parlay.load(Config(run_dir=root)):
            [work(i).result() for i in range(3)]
            slow = [work(i, 60) for i in range(4)]
            print("ready", flush=True)
            time.sleep(60)
    """
)


def parlay_status(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "parlay.cli", "status", *args], capture_output=True, text=True, cwd=cwd, timeout=DEADLINE
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runinfo/000 (finished, with failures), 001 (finished, with a block), 002 (killed mid-way)."""
    folder = tmp_path_factory.mktemp("status")
    script = folder / "runs.py"
    script.write_text(RUNS)
    root = str(folder / "runinfo")
    env = {k: v for k, v in os.environ.items() if k != "PARLAY_PROGRESS"}
    subprocess.run([sys.executable, str(script), root, "finished"], check=True, timeout=DEADLINE, env=env)
    killed = subprocess.Popen([sys.executable, str(script), root, "killed"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert killed.stdout.readline() == "ready\n"
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=DEADLINE)
    return folder


def test_a_finished_run_with_failures(runs):
    done = parlay_status(str(runs / "runinfo" / "000"))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    run_id = re.match(r"run ([0-9a-f-]{36})\n", text).group(1)
    assert f"  run dir:   {runs / 'runinfo' / '000'}\n" in text
    assert re.search(r"\n  started:   \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n", text)
    assert re.search(r"\n  ended:     \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(after \d+\.\d s\)\n", text)
    assert "\n  tasks:     7 (4 exec_done, 2 failed, 1 dep_fail)\n" in text
    failures = text.split("  failures (3):\n")[1].splitlines()[:3]
    assert sorted(failures)[:2] == [f"    task {4 + n} (work) failed: ValueError: bad input -{1 + n}" for n in range(2)]
    assert sorted(failures)[2].startswith("    task 6 (work) dep_fail: DependencyError: ")
    tries = text.split("  failed tries that were retried (2):\n")[1].splitlines()[:2]
    assert sorted(tries) == [f"    task {4 + n}, try 0: ValueError('bad input -{1 + n}')" for n in range(2)]
    assert "\n  blocks:    none" in text
    with open(runs / "runinfo" / "000" / "parlay.log") as log:
        assert run_id in log.readline()


def test_a_run_with_a_block(runs):
    done = parlay_status(str(runs / "runinfo" / "001"))
    assert done.returncode == 0, done.stderr
    assert "\n  tasks:     3 (3 exec_done)\n" in done.stdout
    assert re.search(r"\n  blocks \(1\):\n    htex block 0: local 'local' job \d+, cancelled by the run$", done.stdout)


def test_a_killed_run_did_not_end(runs):
    done = parlay_status(str(runs / "runinfo" / "002"))
    assert done.returncode == 0, done.stderr
    assert re.search(r"\n  ended:     no: still running, or did not end cleanly \(killed\?\); last logged "
                     r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d, \d+\.\d s ago\n", done.stdout)  # fmt: skip
    assert "\n  tasks:     not known: parlay.log counts them when the run ends\n" in done.stdout


def side_by_side(*calls: tuple) -> list[subprocess.CompletedProcess]:
    """`parlay status` with each (arguments, folder to run in), all at once."""
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: parlay_status(*call[0], cwd=call[1]), calls))


def test_the_latest_run_by_default(runs):
    latest, of_runinfo, of_002 = side_by_side(
        ((), str(runs)), ((str(runs / "runinfo"),), None), ((str(runs / "runinfo" / "002"),), None)
    )
    assert latest.returncode == 0, latest.stderr
    assert f"  run dir:   {os.path.join('runinfo', '002')}\n" in latest.stdout
    ago = re.compile(r"[\d.]+ s ago")
    assert ago.sub("", of_runinfo.stdout) == ago.sub("", of_002.stdout)  # a folder of runs: its latest


def test_no_run_is_exit_2(tmp_path):
    (tmp_path / "notes").mkdir()
    missing, not_a_run, nothing_here = side_by_side(
        ((str(tmp_path / "nowhere"),), None), ((str(tmp_path / "notes"),), None), ((), str(tmp_path))
    )
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr == f"parlay status: {tmp_path / 'nowhere'}: no such folder\n"
    assert not_a_run.returncode == 2 and "is not a run directory (no parlay.log or jobs.jsonl" in not_a_run.stderr
    assert nothing_here.returncode == 2 and "no RUN_DIR given and no runinfo folder here" in nothing_here.stderr


class Answering:
    def __init__(self, answer):
        self.answer = answer
        self.asked = []

    @hookimpl
    def parlay_status_report(self, run_dir):
        self.asked.append(run_dir)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_a_plugin_answers_first(runs, capsys):
    run_dir = str(runs / "runinfo" / "000")
    own = status.summary(run_dir)
    hooks = Hooks()
    plugin = Answering("run 000, from the plugin's records")
    hooks.register(plugin)
    assert status.report(run_dir, hooks) == "run 000, from the plugin's records"
    assert plugin.asked == [run_dir]
    plugin.answer = None  # it passes: parlay's own summary
    assert status.report(run_dir, hooks) == own
    plugin.answer = RuntimeError("database locked")  # it fails: named on stderr, then parlay's own summary
    assert status.report(run_dir, hooks) == own
    assert "failed (RuntimeError: database locked); parlay's own summary follows" in capsys.readouterr().err


def test_the_command_asks_the_process_hooks(runs, capsys):
    plugin = Answering("from a plugin of this process")
    get_hooks().register(plugin)
    try:
        assert cli.main(["status", str(runs / "runinfo" / "001")]) == 0
    finally:
        get_hooks().unregister(plugin)
    assert capsys.readouterr().out == "from a plugin of this process\n"


LOG = """\
2026-05-04 10:00:00,000 parlay.dataflow.kernel:77 MainThread INFO parlay run other-run starting in elsewhere/runinfo/007
2026-05-04 10:00:00,100 parlay.dataflow.kernel:77 MainThread INFO parlay run the-run starting in {run_dir}
2026-05-04 10:00:01,000 parlay.executors.blocks:106 Thread-3 (poll) ERROR executor htex could not start block 1
Traceback (most recent call last):
  File "blocks.py", line 92, in _launch_block
RuntimeError: sbatch: error: invalid account
2026-05-04 10:00:02,000 parlay.dataflow.kernel:365 MainThread INFO task 3 failed (OSError(5, 'I/O (1)')); retry 1
2026-05-04 10:00:03,000 parlay.dataflow.kernel:370 MainThread INFO task 3 (fetch) failed: OSError: [Errno 5] I/O
2026-05-04 10:00:04,000 parlay.dataflow.kernel:552 MainThread INFO cleaning up run other-run
2026-05-04 10:00:04,500 parlay.dataflow.kernel:564 MainThread INFO run other-run finished; tasks by final state: {{}}
2026-05-04 10:00:05,000 parlay.plugins:258 MainThread WARNING plugin x failed in parlay_configure; run goes on
2026-05-04 10:01:40,100 parlay.dataflow.kernel:552 MainThread INFO cleaning up run the-run
2026-05-04 10:01:40,600 parlay.dataflow.kernel:564 MainThread INFO run the-run finished; tasks by final state: \
{{'exec_done': 9, 'failed': 1}}
"""


def test_the_log_is_read_robustly(tmp_path):
    run_dir = tmp_path / "runinfo" / "000"
    run_dir.mkdir(parents=True)
    (run_dir / "parlay.log").write_text(LOG.format(run_dir=run_dir))
    run = status.read_log(str(run_dir))
    assert (run.run_id, run.started, run.ended) == ("the-run", "2026-05-04 10:00:00,100", "2026-05-04 10:01:40,600")
    assert run.counts == {"exec_done": 9, "failed": 1}  # the other run's end is not this one's
    assert run.retried == ["task 3, try 0: OSError(5, 'I/O (1)')"]
    assert run.failures == ["task 3 (fetch) failed: OSError: [Errno 5] I/O"]
    assert run.problems == [
        "10:00:01 ERROR executor htex could not start block 1",
        "10:00:05 WARNING plugin x failed in parlay_configure; run goes on",
    ]
    text = status.summary(str(run_dir))
    assert "  ended:     2026-05-04 10:01:40 (after 1 min 40 s)\n" in text
    assert "  failures (1):\n    task 3 (fetch) failed: OSError: [Errno 5] I/O\n" in text
    assert text.endswith("  blocks (1):\n    htex block 1: could not be submitted")
    (run_dir / "parlay.log").write_text(LOG.splitlines()[1].format(run_dir=run_dir) + "\n" + (
        "2026-05-04 10:00:00,200 parlay.dataflow.kernel:129 MainThread ERROR run the-run could not start "
        "(ConfigurationError: no account); stopping what had started\n"
    ))  # fmt: skip
    assert "  ended:     2026-05-04 10:00:00: the run could not start (ConfigurationError: no account)" in (
        status.summary(str(run_dir))
    )
