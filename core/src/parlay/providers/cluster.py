"""`ClusterProvider`: the shared half of every batch-scheduler provider.

It renders the job script (directives, `scheduler_options`, site preamble lines from plugins,
`worker_init`, the launcher-wrapped command) into `script_dir`, exports the block's deadline
(`PARLAY_BLOCK_DEADLINE`, seconds since the epoch) so workers can drain before the walltime ends, runs
scheduler commands with a timeout (a failure shows the command and its stderr), batches status and cancel
calls, and maps scheduler states onto `JobState`. A scheduler plugin supplies its directives, its
commands, their parsing and its state table.
"""

from __future__ import annotations

import contextlib
import math
import re
import shlex
import subprocess
from abc import abstractmethod
from typing import ClassVar

from parlay.config import parse_duration
from parlay.errors import ExecutionProviderException, SubmitException
from parlay.options import amount, count, declare, duration, option, text
from parlay.providers.base import ExecutionProvider, JobState, JobStatus


@declare
class ClusterProvider(ExecutionProvider):
    """A provider whose blocks are jobs of a batch scheduler driven through its command-line tools. A
    scheduler plugin declares its own options (`parlay.options`) beside these batch ones."""

    #: The scheduler's state codes -> JobState.
    states: ClassVar[dict[str, JobState]] = {}
    #: stderr lines of the status and cancel commands that are not failures: a job the scheduler has
    #: forgotten, or one that finished before it could be cancelled.
    unknown_job_errors: ClassVar[str | None] = None
    #: Whether the submit command reads the job script on stdin (`command < script`).
    submit_reads_stdin: ClassVar[bool] = False
    #: Whether the status command lists every job of the user whatever ids it is given (it takes no job
    #: ids): then it runs once per poll, not once per batch.
    status_lists_all: ClassVar[bool] = False

    walltime: str | float = option(
        "00:10:00", "longest a block may run ('HH:MM:SS' or seconds); workers drain before it ends", duration
    )
    scheduler_options: str = option("", "extra lines for the job script's header, verbatim, after the provider's", text)
    cmd_timeout: float = option(10, "seconds a scheduler command may take", amount("seconds"))
    status_polling_interval: float = option(60, "seconds between status polls", amount("seconds"))
    status_batch_size: int = option(50, "jobs per status or cancel command", count(1))

    @property
    def walltime_seconds(self) -> float:
        """`walltime` in seconds."""
        return parse_duration(self.walltime, f"{type(self).__name__}.walltime")  # type: ignore[return-value]

    # --- scheduler commands -----------------------------------------------------------------------

    def execute_wait(self, command: list[str], stdin_path: str | None = None, tolerate: str | None = None) -> str:
        """Run a scheduler command; its stdout, or an error that shows the command and its stderr.

        A non-zero exit whose every stderr line matches `tolerate` is not an error (jobs a status or
        cancel command no longer knows)."""
        shown = shlex.join(command) + (f" < {shlex.quote(stdin_path)}" if stdin_path else "")
        try:
            with open(stdin_path) if stdin_path else contextlib.nullcontext(subprocess.DEVNULL) as stdin:
                done = subprocess.run(command, capture_output=True, text=True, timeout=self.cmd_timeout, stdin=stdin)
        except subprocess.TimeoutExpired:
            raise ExecutionProviderException(f"`{shown}` did not answer within {self.cmd_timeout:g} s") from None
        except OSError as exc:
            raise ExecutionProviderException(f"`{shown}` could not run: {exc}") from exc
        errors = [line for line in done.stderr.splitlines() if line.strip()]
        if done.returncode and not (tolerate and errors and all(re.search(tolerate, line) for line in errors)):
            output = "".join(
                f"\n{name}: {text.strip()}"
                for name, text in (("stderr", done.stderr), ("stdout", done.stdout))
                if text.strip()
            )
            raise ExecutionProviderException(f"`{shown}` exited with code {done.returncode}{output}")
        return done.stdout

    def _submit(self, command: str, tasks_per_node: int, job_name: str) -> str:
        script = self.write_script(command, tasks_per_node, job_name)
        try:
            stdin = script if self.submit_reads_stdin else None
            output = self.execute_wait(self._submit_command(script), stdin_path=stdin)
            job_id = self._parse_submit(output)
        except ExecutionProviderException as exc:
            raise SubmitException(job_name, f"{exc} (script: {script})") from exc
        if not job_id:
            raise SubmitException(job_name, f"no job id in the scheduler's answer {output!r} (script: {script})")
        return job_id

    def _status(self, job_ids: list[str]) -> list[JobStatus]:
        found: dict[str, JobStatus] = {}
        for batch in [job_ids] if self.status_lists_all else self._batches(job_ids):
            output = self.execute_wait(self._status_command(batch), tolerate=self.unknown_job_errors)
            found.update(self._parse_status(output))
        unlisted = [job_id for job_id in job_ids if job_id not in found]
        if unlisted:
            found.update(self._final_status(unlisted))
        return [found.get(job_id) or self._unlisted(job_id) for job_id in job_ids]

    def _cancel(self, job_ids: list[str]) -> list[bool]:
        for batch in self._batches(job_ids):
            self.execute_wait(self._cancel_command(batch), tolerate=self.unknown_job_errors)
        return [True] * len(job_ids)

    def listed_status(self, code: str, detail: str = "") -> JobStatus:
        """The status of a job the status command listed with the scheduler's state `code`."""
        message = f"scheduler state {code}" + (f" ({detail})" if detail else "")
        return JobStatus(self.states.get(code, JobState.UNKNOWN), message=message)

    def _batches(self, job_ids: list[str]) -> list[list[str]]:
        size = self.status_batch_size
        return [job_ids[start : start + size] for start in range(0, len(job_ids), size)]

    def _final_status(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """How jobs that the status command no longer lists ended, where the scheduler keeps a record
        (an accounting command); jobs left out are reported missing."""
        return {}

    def _unlisted(self, job_id: str) -> JobStatus:
        """A job the scheduler no longer knows and has no record of."""
        return JobStatus(JobState.MISSING, message=f"job {job_id} is no longer known to the scheduler")

    def _environment(self) -> list[str]:
        """The block's deadline, for executors whose workers drain before the walltime ends."""
        return [f"export PARLAY_BLOCK_DEADLINE=$(( $(date +%s) + {int(self.walltime_seconds)} ))"]

    # --- what a scheduler plugin supplies ---------------------------------------------------------

    @abstractmethod
    def _directives(self, job_name: str, tasks_per_node: int) -> list[str]:
        """The scheduler's directive lines (comments its submit command reads), including where stdout and
        stderr go."""

    @abstractmethod
    def _submit_command(self, script_path: str) -> list[str]: ...

    @abstractmethod
    def _parse_submit(self, stdout: str) -> str:
        """The job id from the submit command's output."""

    @abstractmethod
    def _status_command(self, job_ids: list[str]) -> list[str]: ...

    @abstractmethod
    def _parse_status(self, stdout: str) -> dict[str, JobStatus]:
        """Job id -> its status (`listed_status` of the scheduler's state code), for the jobs the status
        command listed."""

    @abstractmethod
    def _cancel_command(self, job_ids: list[str]) -> list[str]: ...


def hms(seconds: float | None) -> str:
    """A walltime as HH:MM:SS (hours may pass 24), rounded up to whole seconds, as several schedulers take it."""
    total = math.ceil(seconds or 0)
    return f"{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}"
