"""A fake batch scheduler for provider tests: stand-ins for the command-line tools of Slurm, PBS Pro,
Torque, Grid Engine, HTCondor and LSF that print what the real tools print (formats from their manuals)
and really run each job script as a local process group.

    with fake_scheduler(tmp_path / "sched", "slurm", monkeypatch) as scheduler:  # sbatch, squeue... on PATH
        scheduler.fail("sbatch", "Batch job submission failed: Invalid account")  # a refused submission
        scheduler.hang("squeue")                                                   # a status command that hangs
        scheduler.vanish(job_id)                                                   # a job the scheduler forgets
        scheduler.queue_delay = 2                                                  # jobs wait 2 s before running

Each command is a shim calling this module's `main([DIR, FLAVOR, COMMAND, *ARGS])` in a new Python.
A job lives in `DIR/jobs/ID/`: `meta.json` (name, output paths, flags), `started`, `exit` (its code).

Linux only: whether a job's process still lives is read from /proc.
"""

from __future__ import annotations

import contextlib
import fcntl
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the commands must start without importing pytest
    import pytest

# Each flavor's commands in this order: submit, status, cancel, then any others (`submit_command`,
# `status_command` and `cancel_command` name the first three).
COMMANDS = {
    "slurm": ["sbatch", "squeue", "scancel", "scontrol", "sacct"],
    "pbspro": ["qsub", "qstat", "qdel"],
    "torque": ["qsub", "qstat", "qdel"],
    "sge": ["qsub", "qstat", "qdel", "qacct"],
    "condor": ["condor_submit", "condor_q", "condor_rm", "condor_history"],
    "lsf": ["bsub", "bjobs", "bkill"],
}
SERVER = "fakeserver"  # the PBS/Torque server name in job ids
JOB_ID_VARIABLE = {
    "slurm": "SLURM_JOB_ID",
    "pbspro": "PBS_JOBID",
    "torque": "PBS_JOBID",
    "sge": "JOB_ID",
    "condor": "CONDOR_JOB_ID",
    "lsf": "LSB_JOBID",
}


def submit_command(flavor: str) -> str:
    """The command that submits a job to the `flavor` scheduler (sbatch, qsub, condor_submit, bsub)."""
    return COMMANDS[flavor][0]


def status_command(flavor: str) -> str:
    """The command that lists the `flavor` scheduler's jobs (squeue, qstat, condor_q, bjobs)."""
    return COMMANDS[flavor][1]


def cancel_command(flavor: str) -> str:
    """The command that cancels jobs of the `flavor` scheduler (scancel, qdel, condor_rm, bkill)."""
    return COMMANDS[flavor][2]


class FakeScheduler:
    """A scheduler of one flavor whose state lives in `directory`."""

    def __init__(self, directory: str | os.PathLike, flavor: str):
        if flavor not in COMMANDS:
            raise ValueError(f"flavor={flavor!r}: expected one of {', '.join(COMMANDS)}")
        self.directory = Path(directory)
        self.flavor = flavor
        self.bin = self.directory / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        (self.directory / "jobs").mkdir(exist_ok=True)
        for command in COMMANDS[flavor]:
            shim = self.bin / command
            # this file by its path: it needs only the standard library, and the parlay.testing package
            # (pytest included) would take most of each command's time to import
            words = [sys.executable, "-I", os.path.abspath(__file__), str(self.directory), flavor, command]
            shim.write_text(f'#!/bin/sh\nexec {shlex.join(words)} "$@"\n')
            shim.chmod(0o755)
        self.queue_delay = 0.0

    @property
    def path(self) -> str:
        """A PATH with the fake commands first."""
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"

    @property
    def queue_delay(self) -> float:
        return float(_settings(self.directory).get("queue_delay", 0))

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
        settings = _settings(self.directory)
        self._write({k: v for k, v in settings.items() if ":" not in k})

    def vanish(self, job_id: str) -> None:
        """Kill a job and forget it, as schedulers do when a node dies and its records are purged."""
        job = _Job(self.directory, _number(job_id))
        job.update(vanished=True)
        job.kill()

    def job_ids(self) -> list[str]:
        return sorted((p.name for p in (self.directory / "jobs").iterdir()), key=int)

    def active_jobs(self) -> list[str]:
        """Jobs queued or running, as the scheduler would list them."""
        return [n for n in self.job_ids() if _Job(self.directory, n).state() in ("pending", "running")]

    def stop(self) -> None:
        """Kill every job still queued or running (tests call this when they end); ended jobs' process ids
        may belong to others by now."""
        for number in self.active_jobs():
            _Job(self.directory, number).kill()

    def _set(self, key: str, value: Any) -> None:
        settings = _settings(self.directory)
        settings[key] = value
        self._write(settings)

    def _write(self, settings: dict[str, Any]) -> None:
        temporary = self.directory / "settings.json.tmp"
        temporary.write_text(json.dumps(settings))
        temporary.replace(self.directory / "settings.json")


