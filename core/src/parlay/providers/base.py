"""The provider interface: how blocks (batch jobs, cloud instances, local process groups) are started,
watched and stopped. Scheduler states all map onto one `JobState`."""

from __future__ import annotations

import enum
import json
import logging
import os
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from parlay.errors import BadJournal, ConfigurationError, ExecutionProviderException, RunFileWarning, add_note
from parlay.launchers.base import Launcher
from parlay.launchers.builtin import SingleNodeLauncher
from parlay.options import REQUIRED, Check, amount, count, declare, fraction, option, optional, state, text

if TYPE_CHECKING:
    from parlay.plugins.manager import Hooks

JOURNAL = "jobs.jsonl"
logger = logging.getLogger(__name__)


class JobState(enum.Enum):
    """Where a block's job is, whatever the scheduler calls it."""

    UNKNOWN = "UNKNOWN"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    HELD = "HELD"
    MISSING = "MISSING"
    SCALED_IN = "SCALED_IN"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {JobState.CANCELLED, JobState.COMPLETED, JobState.FAILED, JobState.TIMEOUT, JobState.MISSING, JobState.SCALED_IN}
)


class JobStatus:
    """A job's state, with what the scheduler said and where the job's output went."""

    __slots__ = ("exit_code", "message", "state", "stderr_path", "stdout_path")

    def __init__(
        self,
        state: JobState,
        message: str | None = None,
        exit_code: int | None = None,
        stdout_path: str | None = None,
        stderr_path: str | None = None,
    ):
        self.state = state
        self.message = message
        self.exit_code = exit_code
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    def stdout_tail(self, limit: int = 2048) -> str:
        return _tail(self.stdout_path, limit)

    def stderr_tail(self, limit: int = 2048) -> str:
        return _tail(self.stderr_path, limit)

    def __repr__(self) -> str:
        extra = f", exit_code={self.exit_code}" if self.exit_code is not None else ""
        return f"JobStatus({self.state.name}{extra}, message={self.message!r})"


def _tail(path: str | None, limit: int) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            stream.seek(max(0, stream.tell() - limit))
            return stream.read().decode(errors="replace")
    except OSError:
        return ""


