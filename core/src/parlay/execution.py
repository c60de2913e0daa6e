"""What runs where the task runs: an app's function with its reserved keyword arguments, walltime and bash.

Executors receive a runner (`PythonRunner` or `BashRunner`) as the task callable; one runner exists per app,
so serializing executors send each function once. Kept free of heavy imports: workers import it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from parlay.errors import AppTimeout, BadStdStreamFile, BashAppNoReturn, BashExitFailure, MissingOutputs

#: Keyword arguments parlay interprets; a function receives one only if its signature declares it.
RESERVED_KWARGS = frozenset(
    {
        "inputs",
        "outputs",
        "stdout",
        "stderr",
        "walltime",
        "label",  # names a task in its AUTO_LOGNAME files
        "parsl_resource_specification",
        "resource_specification",
    }
)


_VAR_KEYWORDS = 0x08  # CO_VARKEYWORDS: the function takes **kwargs


def reserved_parameters(func: Callable[..., Any]) -> tuple[frozenset[str], dict[str, Any]]:
    """The reserved keyword arguments `func` accepts (all of them if it takes `**kwargs`), and the
    defaults its signature gives them. Read from the code object: `inspect` costs more to import."""
    code = getattr(func, "__code__", None)
    if code is None:  # a builtin or a callable object: it declares none
        return frozenset(), {}
    positional = code.co_varnames[: code.co_argcount]
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    given = func.__defaults__ or ()
    defaults = dict(zip(positional[len(positional) - len(given) :], given, strict=True))
    defaults.update(func.__kwdefaults__ or {})
    accepts = RESERVED_KWARGS if code.co_flags & _VAR_KEYWORDS else RESERVED_KWARGS.intersection(names)
    return accepts, {name: value for name, value in defaults.items() if name in RESERVED_KWARGS}


class _Runner:
    __slots__ = ("__weakref__", "accepts", "func", "name")

    def __init__(self, func: Callable[..., Any]):
        self.func = func
        self.name = getattr(func, "__name__", repr(func))
        self.accepts = reserved_parameters(func)[0]

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not RESERVED_KWARGS.isdisjoint(kwargs):
            kwargs = {k: v for k, v in kwargs.items() if k not in RESERVED_KWARGS or k in self.accepts}
        return self.func(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.func,))


class PythonRunner(_Runner):
    """Runs a Python app's function; `walltime` (seconds) raises `AppTimeout` when exceeded."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        walltime = kwargs.get("walltime")
        if walltime is None:
            return self._call(args, kwargs)
        with time_limit(float(walltime), self.name):
            return self._call(args, kwargs)


class BashRunner(_Runner):
    """Runs the command string a bash app's function returns; returns 0 or raises.

    The command runs in its own session so that `walltime` (or shutdown) kills its whole process group.
    """

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> int:
        command = self._call(args, kwargs)
        if command is None:
            raise BashAppNoReturn(f"bash app {self.name} returned None instead of a command string")
        if not isinstance(command, str):
            raise BashAppNoReturn(f"bash app {self.name} must return a command string, not {type(command).__name__}")
        walltime = kwargs.get("walltime")
        with (
            _open_stream(kwargs.get("stdout"), "stdout") as out,
            _open_stream(kwargs.get("stderr"), "stderr") as err,
        ):
            code = run_command(command, out, err, None if walltime is None else float(walltime), self.name)
        if code != 0:
            raise BashExitFailure(self.name, code)
        missing = [f for f in kwargs.get("outputs") or () if not os.path.exists(os.fspath(f))]
        if missing:
            raise MissingOutputs(f"bash app {self.name} did not create its outputs", missing)
        return 0


class ProbedRunner:
    """A task function with plugins' probes around it (`parlay_task_probe`): the probes travel with the
    function, so executors that send a function once send them once, and the result (or the exception)
    carries back what they recorded: the function's value travels as the pair `(value, reports)`, plain data
    that pickles without a class of its own (the kernel knows which tries it probed), or an exception carries
    them as `parlay_reports`."""

    __slots__ = ("__weakref__", "name", "probes", "runner")

    def __init__(self, runner: Callable[..., Any], probes: tuple[Any, ...]):
        self.runner = runner
        self.probes = probes
        self.name = getattr(runner, "name", getattr(runner, "__name__", repr(runner)))

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[Any, list[dict]]:
        probes = self.probes
        tokens = [_guarded(probe.start) for probe in probes]
        try:
            value = self.runner(*args, **kwargs)
        except BaseException as exc:
            exc.parlay_reports = _stop(probes, tokens, exc)  # type: ignore[attr-defined]  # pickled with it
            raise
        return value, _stop(probes, tokens, None)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ProbedRunner, (self.runner, self.probes))