@contextlib.contextmanager
def fake_scheduler(
    directory: str | os.PathLike, flavor: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeScheduler]:
    """A `FakeScheduler` of `flavor` in `directory` whose commands come first on PATH (set through
    `monkeypatch`, which restores it when the test ends); on exit, even by an exception, every job still
    queued or running is killed."""
    scheduler = FakeScheduler(directory, flavor)
    monkeypatch.setenv("PATH", scheduler.path)
    try:
        yield scheduler
    finally:
        scheduler.stop()


def _settings(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / "settings.json").read_text())
    except FileNotFoundError:
        return {}


def _number(job_id: str) -> str:
    """The numeric part of a job id ("12.fakeserver" -> "12")."""
    match = re.match(r"\d+", job_id.strip())
    return match.group(0) if match else "-1"


class _Job:
    def __init__(self, directory: Path, number: str):
        self.number = number
        self.path = directory / "jobs" / number

    @property
    def exists(self) -> bool:
        return (self.path / "meta.json").exists()

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
        if not _alive(meta["pid"]):
            return "failed"  # its runner died without recording an exit code
        return "running" if (self.path / "started").exists() else "pending"

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, KeyError, FileNotFoundError):
            os.killpg(self.meta()["pid"], signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- submission -------------------------------------------------------------------------------------

_OUTPUT_DIRECTIVES = {
    "slurm": (r"#SBATCH\s+(?:--output[= ]|-o\s*)(\S+)", r"#SBATCH\s+(?:--error[= ]|-e\s*)(\S+)"),
    "pbspro": (r"#PBS\s+-o\s+(\S+)", r"#PBS\s+-e\s+(\S+)"),
    "torque": (r"#PBS\s+-o\s+(\S+)", r"#PBS\s+-e\s+(\S+)"),
    "sge": (r"#\$\s+-o\s+(\S+)", r"#\$\s+-e\s+(\S+)"),
    "lsf": (r"#BSUB\s+-o\s+(\S+)", r"#BSUB\s+-e\s+(\S+)"),
    "condor": (r"^\s*output\s*=\s*(\S+)", r"^\s*error\s*=\s*(\S+)"),
}
_NAME_DIRECTIVES = {
    "slurm": r"#SBATCH\s+(?:--job-name[= ]|-J\s*)(\S+)",
    "pbspro": r"#PBS\s+-N\s+(\S+)",
    "torque": r"#PBS\s+-N\s+(\S+)",
    "sge": r"#\$\s+-N\s+(\S+)",
    "lsf": r"#BSUB\s+-J\s+(\S+)",
    "condor": r"^\s*batch_name\s*=\s*(\S+)",
}
# The runner: wait out the queue delay, then run the script, recording that it started and its exit code.
# Output and error paths that are one file share one descriptor (`2>&1`): two `>` would overwrite each other.
_RUNNER = (
    'sleep "$1"; touch "$2/started"; '
    'if [ "$4" = "$5" ]; then bash "$3" >"$4" 2>&1; else bash "$3" >"$4" 2>"$5"; fi; '
    'echo $? >"$2/exit.tmp"; mv "$2/exit.tmp" "$2/exit"'
)


def _submit(directory: Path, flavor: str, script_path: str, text: str) -> str:
    """Start a job for `text` (the file that carries the directives) running `script_path`."""
    with open(directory / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        number = str(len(list((directory / "jobs").iterdir())) + 1)
        job_dir = directory / "jobs" / number
        job_dir.mkdir()
    out_pattern, err_pattern = _OUTPUT_DIRECTIVES[flavor]
    found = [re.search(p, text, re.MULTILINE) for p in (out_pattern, err_pattern, _NAME_DIRECTIVES[flavor])]
    out, err, name = (m.group(1).replace("%j", number) if m else None for m in found)
    out = out or str(job_dir / "stdout")
    err = err or out
    env = {**os.environ, JOB_ID_VARIABLE[flavor]: number if flavor not in ("pbspro", "torque") else _pbs_id(number)}
    delay = str(_settings(directory).get("queue_delay", 0))
    proc = subprocess.Popen(
        ["bash", "-c", _RUNNER, "runner", delay, str(job_dir), script_path, out, err],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    meta = {"pid": proc.pid, "name": name or os.path.basename(script_path), "script": script_path}
    (job_dir / "meta.json").write_text(json.dumps(meta))
    return number


def _pbs_id(number: str) -> str:
    return f"{number}.{SERVER}"


def _jobs(directory: Path, ids: list[str]) -> list[_Job]:
    """The jobs named by `ids` that the scheduler still knows (in order); all of them when `ids` is empty."""
    numbers = [_number(i) for i in ids] if ids else sorted((p.name for p in (directory / "jobs").iterdir()), key=int)
    return [job for job in (_Job(directory, n) for n in numbers) if job.exists and job.state() != "vanished"]


def _cancel(job: _Job) -> None:
    if job.state() in ("pending", "running"):
        job.update(cancelled=True)
        job.kill()


def _split_ids(args: list[str]) -> list[str]:
    return [i for a in args for i in a.split(",") if i]


def _option(args: list[str], *names: str) -> str | None:
    """The value of an option given as `--name=value`, `--name value` or `-n value`."""
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


class _Refused(Exception):
    """A command's error: its stderr text and exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# --- Slurm ----------------------------------------------------------------------------------------

_SLURM = {"pending": ("PD", "PENDING"), "running": ("R", "RUNNING"), "completed": ("CD", "COMPLETED"),
          "failed": ("F", "FAILED"), "cancelled": ("CA", "CANCELLED")}  # fmt: skip


def _slurm(directory: Path, command: str, args: list[str]) -> str:
    if command == "sbatch":
        script = args[-1]
        number = _submit(directory, "slurm", script, Path(script).read_text())
        return f"{number}\n" if "--parsable" in args else f"Submitted batch job {number}\n"
    if command == "squeue":
        ids = _split_ids([_option(args, "--jobs", "-j") or ""])
        jobs = _jobs(directory, ids)
        if ids and not jobs:
            raise _Refused("slurm_load_jobs error: Invalid job id specified")
        fmt = _option(args, "--format", "-o") or "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
        lines = []
        for job in jobs:
            state = job.state()
            if state not in ("pending", "running") and "--states=all" not in args:
                continue
            fields = {"%i": job.number, "%t": _SLURM[state][0], "%T": _SLURM[state][1], "%j": job.meta()["name"],
                      "%r": "None" if state == "running" else "Priority"}  # fmt: skip
            lines.append(re.sub(r"%\.?\d*[a-zA-Z]", lambda m, f=fields: f.get("%" + m.group(0)[-1], ""), fmt))
        header = [] if "--noheader" in args or "-h" in args else [fmt]
        return "".join(line + "\n" for line in header + lines)
    if command == "scancel":
        for job in _jobs(directory, _split_ids([a for a in args if not a.startswith("-")])):
            _cancel(job)
        return ""
    if command == "scontrol":  # scontrol show job ID
        jobs = _jobs(directory, [args[-1]])
        if not jobs:
            raise _Refused("slurm_load_jobs error: Invalid job id specified")
        job = jobs[0]
        code = job.exit_code() or 0
        return (
            f"JobId={job.number} JobName={job.meta()['name']}\n"
            f"   JobState={_SLURM[job.state()][1]} Reason=None Dependency=(null)\n"
            f"   ExitCode={code}:0\n"
        )
    if command == "sacct":  # sacct -X -n -P -o JobID,State,ExitCode -j IDS
        lines = []
        for job in _jobs(directory, _split_ids([_option(args, "--jobs", "-j") or ""])):
            lines.append(f"{job.number}|{_SLURM[job.state()][1]}|{job.exit_code() or 0}:0\n")
        return "".join(lines)
    raise _Refused(f"{command}: not simulated")


# --- PBS Pro and Torque -----------------------------------------------------------------------------


# qdel's answer for a job that already ended, and its exit code (PBSE_HISTJOBID, PBSE_BADSTATE; modulo 256)
_QDEL_ENDED = {
    "pbspro": ("qdel: Job has finished {}\n", 35),
    "torque": ("qdel: Request invalid for state of job MSG=invalid state for job - COMPLETE {}\n", 170),
}
_TORQUE = {"pending": "Q", "running": "R", "completed": "C", "failed": "C", "cancelled": "C"}


def _torque_full(job: _Job) -> str:
    """One job in Torque's `qstat -f` format: attributes indented 4 spaces, long values folded onto lines
    that start with a tab, a blank line after the job. A completed job has its exit_status (256 + the
    signal for a job killed by one); a job cancelled before it started has none."""
    state = job.state()
    lines = [f"Job Id: {_pbs_id(job.number)}", f"    Job_Name = {job.meta()['name']}", "    Job_Owner = user@fakehost",
             f"    job_state = {_TORQUE[state]}", "    queue = batch", f"    server = {SERVER}"]  # fmt: skip
    if state == "cancelled" and (job.path / "started").exists():
        lines.append("    exit_status = 271")  # qdel's SIGTERM
    elif state in ("completed", "failed") and job.exit_code() is not None:
        lines.append(f"    exit_status = {job.exit_code()}")
    lines += ["    Variable_List = PBS_O_QUEUE=batch,PBS_O_HOME=/home/user,PBS_O_LANG=C.UTF-8,",
              "\tPBS_O_LOGNAME=user,PBS_O_SHELL=/bin/bash,PBS_O_HOST=fakehost"]  # fmt: skip
    return "\n".join(lines) + "\n\n"


def _pbs(directory: Path, flavor: str, command: str, args: list[str]) -> str:
    if command == "qsub":
        script = args[-1]
        return _pbs_id(_submit(directory, flavor, script, Path(script).read_text())) + "\n"
    ids = [a for a in args if not a.startswith("-") and a not in ("json",)]
    known = {job.number: job for job in _jobs(directory, ids)}
    unknown = [i for i in ids if _number(i) not in known]
    if command == "qdel":  # a job that already ended is refused, in each flavor's words
        ended = [_pbs_id(job.number) for job in known.values() if job.state() not in ("pending", "running")]
        for job in known.values():
            _cancel(job)
        message, code = _QDEL_ENDED[flavor]
        errors = [f"qdel: Unknown Job Id {i}\n" for i in unknown] + [message.format(i) for i in ended]
        if errors:
            raise _Refused("".join(errors), 153 if unknown else code)
        return ""
    if flavor == "pbspro":  # qstat -f -F json -x IDS
        history = "-x" in args
        codes = {"pending": "Q", "running": "R", "completed": "F", "failed": "F", "cancelled": "F"}
        jobs = {}
        for job in known.values():
            state = job.state()
            if not history and state not in ("pending", "running"):
                unknown.append(_pbs_id(job.number))
                continue
            entry: dict[str, Any] = {"Job_Name": job.meta()["name"], "job_state": codes[state], "queue": "workq"}
            if codes[state] == "F":
                entry["Exit_status"] = -2 if state == "cancelled" else job.exit_code()
            jobs[_pbs_id(job.number)] = entry
        output = json.dumps({"timestamp": int(time.time()), "pbs_version": "2022.1.0", "pbs_server": SERVER,
                             "Jobs": jobs}, indent=4) + "\n"  # fmt: skip
    elif "-f" in args:  # Torque: qstat -f IDS
        output = "".join(_torque_full(job) for job in known.values())
    else:  # Torque: qstat IDS
        rows = []
        for job in known.values():
            name = job.meta()["name"][:16]
            rows.append(f"{_pbs_id(job.number):<24} {name:<16} {'user':<15} 00:00:00 {_TORQUE[job.state()]} batch")
        output = ""
        if rows:
            output = f"{'Job ID':<24} {'Name':<16} {'User':<15} Time Use S Queue\n"
            output += f"{'-' * 24} {'-' * 16} {'-' * 15} -------- - -----\n" + "\n".join(rows) + "\n"
    if unknown:
        sys.stdout.write(output)
        raise _Refused("".join(f"qstat: Unknown Job Id {i}\n" for i in unknown), 153)
    return output


# --- Grid Engine ------------------------------------------------------------------------------------


def _sge(directory: Path, command: str, args: list[str]) -> str:
    if command == "qsub":
        script = args[-1]
        number = _submit(directory, "sge", script, Path(script).read_text())
        name = _Job(directory, number).meta()["name"]
        return f"{number}\n" if "-terse" in args else f'Your job {number} ("{name}") has been submitted\n'
    if command == "qstat":  # every job of the user that is queued or running
        rows = []
        for job in _jobs(directory, []):
            state = {"pending": "qw", "running": "r"}.get(job.state())
            if state:
                queue = "all.q@fakehost" if state == "r" else ""
                rows.append(
                    f"{job.number:>7} 0.55500 {job.meta()['name'][:10]:<10} user         {state:<5} "
                    f"11/25/2026 07:00:00 {queue:<30} 1"
                )
        if not rows:
            return ""
        header = "job-ID  prior   name       user         state submit/start at     queue                          slots ja-task-ID"  # noqa: E501
        return header + "\n" + "-" * 113 + "\n" + "\n".join(rows) + "\n"
    if command == "qdel":  # it answers for every job on stdout, and exits 1 if it refused one
        lines, refused = [], False
        for job_id in _split_ids([a for a in args if not a.startswith("-")]):
            jobs = _jobs(directory, [job_id])
            state = jobs[0].state() if jobs else None
            if state not in ("pending", "running"):
                refused = True
                lines.append(f'denied: job "{job_id}" does not exist\n')
                continue
            _cancel(jobs[0])
            deleted = "has deleted job {}" if state == "pending" else "has registered the job {} for deletion"
            lines.append(f"user {deleted.format(job_id)}\n")
        if refused:
            sys.stdout.write("".join(lines))
            raise SystemExit(1)  # with nothing on stderr, as the real qdel
        return "".join(lines)
    if command == "qacct":  # qacct -j ID; a job deleted before it started has no record
        jobs = _jobs(directory, [args[-1]])
        state = jobs[0].state() if jobs else None
        if state in (None, "pending", "running") or (state == "cancelled" and not (jobs[0].path / "started").exists()):
            raise _Refused(f"error: job id {args[-1]} not found")
        job = jobs[0]
        failed, code = (0, job.exit_code()) if state != "cancelled" else ("100 : assumedly after job", "137  (Killed)")
        return (
            "==============================================================\n"
            f"qname        all.q\njobname      {job.meta()['name']}\njobnumber    {job.number}\n"
            f"failed       {failed}\nexit_status  {code}\n"
        )
    raise _Refused(f"{command}: not simulated")


# --- HTCondor ---------------------------------------------------------------------------------------

_CONDOR = {"pending": 1, "running": 2, "cancelled": 3, "completed": 4, "failed": 4}


def _condor(directory: Path, command: str, args: list[str]) -> str:
    if command == "condor_submit":
        description = Path(args[-1]).read_text().replace("$(DOLLAR)", "$")  # the one macro the fake expands
        match = re.search(r"^\s*executable\s*=\s*(\S+)", description, re.MULTILINE)
        if match is None:
            raise _Refused("ERROR: No 'executable' parameter was provided")
        number = _submit(directory, "condor", match.group(1), description)
        return f"Submitting job(s).\n1 job(s) submitted to cluster {number}.\n"
    limit_values = {index + 1 for index, arg in enumerate(args) if arg in ("-limit", "-match")}
    ids = [a for index, a in enumerate(args) if a[:1].isdigit() and index not in limit_values]
    if command == "condor_rm":  # condor_rm CLUSTERS: one constraint over them all, as the real tool builds it
        clusters = [_number(i) for i in ids]
        target = f"in cluster {clusters[0]}" if len(clusters) == 1 else (
            f"matching constraint ({' || '.join(f'ClusterId == {c}' for c in clusters)})")  # fmt: skip
        queued = [job for job in _jobs(directory, ids) if job.state() in ("pending", "running")]
        for job in queued:
            _cancel(job)
        if queued:
            return f"All jobs {target} have been marked for removal\n"
        if not any(job.state() in ("pending", "running") for job in _jobs(directory, [])):
            sys.stderr.write("condor_rm:0:There are no jobs in the queue\n")  # not an error: exit code 0
            return ""
        raise _Refused(f"\nCouldn't find/remove all jobs {target}")  # after an empty error-stack line
    history = command == "condor_history"
    lines = []
    for job in _jobs(directory, ids):  # condor_q IDS -af:j JobStatus ExitCode (condor_history ... -limit N)
        state = job.state()
        if history != (state in ("completed", "failed", "cancelled")):
            continue
        code = job.exit_code() if state in ("completed", "failed") else None
        lines.append(f"{job.number}.0 {_CONDOR[state]} {'undefined' if code is None else code}\n")
    limit = _option(args, "-limit", "-match")
    return "".join(lines[: int(limit)] if limit else lines)


# --- LSF --------------------------------------------------------------------------------------------

_LSF = {"pending": "PEND", "running": "RUN", "completed": "DONE", "failed": "EXIT", "cancelled": "EXIT"}
_BSUB_FLAGS = {"-B", "-H", "-I", "-Ip", "-Is", "-K", "-N", "-r", "-rn", "-x"}  # bsub options that take no value


def _bsub_args(args: list[str]) -> tuple[str, list[str]]:
    """bsub's options as directive lines, and the command with its arguments that follow them."""
    lines, index = [], 0
    while index < len(args) and args[index].startswith("-"):
        if args[index] in _BSUB_FLAGS:
            index += 1
            continue
        lines.append(f"#BSUB {args[index]} {args[index + 1] if index + 1 < len(args) else ''}\n")
        index += 2
    return "".join(lines), args[index:]


def _lsf(directory: Path, command: str, args: list[str], stdin: str) -> str:
    if command == "bsub":  # bsub [options] < script, or bsub [options] command [arguments]
        options, words = _bsub_args(args)
        # A command's #BSUB lines are not read (LSB_BSUB_PARSE_SCRIPT is unset); options on the command line win.
        body = shlex.join(words) + "\n" if words else stdin
        script = directory / f"bsub-{time.time_ns()}.sh"
        script.write_text(body)
        number = _submit(directory, "lsf", str(script), options + ("" if words else stdin))
        return f"Job <{number}> is submitted to default queue <normal>.\n"
    ids = [a for a in args if a.isdigit()]
    known = {job.number: job for job in _jobs(directory, ids)}
    errors = [f"Job <{i}> is not found\n" for i in ids if i not in known]
    lines = []
    for job in known.values():
        state = job.state()
        if command == "bkill":
            if state in ("pending", "running"):
                _cancel(job)
                lines.append(f"Job <{job.number}> is being terminated\n")
            else:
                errors.append(f"Job <{job.number}>: Job has already finished\n")
        else:  # bjobs -noheader -o "jobid stat exit_code" IDS
            code = {"completed": "0", "failed": str(job.exit_code()), "cancelled": "130"}.get(state, "-")
            lines.append(f"{job.number} {_LSF[state]} {code}\n")
    if errors:
        sys.stdout.write("".join(lines))
        raise _Refused("".join(errors), 255)
    return "".join(lines)


# --- entry point --------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    directory, flavor, command, *args = argv
    directory_path = Path(directory)
    settings = _settings(directory_path)
    if f"hang:{command}" in settings:
        time.sleep(settings[f"hang:{command}"])
    if f"fail:{command}" in settings:
        message, code = settings[f"fail:{command}"]
        print(f"{command}: {message}", file=sys.stderr)
        return code
    try:
        if flavor == "slurm":
            output = _slurm(directory_path, command, args)
        elif flavor in ("pbspro", "torque"):
            output = _pbs(directory_path, flavor, command, args)
        elif flavor == "sge":
            output = _sge(directory_path, command, args)
        elif flavor == "condor":
            output = _condor(directory_path, command, args)
        else:
            output = _lsf(directory_path, command, args, sys.stdin.read() if command == "bsub" else "")
    except _Refused as refused:
        sys.stderr.write(str(refused) if str(refused).endswith("\n") else f"{refused}\n")
        return refused.code
    sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
