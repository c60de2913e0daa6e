"""`parlay status [RUN_DIR]`: a summary of a run, finished, failed, killed or still going.

A plugin that recorded the run answers first (`parlay_status_report`: the monitoring plugin, from its
database). Otherwise parlay summarizes what every run leaves in its folder: `parlay.log` (the run id, when it
started and ended, the tasks by final state, failed tries, warnings and errors) and the job journal
(`jobs.jsonl`: the blocks it submitted and what became of them). Without RUN_DIR, the latest run under
`./runinfo`; a folder of runs stands for its latest run.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

from parlay.dataflow.rundirs import run_numbers
from parlay.errors import BadJournal
from parlay.providers.base import JOURNAL, read_journal

LOG = "parlay.log"
#: How many failures and log problems the summary lists.
FIRST = 5
_RECORD = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<logger>\S+):\d+ .*? "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<message>.*)$"
)
_STARTING = re.compile(r"^parlay run (?P<run_id>\S+) starting in (?P<run_dir>.*)$")
_CLEANING = re.compile(r"^cleaning up run (?P<run_id>\S+)$")
_FINISHED = re.compile(r"^run (?P<run_id>\S+) finished; tasks by final state: (?P<counts>\{.*\})$")
_NOT_STARTED = re.compile(r"^run (?P<run_id>\S+) could not start \((?P<why>.*)\); stopping what had started$")
#: A failed try that was retried (`task 3 failed (ValueError('bad')); retry 1`), and a task's final failure
#: (`task 3 (app) failed: ValueError: bad`), should the kernel log one.
_RETRIED = re.compile(r"^task (?P<task>\d+) failed \((?P<error>.*)\); retry (?P<retry>\d+)$")
_FAILED = re.compile(r"^task (?P<task>\d+) \((?P<app>[^)]*)\) (?P<state>failed|dep_fail): (?P<error>.*)$")
_JOB_NAME = re.compile(r"^parlay\.(?P<executor>.+)\.block-(?P<block>[^.]+)$")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S,%f"


class NotARun(Exception):
    """The folder given (or ./runinfo) holds no run."""


# --- finding the run ------------------------------------------------------------------------------


def is_run(path: str) -> bool:
    """Whether `path` is a run directory: it holds a run's log or job journal."""
    return os.path.isfile(os.path.join(path, LOG)) or os.path.isfile(os.path.join(path, JOURNAL))


def latest_run(root: str) -> str | None:
    """The run directory under `root` with the highest number, or None."""
    for number in reversed(run_numbers(root)):
        path = os.path.join(root, f"{number:03d}")
        if is_run(path):
            return path
    return None


def find_run(path: str | None) -> str:
    """The run directory `path` names: itself, or the latest run of a folder of runs (`runinfo`); without a
    path, the latest run under `./runinfo`. Raises `NotARun` when there is none."""
    if path is None:
        if not os.path.isdir("runinfo"):
            raise NotARun("no RUN_DIR given and no runinfo folder here: give a run directory (runinfo/NNN)")
        found = latest_run("runinfo")
        if found is None:
            raise NotARun("no RUN_DIR given and runinfo holds no run: give a run directory (runinfo/NNN)")
        return found
    if not os.path.exists(path):
        raise NotARun(f"{path}: no such folder")
    if not os.path.isdir(path):
        raise NotARun(f"{path} is not a folder: give a run directory (runinfo/NNN)")
    if is_run(path):
        return path
    return latest_run(path) or path


# --- reading the run's files ----------------------------------------------------------------------


@dataclass
class RunLog:
    """What `parlay.log` says of one run."""

    run_id: str | None = None
    started: str | None = None
    cleanup: str | None = None  # when its cleanup began
    ended: str | None = None
    last: str | None = None  # the time of the run's last record
    not_started: str | None = None  # why its start failed
    counts: dict[str, int] | None = None
    failures: list[str] = field(default_factory=list)  # "task N (app): error", first ones
    failure_count: int = 0
    retried: list[str] = field(default_factory=list)  # "task N, try K: error", first ones
    retried_count: int = 0
    problems: list[str] = field(default_factory=list)  # "time LEVEL message", first ones
    problem_count: int = 0
    block_problems: dict[tuple[str, str], str] = field(default_factory=dict)  # (executor, block) -> problem


def records(path: str) -> list[tuple[str, str, str, str]]:
    """The records of a log file written with parlay's format: (time, logger, level, message); the lines
    that follow a record without a header of their own (a traceback) are part of its message."""
    found: list[tuple[str, str, str, str]] = []
    with open(path, errors="replace") as stream:
        for line in stream:
            line = line.rstrip("\n")
            match = _RECORD.match(line)
            if match:
                found.append((match["time"], match["logger"], match["level"], match["message"]))
            elif found and line:
                time_, logger, level, message = found[-1]
                found[-1] = (time_, logger, level, f"{message}\n{line}")
    return found


