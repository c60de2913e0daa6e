"""Ctrl-C (SIGINT) and SIGTERM while a run stops.

`parlay.load` turns SIGTERM into a clean exit, as Ctrl-C is: the cleanup then runs at interpreter exit. While a
cleanup runs in the main thread, both signals are held: the first lets it finish and is raised again once it
is done; a second one, or the first when the program is already on its way out (at interpreter exit, or
unwinding from Ctrl-C or SIGTERM), ends the process at once. On the way out it kills the run's bash commands,
which run in sessions of their own; what else the cleanup had not reached stops by itself (an executor's
processes notice that this process is gone), and `parlay cleanup RUN_DIR` cancels scheduler jobs left queued.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, NoReturn

from parlay.execution import kill_running_commands
from parlay.providers.base import JOURNAL

_HELD = (signal.SIGINT, signal.SIGTERM)

#: Whether SIGTERM stopped this program (through the handler `install_sigterm_handler` installs).
terminated = False


def install_sigterm_handler() -> None:
    """Turn SIGTERM into `SystemExit(143)`, as Ctrl-C turns into KeyboardInterrupt, unless the program already
    handles SIGTERM (or this is not the main thread, where handlers cannot be set)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: Any) -> None:
    global terminated
    terminated = True
    raise SystemExit(128 + signum)  # unwinds the main thread like Ctrl-C; the cleanup then runs at exit


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def say(text: str) -> None:
    """One line on stderr, even from a signal handler that interrupted a write to it."""
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def held(run_dir: str, urgent: bool) -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the body (a cleanup) runs in the main thread; see the module's docstring.
    `urgent`: the program is already stopping, so the first signal ends it at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        if urgent or pending:
            quit_now(run_dir, signum)
        pending.append(signum)
        name = signal_name(signum)
        say(f"parlay: {name}: finishing the cleanup of run {run_dir} first ({name} again quits at once)")

    previous = {}
    for signum in _HELD:
        handler = signal.getsignal(signum)
        if handler not in (None, signal.SIG_IGN):  # None: set outside Python, it could not be put back
            previous[signum] = signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if pending:
        signal.raise_signal(pending[0])  # to the program's own handler, now that the run is stopped


def quit_now(run_dir: str, signum: int) -> NoReturn:
    """End the process at once, as killed by `signum`, after killing the run's bash commands."""
    kill_running_commands()
    journal = os.path.join(run_dir, JOURNAL)
    left = f"; `parlay cleanup {run_dir}` cancels any job it left" if os.path.exists(journal) else ""
    say(f"parlay: {signal_name(signum)}: quitting at once, before the cleanup of run {run_dir} was done{left}")
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        sys.stdout.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # if the signal did not end the process
