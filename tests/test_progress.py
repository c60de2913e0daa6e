"""The progress display: drawn on a real pseudo-terminal, off on pipes unless asked for, switched by
`Config(progress=...)` and `PARLAY_PROGRESS`, in place in a Jupyter notebook, and exact under load."""

from __future__ import annotations

import concurrent.futures
import fcntl
import io
import itertools
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import textwrap
import threading
import time
import types

import pytest

import parlay
from parlay import Config, progress, python_app
from parlay.errors import ConfigurationError

DEADLINE = 120  # seconds a child run may take on a busy machine before the test gives up on it
WORKFLOW = textwrap.dedent(
    """
    import sys, time
    import parlay
    from parlay import Config, python_app

    @python_app
    def work(i, pause):
        time.sleep(pause)
        if i % 10 == 9:
            raise ValueError(i)
        return i

    run_dir, tasks, pause, setting = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    with parlay.load(Config(run_dir=run_dir, progress={"none": None, "true": True, "false": False}[setting])):
        futures = [work(i, pause) for i in range(tasks)]
        for future in futures:
            future.exception()
    print("finished", flush=True)
    """
)
SUMMARY = re.compile(r"parlay: run (\S+): (\d+) tasks in [\d.]+ s, [\d.]+ tasks/s: (\d+) done, (\d+) failed")


@pytest.fixture
def workflow(tmp_path):
    script = tmp_path / "workflow.py"
    script.write_text(WORKFLOW)
    return [sys.executable, str(script), str(tmp_path / "runinfo")]


def environment(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (progress.VARIABLE, "COLUMNS")}
    return {**env, **variables}


