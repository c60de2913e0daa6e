"""The progress display: one line on stderr that redraws in place (done, failed, running, waiting, total, tasks
per second over the last seconds, time left), or an HTML display in a Jupyter notebook, and a summary line
at the end of the run.

It is a plugin like any other, on the public hooks: `parlay_task_state_changed` only moves counters under a
lock (it runs on the kernel's hot path), and a thread of its own draws a few times a second. It is on when
stderr is a terminal or an IPython kernel runs, off elsewhere (pipes, files, CI logs); `Config(progress=True
or False)` decides instead, and so does the environment variable `PARLAY_PROGRESS` (`1` or `0`) when the
`Config` leaves it to the automatic choice. Every task of the run is counted, the tasks of join apps and of
`future[key]` lookups (the `_parlay_internal` executor's) included, so the summary adds up to the
`tasks by final state` line of `parlay.log`. A stderr that breaks or closes stops the display, never the run.
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
import threading
import time
import warnings
from typing import Any

from parlay.plugins import hookimpl

#: The environment variable that switches the display on (`1`) or off (`0`) when `Config.progress` is None.
VARIABLE = "PARLAY_PROGRESS"
#: Seconds between two redraws: of the line on a terminal, of the display in a notebook.
TERMINAL_INTERVAL = 0.25
NOTEBOOK_INTERVAL = 0.5
#: Seconds of finished tasks the rate (and so the time left) is measured over.
RATE_WINDOW = 10.0
BAR_WIDTH = 20
_DONE = ("exec_done", "memo_done")
_FAILED = ("failed", "dep_fail")
_RUNNING = ("launched", "running", "joining")
_FINAL = (*_DONE, *_FAILED, "cancelled")


# --- whether, and where ---------------------------------------------------------------------------


def choose(setting: bool | None) -> str | None:
    """Where the display goes for a run whose `Config.progress` is `setting`: `"notebook"`, `"terminal"`
    (stderr), or None (no display)."""
    if setting is None:
        setting = _from_environment()
    if setting is False:
        return None
    if in_notebook():
        return "notebook"
    if setting:
        return "terminal" if sys.stderr is not None else None
    return "terminal" if _isatty(sys.stderr) else None


def _from_environment() -> bool | None:
    value = os.environ.get(VARIABLE, "").strip()
    if value in ("", "0", "1"):
        return None if not value else value == "1"
    text = (
        f"{VARIABLE}={value!r}: expected 0 (no progress display) or 1 (a progress display); ignored, so the "
        "display shows when stderr is a terminal"
    )
    warnings.warn_explicit(text, UserWarning, "parlay", 0)
    return None


def in_notebook() -> bool:
    """Whether an IPython kernel (Jupyter) runs this process; IPython is not imported when it is not already."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def attach(hooks: Any, setting: bool | None) -> Progress | None:
    """Register a progress display with a run's `hooks` when `setting` (`Config.progress`) and the
    surroundings call for one; return it, or None."""
    where = choose(setting)
    if where is None:
        return None
    progress = Progress(NotebookOutput() if where == "notebook" else TerminalOutput(sys.stderr))
    hooks.register(progress, name="parlay.progress")
    return progress


# --- counting and drawing -------------------------------------------------------------------------