def _guarded(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except Exception as exc:  # a probe never breaks a task
        return exc


def _stop(probes: tuple[Any, ...], tokens: list[Any], error: BaseException | None) -> list[dict]:
    reports = []
    for probe, token in zip(probes, tokens, strict=True):
        report = _guarded(probe.stop, token, error) if not isinstance(token, Exception) else token
        reports.append(report if isinstance(report, dict) else {"probe_error": repr(report)})
    return reports


# --- bash commands ----------------------------------------------------------------------------------

_live_groups: set[int] = set()
#: Re-entrant: a second Ctrl-C kills the commands from a signal handler, which may interrupt this very thread
#: while it holds the lock.
_live_lock = threading.RLock()


def run_command(command: str, stdout: Any, stderr: Any, walltime: float | None, name: str) -> int:
    """Run `command` with bash in a new session; on walltime kill the session's process group."""
    import subprocess  # deferred: workers import this module, and only bash apps need subprocess

    proc = subprocess.Popen(["/bin/bash", "-c", command], stdout=stdout, stderr=stderr, start_new_session=True)
    with _live_lock:
        _live_groups.add(proc.pid)
    try:
        try:
            return proc.wait(timeout=walltime)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait()
            raise AppTimeout(
                f"bash app {name} exceeded its walltime of {walltime:g} s; its process group was killed"
            ) from None
    finally:
        with _live_lock:
            _live_groups.discard(proc.pid)


def kill_group(pgid: int, signum: int = signal.SIGKILL) -> None:
    """Signal a whole process group, if it still exists."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def kill_running_commands() -> None:
    """Kill the process group of every bash command still running in this process (used at shutdown)."""
    with _live_lock:
        groups = list(_live_groups)
    for pgid in groups:
        kill_group(pgid)


@contextmanager
def _open_stream(spec: Any, which: str) -> Any:
    """Open a `stdout`/`stderr` specification: a path, a File, or a `(path, mode)` tuple."""
    if spec is None:
        yield None
        return
    mode = "a"
    if isinstance(spec, tuple):
        if len(spec) != 2 or spec[1] not in ("w", "a"):
            raise BadStdStreamFile(f"{which}={spec!r}: a tuple must be (path, mode) with mode 'w' or 'a'")
        spec, mode = spec
    try:
        path = os.fspath(spec)
    except TypeError:
        raise BadStdStreamFile(
            f"{which}={spec!r}: expected a path, a File, a (path, mode) tuple or parlay.AUTO_LOGNAME"
        ) from None
    try:
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        stream = open(path, mode)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise BadStdStreamFile(f"{which}={path!r}: cannot open for writing: {exc}") from exc
    with stream:
        yield stream


# --- python walltime -------------------------------------------------------------------------------


@contextmanager
def time_limit(seconds: float, name: str) -> Any:
    """Raise `AppTimeout` in the current thread once `seconds` have passed.

    In a process's main thread a real-time timer signal interrupts even blocking system calls; in other
    threads the exception is injected between bytecodes (a long C call finishes first).
    """
    message = f"python app {name} exceeded its walltime of {seconds:g} s"
    if threading.current_thread() is threading.main_thread():

        def on_alarm(signum: int, frame: Any) -> None:
            raise AppTimeout(message)

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    import ctypes  # deferred: only a walltime outside the main thread needs it

    ident = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False}

    def inject() -> None:
        with lock:
            if not state["done"]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_Timeout))

    timer = threading.Timer(seconds, inject)
    timer.daemon = True
    timer.start()
    try:
        yield
    except _Timeout:
        raise AppTimeout(message) from None
    finally:
        with lock:
            state["done"] = True
        timer.cancel()


class _Timeout(BaseException):
    """Injected into a thread whose app ran out of time; a BaseException so `except Exception` in apps lets it by."""