def read_log(run_dir: str) -> RunLog | None:
    """Parse the run's `parlay.log` (None when there is none). A log may hold records of other runs of the
    same process: once the run's id is known, their run-level lines are left out."""
    path = os.path.join(run_dir, LOG)
    if not os.path.isfile(path):
        return None
    run = RunLog()
    wanted = os.path.normpath(os.path.abspath(run_dir))
    for time_, _logger, level, message in records(path):
        first = message.split("\n", 1)[0]
        match = _STARTING.match(first)
        if match:
            if _same_folder(match["run_dir"], wanted) or run.run_id is None:
                run.run_id, run.started, run.last = match["run_id"], time_, time_
            continue
        run_id = _run_id_of(first)
        if run_id is not None and run.run_id is not None and run_id != run.run_id:
            continue  # a line of another run that logs to this file
        run.last = time_
        if match := _FINISHED.match(first):
            run.ended = time_
            run.counts = _counts(match["counts"])
        elif _CLEANING.match(first):
            run.cleanup = time_
        elif match := _NOT_STARTED.match(first):
            run.not_started, run.ended = match["why"], time_
        elif match := _RETRIED.match(first):
            run.retried_count += 1
            if len(run.retried) < FIRST:
                run.retried.append(f"task {match['task']}, try {int(match['retry']) - 1}: {match['error']}")
        elif match := _FAILED.match(first):
            run.failure_count += 1
            if len(run.failures) < FIRST:
                run.failures.append(f"task {match['task']} ({match['app']}) {match['state']}: {match['error']}")
        elif level in ("WARNING", "ERROR", "CRITICAL"):
            run.problem_count += 1
            if len(run.problems) < FIRST:
                run.problems.append(f"{_clock(time_)} {level} {first}")
            block = _block_problem(first)
            if block is not None:
                run.block_problems[block[0]] = block[1]
    return run


def _same_folder(logged: str, wanted: str) -> bool:
    """Whether the folder a run logged (relative to where it ran, perhaps) is `wanted` (absolute)."""
    if os.path.isabs(logged):
        return os.path.normpath(logged) == wanted
    parts = [part for part in os.path.normpath(logged).split(os.sep) if part not in ("", os.curdir, os.pardir)]
    return bool(parts) and wanted.split(os.sep)[-len(parts) :] == parts


def _run_id_of(message: str) -> str | None:
    for pattern in (_CLEANING, _FINISHED, _NOT_STARTED):
        match = pattern.match(message)
        if match:
            return match["run_id"]
    return None


def _counts(text: str) -> dict[str, int] | None:
    try:
        counts = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(counts, dict) or not all(isinstance(n, int) for n in counts.values()):
        return None
    return {str(state): n for state, n in counts.items()}


def _block_problem(message: str) -> tuple[tuple[str, str], str] | None:
    match = re.match(r"^executor (\S+) could not start block (\S+)", message)
    if match:
        return (match[1], match[2]), "could not be submitted"
    match = re.match(r"^executor (\S+): block (\S+) never started(.*)$", message)
    if match:
        return (match[1], match[2]), f"never started{match[3]}"
    return None


@dataclass
class Block:
    """One job of the run's journal."""

    executor: str
    block: str
    provider: str
    job_id: str
    state: str
    time: float | None


def read_blocks(run_dir: str) -> tuple[list[Block], list[str]]:
    """The jobs the run's journal records, with their last known state, and what was wrong with the journal."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            journal = read_journal(run_dir)
        except BadJournal as exc:
            return [], [str(exc)]
    notes += [str(warning.message) for warning in caught]
    blocks = []
    for (label, job_id), entry in journal.items():
        if "resource" in entry:
            continue  # a cloud resource (a network, a secret) the run created, not a block
        match = _JOB_NAME.match(str(entry.get("job_name", "")))
        executor, block = (match["executor"], match["block"]) if match else ("?", str(entry.get("job_name", "?")))
        state = "cancelled" if entry.get("event") == "cancelled" else "submitted"
        provider = f"{entry.get('provider', '?')} {label!r}"
        blocks.append(Block(executor, block, provider, job_id, state, entry.get("time")))
    return sorted(blocks, key=lambda b: (b.executor, _number(b.block), b.job_id)), notes


def _number(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (sys.maxsize, text)


# --- the summary ----------------------------------------------------------------------------------


def report(run_dir: str, hooks: Any = None) -> str | None:
    """What `parlay status` prints for `run_dir`: a plugin's answer to `parlay_status_report` (through
    `hooks`, a `parlay.plugins.manager.Hooks`, when given), else parlay's own summary; None when the folder
    is no run and no plugin knows it. A plugin that fails is named on stderr and passed over."""
    if hooks is not None:
        try:
            answer = hooks.pm.hook.parlay_status_report(run_dir=run_dir)
        except Exception as exc:
            plugin = getattr(exc, "parlay_plugin", "a plugin")
            print(f"parlay status: {plugin} failed ({type(exc).__name__}: {exc}); parlay's own summary follows",
                  file=sys.stderr)  # fmt: skip
            answer = None
        if answer is not None:
            return str(answer)
    return summary(run_dir) if is_run(run_dir) else None


def summary(run_dir: str, now: float | None = None) -> str:
    """parlay's own summary of a run, from its log and job journal."""
    run = read_log(run_dir)
    blocks, journal_notes = read_blocks(run_dir)
    lines = [f"run {run.run_id if run and run.run_id else '(id unknown: no parlay.log)'}", f"  run dir:   {run_dir}"]
    if run is None:
        lines.append("  log:       none (the run was loaded with Config(initialize_logging=False)?)")
    else:
        lines += _times(run, now)
        lines += _tasks(run)
        lines += _listed(f"warnings and errors in {LOG}", run.problems, run.problem_count)
    lines += _blocks(blocks, run)
    lines += [f"  journal:   {note}" for note in journal_notes]
    return "\n".join(lines)


