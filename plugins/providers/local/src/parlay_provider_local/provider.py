"""`LocalProvider`: blocks are process groups on this machine."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import ClassVar

from parlay.errors import SubmitException
from parlay.execution import kill_group
from parlay.options import amount, declare, non_negative, option, state
from parlay.providers.base import ExecutionProvider, JobState, JobStatus


@declare(defaults={"label": "local"}, internal=("cores_per_node", "mem_per_node"))
class LocalProvider(ExecutionProvider):
    """Runs each block's job script with bash in a session of its own; the job id is its process id."""

    kind = "local"
    blocks_on_this_host = True
    status_polling_interval: ClassVar[float] = 5.0

    cmd_timeout: float = option(
        30, "accepted for Parsl's configs and unused: local blocks need no scheduler commands", amount("seconds")
    )
    cancel_grace: float = option(
        2.0, "seconds a cancelled block has to exit after SIGTERM, before SIGKILL", non_negative("seconds")
    )

    _jobs: dict[str, subprocess.Popen] = state(factory=dict)  # job id -> its bash, for jobs this process started

    def _submit(self, command: str, tasks_per_node: int, job_name: str) -> str:
        script = self.write_script(command, tasks_per_node, job_name)
        out, err = self.output_paths(job_name)
        # the exit code is written by a wrapper, so status still knows it after this process is gone
        wrapper = 'bash "$0" >"$1" 2>"$2"; echo $? >"$0.ec"'
        try:
            proc = subprocess.Popen(
                ["bash", "-c", wrapper, script, out, err], start_new_session=True, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise SubmitException(job_name, f"cannot start bash for {script}: {exc}") from exc
        job_id = str(proc.pid)
        self._jobs[job_id] = proc
        return job_id

    def _status(self, job_ids: list[str]) -> list[JobStatus]:
        return [self._one_status(job_id) for job_id in job_ids]

    def _one_status(self, job_id: str) -> JobStatus:
        if job_id not in self.job_names:
            return JobStatus(JobState.MISSING, message=f"job {job_id} was not started by this provider")
        if self._alive(job_id):
            return JobStatus(JobState.RUNNING)
        if job_id in self._jobs:
            kill_group(int(job_id))  # the job is over: nothing it started may outlive it
        script = self.script_path(self.job_names[job_id])
        try:
            with open(script + ".ec") as stream:
                code: int | None = int(stream.read().strip())
        except (OSError, ValueError):
            proc = self._jobs.get(job_id)
            code = proc.returncode if proc is not None else None
        if code == 0:
            return JobStatus(JobState.COMPLETED, exit_code=0)
        if code is None:
            return JobStatus(JobState.MISSING, message=f"job {job_id} ended without leaving its exit code")
        return JobStatus(JobState.FAILED, message=f"job script exited with code {code}", exit_code=code)

    def _alive(self, job_id: str) -> bool:
        """Whether the job's bash is still running: from its Popen when this process started it, else (for
        jobs adopted by `parlay cleanup`) from its command line, so a recycled process id is not mistaken."""
        proc = self._jobs.get(job_id)
        if proc is not None:
            return proc.poll() is None
        try:
            with open(f"/proc/{job_id}/cmdline", "rb") as stream:
                argv = stream.read().split(b"\0")
        except OSError:
            return False
        return self.script_path(self.job_names[job_id]).encode() in argv

    def _cancel(self, job_ids: list[str]) -> list[bool]:
        running = []
        for job_id in job_ids:
            if job_id in self.job_names and job_id not in self.cancelled_jobs and self._alive(job_id):
                kill_group(int(job_id), signal.SIGTERM)
                running.append(job_id)
        deadline = time.monotonic() + self.cancel_grace
        for job_id in running:
            while self._alive(job_id) and time.monotonic() < deadline:
                time.sleep(0.02)
            kill_group(int(job_id), signal.SIGKILL)  # whatever is left of the group, even after the leader died
            proc = self._jobs.get(job_id)
            if proc is not None:
                proc.wait()
        return [True] * len(job_ids)