class Progress:
    """Counts a run's tasks by state as they change, and draws them from a thread of its own."""

    def __init__(self, output: TerminalOutput | NotebookOutput):
        self.output = output
        self._lock = threading.Lock()
        self._counts: collections.defaultdict[str, int] = collections.defaultdict(int)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self.run_dir = ""

    @hookimpl
    def parlay_task_state_changed(self, old_state: str | None, new_state: str) -> None:
        with self._lock:
            counts = self._counts
            if old_state is not None:
                counts[old_state] -= 1
            counts[new_state] += 1

    @hookimpl
    def parlay_workflow_started(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self._started = time.monotonic()
        self.output.start(self.line(self.counts(), self._started))
        self._thread = threading.Thread(target=self._draw_until_stopped, name="parlay-progress", daemon=True)
        self._thread.start()

    @hookimpl
    def parlay_workflow_finished(self, task_counts: dict[str, int]) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.output.finish(self.summary(dict(task_counts) or self.counts(), time.monotonic() - self._started))

    def counts(self) -> dict[str, int]:
        """The tasks in each state now (states without a task left out)."""
        with self._lock:
            return {state: n for state, n in self._counts.items() if n}

    def _draw_until_stopped(self) -> None:
        while not self._stop.wait(self.output.interval) and not self.output.broken:
            try:
                self.output.draw(self.line(self.counts(), time.monotonic()))
            except Exception:  # a display that cannot draw stops drawing; the run goes on
                self.output.broken = True

    def rate(self, finished: int, now: float) -> float | None:
        """Tasks finished per second over the last `RATE_WINDOW` seconds (None before a first measure)."""
        samples = self._samples
        if not samples:
            samples.append((self._started, 0))
        samples.append((now, finished))
        while len(samples) > 2 and samples[1][0] <= now - RATE_WINDOW:
            samples.popleft()
        then, before = samples[0]
        return (finished - before) / (now - then) if now - then >= 0.5 else None

    def line(self, counts: dict[str, int], now: float) -> Line:
        """What the display shows for `counts` at `now` (a `time.monotonic()`)."""
        total = sum(counts.values())
        finished = sum(counts.get(state, 0) for state in _FINAL)
        rate = self.rate(finished, now)
        left = total - finished
        eta = _duration(left / rate) if left and rate else "0:00" if total and not left else "--"
        fields = [
            ("done", sum(counts.get(state, 0) for state in _DONE)),
            ("failed", sum(counts.get(state, 0) for state in _FAILED)),
            ("running", sum(counts.get(state, 0) for state in _RUNNING)),
            ("waiting", counts.get("pending", 0)),
        ]
        if counts.get("cancelled"):
            fields.append(("cancelled", counts["cancelled"]))
        fields.append(("total", total))
        return Line(fields, finished, total, "--" if rate is None else _rate(rate), eta)

    def summary(self, counts: dict[str, int], elapsed: float) -> str:
        """The line left at the end of the run: how many tasks, how long, how fast, how they ended."""
        total = sum(counts.values())
        where = f"run {self.run_dir}: " if self.run_dir else ""
        if not total:
            return f"parlay: {where}no tasks"
        done = sum(counts.get(state, 0) for state in _DONE)
        parts = [f"{done} done"]
        parts += [f"{counts[state]} {state}" for state in ("failed", "dep_fail", "cancelled") if counts.get(state)]
        parts += [f"{n} {state}" for state, n in counts.items() if state not in _FINAL and n]  # not expected
        speed = f", {_rate(total / elapsed).replace('/s', ' tasks/s')}" if elapsed > 0 else ""
        plural = "" if total == 1 else "s"
        return f"parlay: {where}{total} task{plural} in {_duration(elapsed, precise=True)}{speed}: {', '.join(parts)}"


class Line:
    """One state of the display, rendered as text (a terminal) or HTML (a notebook)."""

    def __init__(self, fields: list[tuple[str, int]], finished: int, total: int, rate: str, eta: str):
        self.fields, self.finished, self.total, self.rate, self.eta = fields, finished, total, rate, eta

    def text(self, width: int = 1000, unicode: bool = True) -> str:
        counts = "  ".join(f"{name} {n}" for name, n in self.fields)
        tail = f"{counts}  {self.rate}  ETA {self.eta}"
        with_bar = f"parlay {self.bar(unicode)} {tail}"
        line = with_bar if len(with_bar) <= width else f"parlay {tail}"
        return line[:width]

    def bar(self, unicode: bool) -> str:
        share = self.finished / self.total if self.total else 0.0
        if not unicode:
            full = int(share * BAR_WIDTH)
            return "[" + "#" * full + "." * (BAR_WIDTH - full) + "]"
        eighths = int(share * BAR_WIDTH * 8)
        full, part = divmod(eighths, 8)
        partial = " ▏▎▍▌▋▊▉"[part] if full < BAR_WIDTH else ""
        return "▕" + "█" * full + (partial + " " * (BAR_WIDTH - full - 1) if full < BAR_WIDTH else "") + "▏"

    def html(self) -> str:
        counts = " &middot; ".join(f"{name} <b>{n}</b>" for name, n in self.fields)
        return (
            f'<div style="font-family: monospace"><progress value="{self.finished}" max="{max(self.total, 1)}" '
            f'style="width: 16em; vertical-align: middle"></progress> {counts} &middot; {self.rate} '
            f"&middot; ETA {self.eta}</div>"
        )


class TerminalOutput:
    """The line on a stream (stderr), redrawn in place with a carriage return and padded over what it drew
    before (no escape sequences, so a dumb terminal shows it right too)."""

    interval = TERMINAL_INTERVAL

    def __init__(self, stream: Any):
        self.stream = stream
        self.broken = False
        self._text = ""  # the line on screen
        self._lock = threading.Lock()
        self._excepthook: tuple[Any, Any] | None = None  # (ours, the one before)
        self.suspended = False
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        self.unicode = encoding in ("utf8", "utf16", "utf32")

    def width(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        return (columns or shutil.get_terminal_size().columns) - 1  # the last column would wrap on some terminals

    def start(self, line: Line) -> None:
        """Draw nothing yet (a run shorter than a redraw leaves only its summary), but see that the traceback of
        an exception the program does not catch starts on a line of its own, the display's line cleared."""
        previous = sys.excepthook

        def clear_first(*exc_info: Any) -> None:
            self.suspend()
            previous(*exc_info)

        self._excepthook = (clear_first, previous)
        sys.excepthook = clear_first

    def draw(self, line: Line) -> None:
        text = line.text(self.width(), self.unicode)
        with self._lock:
            if text != self._text and not self.suspended:  # an idle run costs no writes
                self._write("\r" + text + " " * max(len(self._text) - len(text), 0))
                self._text = text

    def suspend(self) -> None:
        """Clear the line and draw no more (the program is printing its way out); `finish` still writes."""
        with self._lock:
            self.suspended = True
            self._write(self._clearing())

    def finish(self, summary: str) -> None:
        """Clear the line and leave `summary` on a line of its own."""
        if self._excepthook is not None and sys.excepthook is self._excepthook[0]:
            sys.excepthook = self._excepthook[1]
        with self._lock:
            self._write(f"{self._clearing()}{summary}\n")

    def _clearing(self) -> str:
        clear = "\r" + " " * len(self._text) + "\r" if self._text else ""
        self._text = ""
        return clear

    def _write(self, text: str) -> None:
        if self.broken or not text:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # closed, a broken pipe, an encoding it cannot take: stop drawing, quietly
            self.broken = True


class NotebookOutput:
    """A display in a Jupyter notebook, updated in place (`IPython.display.display(..., display_id=True)`,
    then `.update()`); no widgets."""

    interval = NOTEBOOK_INTERVAL

    def __init__(self) -> None:
        self.broken = False
        self._handle: Any = None
        self._text = ""

    def start(self, line: Line) -> None:
        """Show the display now, on the thread that starts the run, so it lands in the cell that started it."""
        self.draw(line)

    def draw(self, line: Line) -> None:
        self._show(_Rich(line.html(), line.text()))

    def finish(self, summary: str) -> None:
        self._show(_Rich(f'<div style="font-family: monospace">{_escape(summary)}</div>', summary))

    def _show(self, shown: _Rich) -> None:
        if self.broken or shown.text == self._text:  # an idle run sends nothing
            return
        self._text = shown.text
        try:
            if self._handle is None:
                from IPython.display import display

                self._handle = display(shown, display_id=True)
            else:
                self._handle.update(shown)
        except Exception:
            self.broken = True


class _Rich:
    """What a notebook shows: HTML, or text where HTML is not rendered."""

    def __init__(self, html: str, text: str):
        self.html, self.text = html, text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rate(per_second: float) -> str:
    return f"{per_second:.1f}/s" if per_second < 100 else f"{per_second:.0f}/s"


def _duration(seconds: float, precise: bool = False) -> str:
    """`m:ss` or `h:mm:ss`; with `precise`, `3.2 s` below a minute."""
    if precise and seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