def _times(run: RunLog, now: float | None) -> list[str]:
    lines = [f"  started:   {_stamp(run.started)}"]
    if run.not_started is not None:
        lines.append(f"  ended:     {_stamp(run.ended)}: the run could not start ({run.not_started})")
    elif run.ended is not None:
        lines.append(f"  ended:     {_stamp(run.ended)} (after {_between(run.started, run.ended)})")
    else:
        ago = _ago(run.last, now)
        began = f"; its cleanup began at {_stamp(run.cleanup)}" if run.cleanup else ""
        lines.append(
            f"  ended:     no: still running, or did not end cleanly (killed?){began}; last logged "
            f"{_stamp(run.last)}{ago}"
        )
    return lines


def _tasks(run: RunLog) -> list[str]:
    lines = []
    if run.counts is not None:
        total = sum(run.counts.values())
        by_state = ", ".join(f"{n} {state}" for state, n in run.counts.items())
        lines.append(f"  tasks:     {total}{f' ({by_state})' if by_state else ''}")
    elif run.not_started is None:
        lines.append(f"  tasks:     not known: {LOG} counts them when the run ends")
    failed = sum(n for state, n in (run.counts or {}).items() if state in ("failed", "dep_fail"))
    if run.failures:
        lines += _listed("failures", run.failures, run.failure_count)
    elif failed:
        lines.append(f"  failures:  {failed}; {LOG} records no task's final error (a monitoring plugin does)")
    lines += _listed("failed tries that were retried", run.retried, run.retried_count)
    return lines


def _listed(title: str, items: list[str], count: int) -> list[str]:
    """A heading with how many there are, then the first few, indented."""
    if not items:
        return []
    return [f"  {title} ({count}{', first' if count > len(items) else ''}):", *(f"    {item}" for item in items)]


def _blocks(blocks: list[Block], run: RunLog | None) -> list[str]:
    problems = dict(run.block_problems) if run else {}
    ended = run is not None and run.ended is not None
    lines = []
    for block in blocks:
        problem = problems.pop((block.executor, block.block), None)
        if block.state == "cancelled":
            state = "cancelled by the run"
        elif ended:
            state = "submitted, ended on its own (not cancelled by the run)"
        else:
            state = "submitted, may still be queued or running (`parlay cleanup` cancels it)"
        state += f"; {problem}" if problem else ""
        lines.append(f"    {block.executor} block {block.block}: {block.provider} job {block.job_id}, {state}")
    lines += [f"    {executor} block {block}: {problem}" for (executor, block), problem in sorted(problems.items())]
    if not lines:
        return ["  blocks:    none (no block-provider executor, or none was started)"]
    return [f"  blocks ({len(lines)}):", *lines]


def _parse(stamp: str | None) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(stamp, _TIME_FORMAT) if stamp else None
    except ValueError:
        return None


def _stamp(stamp: str | None) -> str:
    return stamp.split(",")[0] if stamp else "unknown"


def _clock(stamp: str) -> str:
    return stamp.split(" ")[-1].split(",")[0]


def _between(start: str | None, end: str | None) -> str:
    begin, finish = _parse(start), _parse(end)
    if begin is None or finish is None:
        return "an unknown time"
    return _seconds((finish - begin).total_seconds())


def _ago(stamp: str | None, now: float | None) -> str:
    then = _parse(stamp)
    if then is None:
        return ""
    seconds = (now if now is not None else datetime.datetime.now().timestamp()) - then.timestamp()
    return f", {_seconds(seconds)} ago" if seconds >= 0 else ""


def _seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


# --- the command ----------------------------------------------------------------------------------


def status_command(args: argparse.Namespace) -> int:
    """The CLI entry: print the run's summary; exit 2 when there is no run to summarize."""
    try:
        run_dir = find_run(args.run_dir)
    except NotARun as exc:
        print(f"parlay status: {exc}", file=sys.stderr)
        return 2
    from parlay.plugins.manager import get_hooks

    text = report(run_dir, get_hooks())
    if text is None:
        print(f"parlay status: {run_dir} is not a run directory (no {LOG} or {JOURNAL} in it, nor runs "
              "numbered 000, 001, ...): give runinfo/NNN", file=sys.stderr)  # fmt: skip
        return 2
    print(text)
    return 0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("status", help="summarize a run: its tasks, failures and blocks")
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", nargs="?", default=None,
        help="a run directory (runinfo/NNN), or a folder of runs for its latest; default: the latest under ./runinfo",
    )  # fmt: skip
    parser.set_defaults(func=status_command)