def on_terminal(command: list[str], env: dict[str, str], columns: int = 120) -> tuple[str, int]:
    """Run `command` with its stderr on a pseudo-terminal `columns` wide; return what it drew there."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower, env=env)
    os.close(follower)
    drawn = b""
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the child and its terminal are gone
                    break
                if not chunk:
                    break
                drawn += chunk
            elif child.poll() is not None:
                break
        returncode = child.wait(timeout=DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
        os.close(leader)
    return drawn.decode(), returncode


def on_pipe(command: list[str], env: dict[str, str]) -> tuple[str, int]:
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=DEADLINE)
    assert "finished" in done.stdout, done.stderr
    return done.stderr, done.returncode


def test_drawn_in_place_on_a_terminal_then_cleared_for_the_summary(workflow):
    drawn, returncode = on_terminal([*workflow, "60", "0.04", "none"], environment(PYTHONIOENCODING="utf-8"))
    assert returncode == 0, drawn
    assert "\x1b" not in drawn  # no escape sequences: a dumb terminal shows it right too
    parts = drawn.split("\r")  # ..., the last draw, spaces over it, the summary, "\n" (the terminal's "\r\n")
    assert parts[-3] == " " * len(parts[-4]) and parts[-1] == "\n", repr(drawn[-300:])
    live, rest = "\r".join(parts[:-3]), "\r".join(parts[-2:])
    draws = [part for part in live.split("\r") if part]
    assert len(draws) >= 2, drawn  # redrawn a few times a second for a run of more than a second
    assert all("\n" not in part and part.startswith("parlay ") and len(part) < 120 for part in draws)
    assert all(re.search(r"done \d+  failed \d+  running \d+  waiting \d+  total 60  ", part) for part in draws)
    done = [int(re.search(r"done (\d+)", part).group(1)) for part in draws]
    assert done == sorted(done)
    assert any(re.search(r"  \d+(\.\d)?/s  ETA \d+:\d\d$", part.rstrip()) for part in draws), draws
    assert "█" in "".join(draws)  # the bar, in a UTF-8 terminal
    # the last line is cleared (padded over) and the summary stays, on a line of its own
    match = SUMMARY.fullmatch(rest.removesuffix("\r\n"))
    assert match and rest.endswith("\r\n"), repr(rest)
    assert match.groups()[1:] == ("60", "54", "6")
    assert match.group(1).endswith(os.path.join("runinfo", "000"))


def test_an_uncaught_exception_prints_below_a_cleared_line(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(WORKFLOW.replace("with parlay.load(", "if parlay.load(").replace(
        "    for future in futures:\n        future.exception()\n",
        "    futures[-1].exception()\n    raise RuntimeError('the script broke')\n",
    ))  # fmt: skip
    drawn, returncode = on_terminal([sys.executable, str(script), str(tmp_path / "runinfo"), "30", "0.04", "none"],
                                    environment())  # fmt: skip
    assert returncode == 1
    line, traceback = drawn.split("Traceback (most recent call last):")
    assert re.search(r"\rparlay [^\r]*total 30[^\r]*\r *\r$", line) and line.split("\r")[-2].strip() == ""
    assert "RuntimeError: the script broke\r\n" in traceback
    assert re.search(r"\r\nparlay: run \S+: 30 tasks in .*\r\n$", traceback)  # the run is cleaned up at exit


def side_by_side(run, *cases: tuple[list[str], dict[str, str]]) -> list[tuple[str, int]]:
    """`run(command, env)` for each case, all at once (each in a run directory of its own)."""
    with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
        ran = [pool.submit(run, [command[0], command[1], f"{command[2]}{n}", *command[3:]], env)
               for n, (command, env) in enumerate(cases)]  # fmt: skip
        return [future.result() for future in ran]


def test_off_on_a_pipe_unless_asked_for(workflow):
    automatic, forced, configured, bad = side_by_side(
        on_pipe,
        ([*workflow, "20", "0.02", "none"], environment()),
        ([*workflow, "20", "0.02", "none"], environment(PARLAY_PROGRESS="1")),
        ([*workflow, "20", "0.02", "true"], environment(PARLAY_PROGRESS="0")),  # the Config decides over the variable
        ([*workflow, "20", "0.02", "none"], environment(PARLAY_PROGRESS="yes")),
    )
    assert automatic == ("", 0)
    assert forced[1] == 0 and forced[0].endswith("\n")
    assert SUMMARY.search(forced[0]).groups()[1:] == ("20", "18", "2")
    assert SUMMARY.search(configured[0])
    assert "PARLAY_PROGRESS='yes': expected 0" in bad[0] and "parlay: run" not in bad[0]


def test_switched_off_on_a_terminal(workflow):
    assert side_by_side(
        on_terminal,
        ([*workflow, "20", "0.02", "none"], environment(PARLAY_PROGRESS="0")),
        ([*workflow, "20", "0.02", "false"], environment(PARLAY_PROGRESS="1")),
    ) == [("", 0), ("", 0)]


def test_a_closed_stderr_stops_the_display_not_the_run(workflow, tmp_path):
    script = tmp_path / "closing.py"
    script.write_text(WORKFLOW.replace("    futures = [", "    sys.stderr.close()\n    futures = ["))
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runinfo"), "30", "0.02", "true"],
        capture_output=True, text=True, env=environment(), timeout=DEADLINE,
    )  # fmt: skip
    assert done.returncode == 0 and "finished" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_broken_stream_is_left_alone():
    class Broken(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    output = progress.TerminalOutput(Broken())
    display = progress.Progress(output)
    output.draw(display.line({"pending": 3}, time.monotonic()))
    output.finish("parlay: done")
    assert output.broken


def test_the_line_narrows_to_the_terminal_and_falls_back_to_ascii():
    display = progress.Progress(progress.TerminalOutput(io.StringIO()))
    counts = {"exec_done": 50, "memo_done": 10, "failed": 3, "dep_fail": 1, "launched": 6, "pending": 30}
    start = display._started
    display.line(counts | {"exec_done": 0, "memo_done": 0}, start + 1)
    line = display.line(counts, start + 3)  # 64 finished in the first 3 s
    text = line.text(200)
    assert text.startswith("parlay ▕" + "█" * 12 + "▊")
    assert "done 60  failed 4  running 6  waiting 30  total 100  21.3/s  ETA 0:02" in text
    later = display.line(counts | {"exec_done": 70, "launched": 0, "pending": 26}, start + 13)
    assert later.text(200).endswith("  2.0/s  ETA 0:13")  # 10 more in the last 10 s (the rate's window)
    assert line.text(200, unicode=False).startswith("parlay [" + "#" * 12 + "." * 8 + "]")
    assert line.text(90) == text.replace(line.bar(True) + " ", "")[:90]  # the bar goes first
    assert len(line.text(40)) == 40
    summary = display.summary({"exec_done": 95, "failed": 3, "dep_fail": 2}, 4.0)
    assert summary == "parlay: 100 tasks in 4.0 s, 25.0 tasks/s: 95 done, 3 failed, 2 dep_fail"


def test_config_progress_is_validated():
    assert Config().progress is None
    with pytest.raises(ConfigurationError, match=r"Config\.progress='yes': expected None"):
        Config(progress="yes")
    config = Config(progress=True)
    with pytest.raises(ConfigurationError, match=r"Config\.progress=1"):
        config.progress = 1


def test_the_variable_and_the_terminal_choose(monkeypatch):
    ipython_imported = "IPython" in sys.modules
    monkeypatch.delenv(progress.VARIABLE, raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress.choose(None) is None and progress.choose(True) == "terminal" and progress.choose(False) is None
    monkeypatch.setenv(progress.VARIABLE, "1")
    assert progress.choose(None) == "terminal"
    monkeypatch.setenv(progress.VARIABLE, "on")
    with pytest.warns(UserWarning, match="PARLAY_PROGRESS='on'"):
        assert progress.choose(None) is None
    assert ("IPython" in sys.modules) == ipython_imported  # looked for, never imported


# --- in a notebook ----------------------------------------------------------------------------------


@python_app
def pause(seconds, fail=False):
    time.sleep(seconds)
    if fail:
        raise ValueError("no")
    return seconds


class Handle:
    def __init__(self, shown):
        self.shown = [(time.monotonic(), shown)]
        self.thread = threading.current_thread()

    def update(self, shown):
        self.shown.append((time.monotonic(), shown))


@pytest.fixture
def notebook(monkeypatch):
    """A stand-in for IPython in a Jupyter kernel: its display handles, as the display made them."""
    handles: list[Handle] = []

    def display(shown, display_id=False):
        assert display_id is True
        handles.append(Handle(shown))
        return handles[-1]

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    ipython.display = types.ModuleType("IPython.display")
    ipython.display.display = display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython.display)
    monkeypatch.delenv(progress.VARIABLE, raising=False)
    return handles


def test_a_notebook_gets_one_display_updated_in_place_and_throttled(notebook, run_dir, capsys):
    started = time.monotonic()
    with parlay.load(Config(run_dir=run_dir)):
        futures = [pause(0.07, fail=i % 8 == 7) for i in range(32)]
        for future in futures:
            future.exception()
    elapsed = time.monotonic() - started
    assert len(notebook) == 1
    assert notebook[0].thread is threading.current_thread()  # shown by the thread that started the run
    shown = notebook[0].shown
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(shown[:-1])]  # the final one comes at once
    assert all(gap >= progress.NOTEBOOK_INTERVAL * 0.99 for gap in gaps), gaps
    assert 3 <= len(shown) <= elapsed / progress.NOTEBOOK_INTERVAL + 2
    assert "<progress " in shown[1][1]._repr_html_() and "total 32" in repr(shown[1][1])
    final = shown[-1][1]
    assert re.search(r"32 tasks in [\d.]+ s, [\d.]+ tasks/s: 28 done, 4 failed$", repr(final))
    assert "28 done, 4 failed" in final._repr_html_()
    assert "parlay" not in capsys.readouterr().err  # nothing on stderr besides


# --- under load -------------------------------------------------------------------------------------


@python_app
def identity(x):
    return x


def test_counts_are_exact_with_four_threads_submitting(run_dir, capsys):
    per_thread = 2000
    with parlay.load(Config(run_dir=run_dir, progress=True)) as dfk:
        display = dfk.hooks.pm.get_plugin("parlay.progress")
        futures: list = []

        def submit():
            mine = [identity(i) for i in range(per_thread)]
            futures.extend(mine)

        threads = [threading.Thread(target=submit) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(future.result(DEADLINE) for future in futures) == 4 * sum(range(per_thread))
        dfk.wait_for_current_tasks()
        assert display.counts() == {"exec_done": 4 * per_thread}
    summary = capsys.readouterr().err.rsplit("\r", 1)[-1]
    assert re.fullmatch(r"parlay: run \S+: 8000 tasks in [\d.]+ s, [\d.]+ tasks/s: 8000 done\n", summary)
