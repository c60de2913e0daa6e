"""`ClusterProvider`: the shared half of every batch-scheduler provider.

It renders the job script (directives, `scheduler_options`, site preamble lines from plugins,
`worker_init`, the launcher-wrapped command) into `script_dir`, runs scheduler commands with a timeout
(a failure shows the command and its stderr), batches status and cancel calls, and maps scheduler states
onto `JobState`. A scheduler plugin supplies its directives, its commands, their parsing and its state table.
"""

from __future__ import annotations

import shlex
import subprocess
from abc import abstractmethod
from typing import Any, ClassVar

from parlay.config import parse_duration
from parlay.errors import ConfigurationError, ExecutionProviderException, SubmitException
from parlay.providers.base import ExecutionProvider, JobState, JobStatus


class ClusterProvider(ExecutionProvider):
    """A provider whose blocks are jobs of a batch scheduler driven through its command-line tools."""

    #: The scheduler's state codes -> JobState.
    states: ClassVar[dict[str, JobState]] = {}

    def __init__(
        self,
        *,
        label: str,
        walltime: str | float = "00:10:00",
        scheduler_options: str = "",
        cmd_timeout: float = 10,
        status_batch_size: int = 50,
        **options: Any,
    ):
        super().__init__(label=label, **options)
        owner = type(self).__name__
        self.walltime = walltime
        self.walltime_seconds = parse_duration(walltime, f"{owner}.walltime")
        if isinstance(cmd_timeout, bool) or not isinstance(cmd_timeout, (int, float)) or cmd_timeout <= 0:
            raise ConfigurationError(f"{owner}.cmd_timeout={cmd_timeout!r}: expected a number of seconds > 0")
        if isinstance(status_batch_size, bool) or not isinstance(status_batch_size, int) or status_batch_size < 1:
            raise ConfigurationError(f"{owner}.status_batch_size={status_batch_size!r}: expected an integer >= 1")
        self.scheduler_options = scheduler_options
        self.cmd_timeout = cmd_timeout
        self.status_batch_size = status_batch_size

    # --- scheduler commands -----------------------------------------------------------------------

    def execute_wait(self, command: list[str]) -> str:
        """Run a scheduler command; its stdout, or an error that shows the command and its stderr."""
        shown = shlex.join(command)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.cmd_timeout)
        except subprocess.TimeoutExpired:
            raise ExecutionProviderException(f"`{shown}` did not answer within {self.cmd_timeout:g} s") from None
        except OSError as exc:
            raise ExecutionProviderException(f"`{shown}` could not run: {exc}") from exc
        if done.returncode:
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
            return self._parse_submit(self.execute_wait(self._submit_command(script)))
        except ExecutionProviderException as exc:
            raise SubmitException(job_name, f"{exc} (script: {script})") from exc

    def _status(self, job_ids: list[str]) -> list[JobStatus]:
        found: dict[str, JobStatus] = {}
        for start in range(0, len(job_ids), self.status_batch_size):
            batch = job_ids[start : start + self.status_batch_size]
            for job_id, code in self._parse_status(self.execute_wait(self._status_command(batch))).items():
                found[job_id] = JobStatus(self.states.get(code, JobState.UNKNOWN), message=f"scheduler state {code}")
        return [found.get(job_id) or self._unlisted(job_id) for job_id in job_ids]

    def _cancel(self, job_ids: list[str]) -> list[bool]:
        for start in range(0, len(job_ids), self.status_batch_size):
            self.execute_wait(self._cancel_command(job_ids[start : start + self.status_batch_size]))
        return [True] * len(job_ids)

    def _unlisted(self, job_id: str) -> JobStatus:
        """A job the status command no longer lists (schedulers forget finished jobs)."""
        return JobStatus(JobState.MISSING, message=f"job {job_id} is no longer known to the scheduler")

    # --- what a scheduler plugin supplies ---------------------------------------------------------

    @abstractmethod
    def _directives(self, job_name: str, tasks_per_node: int) -> list[str]:
        """The scheduler's directive lines (`#SBATCH ...`), including where stdout and stderr go."""

    @abstractmethod
    def _submit_command(self, script_path: str) -> list[str]: ...

    @abstractmethod
    def _parse_submit(self, stdout: str) -> str:
        """The job id from the submit command's output."""

    @abstractmethod
    def _status_command(self, job_ids: list[str]) -> list[str]: ...

    @abstractmethod
    def _parse_status(self, stdout: str) -> dict[str, str]:
        """Job id -> the scheduler's state code, for the jobs the status command listed."""

    @abstractmethod
    def _cancel_command(self, job_ids: list[str]) -> list[str]: ...
