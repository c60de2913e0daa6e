"""A fake batch scheduler for provider tests: the scheduler-independent machinery that each scheduler's fake
builds on. A fake puts stand-ins for the scheduler's command-line tools on PATH, answers them as the real
tools would, and really runs each submitted job script as a local process group.

A scheduler's fake subclasses `FakeScheduler`, declaring its commands, the variable that carries a job's id,
where the submitted text names the job's output, error and name, and how each command answers::

    class FakeTiny(FakeScheduler):
        submit_command, status_command, cancel_command = "tsub", "tstat", "tdel"
        job_id_variable = "TINY_JOB_ID"
        output_pattern, error_pattern, name_pattern = r"^#TINY out=(\\S+)", r"^#TINY err=(\\S+)", r"^#TINY name=(\\S+)"

        def answer(self, command, args):
            if command == "tsub":
                return self.submit(args[0], Path(args[0]).read_text()) + "\\n"
            ...

Tests use it through `fake_scheduler`, which puts its commands first on PATH::

    with fake_scheduler(tmp_path / "sched", FakeTiny, monkeypatch) as scheduler:
        scheduler.fail("tsub", "submission refused: invalid account")  # a refused submission
        scheduler.hang("tstat")                                        # a status command that hangs
        scheduler.vanish(job_id)                                       # a job the scheduler forgets
        scheduler.queue_delay = 2                                      # jobs wait 2 s before running

Each command is a shim that starts a new Python with the test process's `sys.path`, loads the fake's class
from its module's file (a module in a test folder that is not installed will do) and calls `main`. The
machinery imports neither pytest nor the rest of `parlay.testing`: a fake in a module of its own (as each
provider plugin ships) answers in a few hundredths of a second; one in a test module loads its imports too.
A job lives in `DIR/jobs/NUMBER/`: `meta.json` (its process group, name, script, flags), `started`, `exit`.

Linux only: whether a job's process still lives is read from /proc.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, TypeVar

from parlay.testing.processes import alive

if TYPE_CHECKING:  # the commands must start without importing pytest
    import pytest

_Fake = TypeVar("_Fake", bound="FakeScheduler")

# The runner: wait out the queue delay, then run the script, recording that it started and its exit code.
# Output and error paths that are one file share one descriptor (`2>&1`): two `>` would overwrite each other.
_RUNNER = (
    'sleep "$1"; touch "$2/started"; '
    'if [ "$4" = "$5" ]; then bash "$3" >"$4" 2>&1; else bash "$3" >"$4" 2>"$5"; fi; '
    'echo $? >"$2/exit.tmp"; mv "$2/exit.tmp" "$2/exit"'
)
#: What every scheduler's fake declares (`FakeScheduler.create` checks).
_DECLARED = (
    "submit_command",
    "status_command",
    "cancel_command",
    "job_id_variable",
    "output_pattern",
    "error_pattern",
    "name_pattern",
)


class Refused(Exception):
    """Raised by `FakeScheduler.answer`: the command fails, printing `stderr` (a newline is added when it has
    none), after `stdout` if it printed something first, and exits with `code`."""

    def __init__(self, stderr: str, code: int = 1, stdout: str = ""):
        super().__init__(stderr)
        self.stderr = stderr
        self.code = code
        self.stdout = stdout


class FakeScheduler:
    """A fake scheduler whose state lives in `directory`: the base class of each scheduler's fake.

    A subclass declares the class attributes below and implements `answer`; it must be defined at the top
    level of a module, since each command loads it from there. Its instances hold no state of their own:
    `create` makes a fresh scheduler, and every command works on the same folder through a new instance.
    """

    #: The command that submits a job.
    submit_command: ClassVar[str]
    #: The command that lists jobs and their states.
    status_command: ClassVar[str]
    #: The command that cancels jobs.
    cancel_command: ClassVar[str]
    #: Any further commands that the provider runs (accounting, job details).
    other_commands: ClassVar[tuple[str, ...]] = ()
    #: The environment variable that carries the job's id (`job_id`) into the job.
    job_id_variable: ClassVar[str]
    #: Regular expressions (searched line by line) whose first group is, in the submitted text, the job's
    #: output file, its error file and its name. `%j` in a path becomes the job number. Without an output
    #: file, output goes to `DIR/jobs/NUMBER/stdout`; without an error file, errors go with the output;
    #: without a name, the job is named after its script.
    output_pattern: ClassVar[str]
    error_pattern: ClassVar[str]
    name_pattern: ClassVar[str]

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.bin = self.directory / "bin"

    # --- what a scheduler's fake provides -------------------------------------------------------------

    def answer(self, command: str, args: list[str]) -> str:
        """What `command args` prints on stdout. A refusal raises `Refused`. It runs in the command's own
        process, so a command that takes input there may read `sys.stdin`."""
        raise NotImplementedError(f"{type(self).__name__} must answer {command!r}")

    def job_id(self, number: str) -> str:
        """The id of job `number` as the scheduler prints it and the job sees it (by default, the number)."""
        return number

    # --- setting up and controlling it, from a test -----------------------------------------------------

    @classmethod
    def commands(cls) -> tuple[str, ...]:
        """Every command the fake answers: submit, status, cancel, then the others."""
        return (cls.submit_command, cls.status_command, cls.cancel_command, *cls.other_commands)

    @classmethod
    def create(cls: type[_Fake], directory: str | os.PathLike) -> _Fake:
        """A fresh scheduler in `directory`, its commands in `directory/bin` (first on `path`)."""
        missing = [name for name in _DECLARED if not isinstance(getattr(cls, name, None), str)]
        if missing:
            raise TypeError(f"{cls.__qualname__} must declare {', '.join(missing)} (strings)")
        if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
            raise TypeError(f"{cls.__qualname__}: a fake scheduler must be defined at the top level of a module")
        fake = cls(directory)
        fake.bin.mkdir(parents=True, exist_ok=True)
        (fake.directory / "jobs").mkdir(exist_ok=True)
        fake._write({})
        module_file = os.path.abspath(sys.modules[cls.__module__].__file__ or "")
        # -I: nothing from the environment or the current folder; the test process's sys.path instead, so that
        # parlay and the fake's module import as they do in the test
        start = (
            f"import sys; sys.path[:] = {[os.path.abspath(p) for p in sys.path]!r}; "
            "from parlay.testing.fake_scheduler import main; sys.exit(main())"
        )
        for command in cls.commands():
            words = [sys.executable, "-I", "-c", start, str(fake.directory.absolute()), cls.__module__, module_file,
                     cls.__qualname__, command]  # fmt: skip
            shim = fake.bin / command
            shim.write_text(f'#!/bin/sh\nexec {shlex.join(words)} "$@"\n')
            shim.chmod(0o755)
        return fake

    @property
    def path(self) -> str:
        """A PATH with the fake commands first."""
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"

    def run(self, *command: str, stdin: IO[Any] | int | None = None) -> subprocess.CompletedProcess[str]:
        """Run `command` with the fake commands first on PATH, capturing its output as text."""
        env = {**os.environ, "PATH": self.path}
        return subprocess.run(command, capture_output=True, text=True, env=env, stdin=stdin, timeout=60)

    @property
    def queue_delay(self) -> float:
        """Seconds each job submitted from now on waits in the queue before it runs."""
        return float(self._settings().get("queue_delay", 0))

    @queue_delay.setter
    def queue_delay(self, seconds: float) -> None:
        self._set("queue_delay", seconds)

    def fail(self, command: str, message: str, code: int = 1) -> None:
        """Make `command` print `message` on stderr and exit with `code`, as a broken scheduler would."""
        self._set(f"fail:{command}", [message, code])

    def hang(self, command: str, seconds: float = 3600) -> None:
        """Make `command` hang for `seconds` before answering."""
        self._set(f"hang:{command}", seconds)

    def heal(self) -> None:
        """Clear every injected failure."""
        self._write({k: v for k, v in self._settings().items() if ":" not in k})

    def vanish(self, job_id: str) -> None:
        """Kill a job and forget it, as schedulers do when a node dies and its records are purged."""
        job = self.job(job_id)
        job.update(vanished=True)
        job.kill()

    def job_ids(self) -> list[str]:
        """The number of every job ever submitted, in order."""
        return sorted((p.name for p in (self.directory / "jobs").iterdir()), key=int)

    def active_jobs(self) -> list[str]:
        """Jobs queued or running, as the scheduler would list them."""
        return [n for n in self.job_ids() if Job(self.directory, n).state() in ("pending", "running")]

    def stop(self) -> None:
        """Kill every job still queued or running (tests call this when they end); ended jobs' process ids
        may belong to others by now."""
        for number in self.active_jobs():
            Job(self.directory, number).kill()

    # --- helpers for `answer` ---------------------------------------------------------------------------

    def submit(self, script_path: str, text: str) -> str:
        """Start a job running `script_path`, with the output, error and name that `text` (the file that
        carries the directives) gives it; return its number."""
        with open(self.directory / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            number = str(len(list((self.directory / "jobs").iterdir())) + 1)
            job_dir = self.directory / "jobs" / number
            job_dir.mkdir()
        found = [re.search(p, text, re.MULTILINE) for p in (self.output_pattern, self.error_pattern, self.name_pattern)]
        out, err, name = (m.group(1).replace("%j", number) if m else None for m in found)
        out = out or str(job_dir / "stdout")
        err = err or out
        proc = subprocess.Popen(
            ["bash", "-c", _RUNNER, "runner", str(self.queue_delay), str(job_dir), script_path, out, err],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, self.job_id_variable: self.job_id(number)},
        )
        meta = {"pid": proc.pid, "name": name or os.path.basename(script_path), "script": script_path}
        (job_dir / "meta.json").write_text(json.dumps(meta))
        return number

    def job(self, job_id: str) -> Job:
        """Job `job_id` (a number, or an id that starts with one), whether the scheduler knows it or not."""
        return Job(self.directory, job_number(job_id))

    def jobs(self, ids: list[str]) -> list[Job]:
        """The jobs named by `ids` that the scheduler still knows (in order); all of them when `ids` is empty."""
        found = [self.job(i) for i in ids] if ids else [Job(self.directory, n) for n in self.job_ids()]
        return [job for job in found if job.exists and job.state() != "vanished"]

    # --- the settings file ------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        try:
            return json.loads((self.directory / "settings.json").read_text())
        except FileNotFoundError:
            return {}

    def _set(self, key: str, value: Any) -> None:
        self._write({**self._settings(), key: value})

    def _write(self, settings: dict[str, Any]) -> None:
        temporary = self.directory / "settings.json.tmp"
        temporary.write_text(json.dumps(settings))
        temporary.replace(self.directory / "settings.json")


class Job:
    """One job of a fake scheduler: its record in `DIR/jobs/NUMBER/`."""

    def __init__(self, directory: Path, number: str):
        self.number = number
        self.path = directory / "jobs" / number

    @property
    def exists(self) -> bool:
        return (self.path / "meta.json").exists()

    @property
    def name(self) -> str:
        return self.meta()["name"]

    @property
    def started(self) -> bool:
        """Whether it left the queue and ran (whatever happened next)."""
        return (self.path / "started").exists()

    def meta(self) -> dict[str, Any]:
        return json.loads((self.path / "meta.json").read_text())

    def update(self, **fields: Any) -> None:
        meta = {**self.meta(), **fields}
        (self.path / "meta.json.tmp").write_text(json.dumps(meta))
        (self.path / "meta.json.tmp").replace(self.path / "meta.json")

    def exit_code(self) -> int | None:
        try:
            return int((self.path / "exit").read_text())
        except (OSError, ValueError):
            return None

    def state(self) -> str:
        """pending, running, completed, failed, cancelled or vanished."""
        meta = self.meta()
        if meta.get("vanished"):
            return "vanished"
        if meta.get("cancelled"):
            return "cancelled"
        code = self.exit_code()
        if code is not None:
            return "completed" if code == 0 else "failed"
        if not alive(meta["pid"]):
            return "failed"  # its runner died without recording an exit code
        return "running" if self.started else "pending"

    def cancel(self) -> None:
        """Cancel it if it is queued or running; a job that ended stays as it ended."""
        if self.state() in ("pending", "running"):
            self.update(cancelled=True)
            self.kill()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, KeyError, FileNotFoundError):
            os.killpg(self.meta()["pid"], signal.SIGKILL)


def job_number(job_id: str) -> str:
    """The numeric part of a job id ("12.server" -> "12"; "-1" when there is none)."""
    match = re.match(r"\d+", job_id.strip())
    return match.group(0) if match else "-1"


def split_ids(args: list[str]) -> list[str]:
    """Job ids given as separate arguments, comma-separated lists, or both."""
    return [i for a in args for i in a.split(",") if i]


def option(args: list[str], *names: str) -> str | None:
    """The value of an option given as `--name=value`, `--name value` or `-n value`."""
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


@contextlib.contextmanager
def fake_scheduler(
    directory: str | os.PathLike, fake_class: type[_Fake], monkeypatch: pytest.MonkeyPatch
) -> Iterator[_Fake]:
    """A fresh `fake_class` scheduler in `directory` whose commands come first on PATH (set through
    `monkeypatch`, which restores it when the test ends); on exit, even by an exception, every job still
    queued or running is killed."""
    if not (isinstance(fake_class, type) and issubclass(fake_class, FakeScheduler)):
        raise TypeError(f"fake_class={fake_class!r}: expected a subclass of FakeScheduler")
    scheduler = fake_class.create(directory)
    monkeypatch.setenv("PATH", scheduler.path)
    try:
        yield scheduler
    finally:
        scheduler.stop()


# --- a command --------------------------------------------------------------------------------------


def _load(module: str, file: str, qualname: str) -> type[FakeScheduler]:
    """The class `qualname` of `module`, executed from its `file`: the module need not be importable by its
    name (pytest's importlib mode imports test modules by path), and its package is not imported."""
    spec = importlib.util.spec_from_file_location(module, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the fake scheduler module {module!r} from {file}")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[module] = loaded
    spec.loader.exec_module(loaded)
    found: Any = loaded
    for name in qualname.split("."):
        found = getattr(found, name)
    return found


def main(argv: list[str] | None = None) -> int:
    """Answer one command: `DIR MODULE FILE CLASS COMMAND [ARGS...]` (`sys.argv[1:]` by default)."""
    directory, module, file, qualname, command, *args = sys.argv[1:] if argv is None else argv
    fake = _load(module, file, qualname)(directory)
    settings = fake._settings()
    if f"hang:{command}" in settings:
        time.sleep(settings[f"hang:{command}"])
    if f"fail:{command}" in settings:
        message, code = settings[f"fail:{command}"]
        print(f"{command}: {message}", file=sys.stderr)
        return code
    try:
        output = fake.answer(command, args)
    except Refused as refused:
        sys.stdout.write(refused.stdout)
        if refused.stderr:
            sys.stderr.write(refused.stderr if refused.stderr.endswith("\n") else f"{refused.stderr}\n")
        return refused.code
    sys.stdout.write(output)
    return 0