@declare
class ExecutionProvider(ABC):
    """Starts and stops blocks. Template methods (`submit`, `status`, `cancel`) own the checks, the
    journal and error notes; a plugin implements `_submit`, `_status` and `_cancel`, and declares its own
    options (`parlay.options`) beside the common ones here.

    The DataFlowKernel sets `script_dir` to `runinfo/NNN/submit_scripts`, and `hooks` to the run's hooks,
    before the executor starts; outside a run the process-wide hooks shape job scripts.
    """

    #: How often the kernel should ask for status, in seconds.
    status_polling_interval: ClassVar[float] = 60.0
    #: The entry-point name of the provider, recorded in the journal for `parlay cleanup`.
    kind: ClassVar[str] = ""
    #: Extra scheduler directives users pass through verbatim (batch-scheduler providers make it an option).
    scheduler_options: ClassVar[str] = ""
    #: Whether `scheduler_options` go into the job script after the directives (some schedulers read them
    #: from elsewhere).
    scheduler_options_in_script: ClassVar[bool] = True
    #: Whether blocks run on the submitting host, so executors may reach them over loopback and local sockets.
    blocks_on_this_host: ClassVar[bool] = False
    #: Whether the blocks' hosts see the submitting host's files (the run directory, the executor's keys, its
    #: Python). Cloud providers do not: they deliver `secret_environment` to the block themselves.
    shares_filesystem: ClassVar[bool] = True

    label: str = option(REQUIRED, "the provider's name in logs and in the run's journal of jobs", text)
    nodes_per_block: int = option(1, "nodes in each block", count(1))
    init_blocks: int = option(1, "blocks started when the executor starts", count(0))
    min_blocks: int = option(0, "blocks kept however idle the executor is", count(0))
    max_blocks: int = option(1, "blocks running at most at once", count(0))
    parallelism: float = option(
        1, "how many of the outstanding tasks to provision workers for, from 0 (only `min_blocks`) to 1", fraction
    )
    worker_init: str = option("", "shell lines run before the workers start (module loads, environments)", text)
    launcher: Launcher = option(
        attrs.Factory(SingleNodeLauncher),
        "how the worker command is started on the block's nodes",
        Check(lambda value: isinstance(value, Launcher), "a launcher, such as SingleNodeLauncher()"),
    )
    cores_per_node: int | None = option(
        None, "cores of each node the block asks for; executors may size their workers by it", optional(count(1))
    )
    mem_per_node: float | None = option(
        None,
        "gigabytes of memory of each node the block asks for; executors may size their workers by it",
        optional(amount("gigabytes")),
    )

    script_dir: str | None = state()
    hooks: Hooks | None = state()
    run_id: str | None = state()  # the kernel's run id, journaled with each job and carried by cloud tags
    # environment variables every block's processes need and nobody else may read (the executor's keys, when
    # the filesystem is not shared); providers with `shares_filesystem=False` deliver them privately
    secret_environment: dict[str, str] = state(factory=dict)
    job_names: dict[str, str] = state(factory=dict)  # job id -> job name, for every job this provider submitted
    cancelled_jobs: set[str] = state(factory=set)  # jobs this provider cancelled
    _journal_lock: threading.Lock = state(factory=threading.Lock)
    _journal_failed: bool = state(False)  # a journal write failed (and was warned about)

    def __attrs_post_init__(self) -> None:
        if self.min_blocks > self.max_blocks:
            raise ConfigurationError(
                f"{type(self).__name__}.min_blocks={self.min_blocks} must not exceed max_blocks={self.max_blocks}"
            )

    # --- template methods -------------------------------------------------------------------------

    def submit(self, command: str, tasks_per_node: int, job_name: str) -> str:
        """Start one block running `command`; return its job id. The job is journaled at once."""
        try:
            job_id = self._submit(command, tasks_per_node, job_name)
        except Exception as exc:
            add_note(exc, f"while {type(self).__name__} {self.label!r} submitted job {job_name}")
            raise
        self.job_names[job_id] = job_name
        self._journal({"event": "submitted", "job_id": job_id, "job_name": job_name, "options": self.cleanup_options()})
        return job_id

    def status(self, job_ids: Sequence[str]) -> list[JobStatus]:
        """The status of each job, in order, with where its stdout and stderr go. A job this provider
        cancelled that the scheduler reports failed or forgotten (many cannot tell a killed job from a
        failed one) is reported cancelled."""
        if not job_ids:
            return []
        statuses = self._status(list(job_ids))
        if len(statuses) != len(job_ids):
            raise ExecutionProviderException(
                f"{type(self).__name__} returned {len(statuses)} statuses for {len(job_ids)} jobs"
            )
        for job_id, status in zip(job_ids, statuses, strict=True):
            job_name = self.job_names.get(job_id)
            if job_name and status.stdout_path is None and self.script_dir is not None:
                status.stdout_path, status.stderr_path = self.output_paths(job_name)
            if job_id in self.cancelled_jobs and status.state in (JobState.FAILED, JobState.MISSING):
                status.state = JobState.CANCELLED
        return statuses

    def cancel(self, job_ids: Sequence[str]) -> list[bool]:
        """Cancel jobs; return whether each was cancelled. Cancelled jobs are journaled."""
        if not job_ids:
            return []
        results = self._cancel(list(job_ids))
        for job_id, cancelled in zip(job_ids, results, strict=True):
            if cancelled:
                self.cancelled_jobs.add(job_id)
                self._journal({"event": "cancelled", "job_id": job_id})
        return results

    def adopt(self, job_id: str, job_name: str) -> None:
        """Take charge of a job another process submitted (`parlay cleanup` does this from the journal)."""
        self.job_names[job_id] = job_name

    def release(self) -> None:
        """Delete what the provider created for the run beyond its jobs (networks, security groups, secrets),
        by `sweep`; the executor calls it once its blocks are cancelled, however the run ends."""
        if self.run_id is None:
            return
        for line in self.sweep(self.run_id):
            logger.info("%s %r at the end of the run: %s", type(self).__name__, self.label, line)

    def sweep(self, run_id: str, recorded: Sequence[dict[str, Any]] = (), dry_run: bool = False) -> list[str]:
        """Find what run `run_id` created and left (by the `recorded` journal entries and by tags), delete
        it unless `dry_run`, and return a line per resource; `parlay cleanup` calls it after cancelling the
        journaled jobs. Batch providers leave nothing beyond their jobs."""
        return []

    def cleanup_options(self) -> dict[str, Any]:
        """Constructor arguments that let `parlay cleanup` rebuild a provider able to find and cancel this
        one's jobs (journaled with each job). Providers whose commands depend on more than the label
        (a cluster name, a cloud region) add those options."""
        return {"label": self.label}

    # --- the job script ---------------------------------------------------------------------------

    def output_paths(self, job_name: str) -> tuple[str, str]:
        """Where a job's stdout and stderr go (beside its script)."""
        base = os.path.join(self._script_dir(), job_name)
        return base + ".stdout", base + ".stderr"

    def job_script(self, command: str, tasks_per_node: int, job_name: str, nodes: int | None = None) -> str:
        """The full text of the script that `submit` hands to the scheduler, whose launcher starts `command` on
        `nodes` nodes (default: `nodes_per_block`; cloud instances and pods each run it for their one node)."""
        from parlay.plugins.manager import get_hooks

        nodes = nodes or self.nodes_per_block
        hooks = self.hooks or get_hooks()
        command = hooks.launch_command(
            launcher=self.launcher, command=command, tasks_per_node=tasks_per_node, nodes_per_block=nodes
        )
        launched = self.launcher(command, tasks_per_node, nodes)
        parts = [
            "#!/bin/bash",
            *self._directives(job_name, tasks_per_node),
            self.scheduler_options.strip() if self.scheduler_options_in_script else "",
            *self._environment(),
            *hooks.job_preamble(provider=self, job_name=job_name),
            self.worker_init.strip(),
            launched,
        ]
        return "\n".join(p for p in parts if p) + "\n"

    def script_path(self, job_name: str) -> str:
        """Where the job script of `job_name` is written."""
        return os.path.join(self._script_dir(), job_name + ".submit")

    def write_script(self, command: str, tasks_per_node: int, job_name: str, nodes: int | None = None) -> str:
        path = self.script_path(job_name)
        with open(path, "w") as stream:
            # `nodes` only when asked for: a provider that overrides job_script without it still writes whole blocks
            arguments = (command, tasks_per_node, job_name, nodes) if nodes else (command, tasks_per_node, job_name)
            stream.write(self.job_script(*arguments))
        os.chmod(path, 0o755)
        return path

    def _script_dir(self) -> str:
        if self.script_dir is None:
            raise ExecutionProviderException(f"{type(self).__name__} {self.label!r} has no script_dir yet")
        os.makedirs(self.script_dir, exist_ok=True)
        return self.script_dir

    def _directives(self, job_name: str, tasks_per_node: int) -> list[str]:
        """Scheduler directive lines at the top of the job script; none for providers without a scheduler."""
        return []

    def _environment(self) -> list[str]:
        """Lines that set the job's environment before `worker_init` (a walltime deadline, for example)."""
        return []

    # --- the journal ------------------------------------------------------------------------------

    @property
    def journal_path(self) -> str | None:
        """`runinfo/NNN/jobs.jsonl`, beside the submit scripts; None before the kernel sets `script_dir`."""
        if self.script_dir is None:
            return None
        return os.path.join(os.path.dirname(os.path.abspath(self.script_dir)), JOURNAL)

    def _journal(self, entry: dict[str, Any]) -> None:
        """Append one line to the journal, synced to disk. A write that fails (a full disk) is warned about once
        and the run goes on: its own cleanup still cancels the job."""
        path = self.journal_path
        if path is None:
            return
        entry = {"time": time.time(), "provider": self.kind or type(self).__name__, "label": self.label, **entry}
        if self.run_id is not None:
            entry["run_id"] = self.run_id
        line = json.dumps(entry) + "\n"
        try:
            with self._journal_lock, open(path, "a") as stream:
                stream.write(line)
                stream.flush()
                os.fsync(stream.fileno())  # a crash right after submission must not lose the job
        except OSError as exc:
            if not self._journal_failed:
                self._journal_failed = True
                text = (
                    f"cannot write the job journal {path} ({exc.strerror or exc}); the run goes on, but if it is "
                    f"killed, `parlay cleanup` does not know of job {entry['job_id']} and later ones"
                )
                warnings.warn_explicit(text, RunFileWarning, "parlay", 0)

    # --- what a plugin implements -----------------------------------------------------------------

    @abstractmethod
    def _submit(self, command: str, tasks_per_node: int, job_name: str) -> str: ...

    @abstractmethod
    def _status(self, job_ids: list[str]) -> list[JobStatus]: ...

    @abstractmethod
    def _cancel(self, job_ids: list[str]) -> list[bool]: ...


def read_journal(run_dir: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The jobs a run submitted, keyed by (provider label, job id), each with its latest event
    (`submitted` or `cancelled`) merged over the earlier ones. An incomplete last line (the run was killed
    while writing it) is skipped with a `RunFileWarning`; any other line that is not a job entry raises
    `BadJournal` naming the file and the line."""
    path = os.path.join(run_dir, JOURNAL)
    jobs: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        stream = open(path, errors="replace")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return jobs
    with stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key = (entry["label"], entry["job_id"])
            except (ValueError, KeyError, TypeError) as exc:
                if line.endswith("\n"):
                    raise BadJournal(
                        f"{path}, line {number}, is not a job entry ({type(exc).__name__}: {exc}); repair or delete "
                        "that line (a job it named is then not known: look for it in the scheduler's queue)"
                    ) from None
                text = (
                    f"{path} ends with an incomplete line (its run was killed while writing it?), ignored; a job it "
                    "named, if any, is not known: look for it in the scheduler's queue"
                )
                warnings.warn_explicit(text, RunFileWarning, "parlay", 0)
                break
            jobs.setdefault(key, {}).update(entry)
    return jobs
