"""`LocalProvider`: blocks are process groups on this machine."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from typing import Any, ClassVar

from parlay.errors import ConfigurationError, SubmitException
from parlay.execution import kill_group
from parlay.launchers.builtin import SingleNodeLauncher
from parlay.providers.base import ExecutionProvider, JobState, JobStatus


class LocalProvider(ExecutionProvider):
    """Runs each block's job script with bash in a session of its own; the job id is its process id."""

    kind = "local"
    status_polling_interval: ClassVar[float] = 5.0

    def __init__(
        self,
        label: str = "local",
        nodes_per_block: int = 1,
        init_blocks: int = 1,
        min_blocks: int = 0,
        max_blocks: int = 1,
        parallelism: float = 1.0,
        worker_init: str = "",
        launcher: Any = None,
        cmd_timeout: float = 30,
        cancel_grace: float = 2.0,
    ):
        super().__init__(
            label=label,
            nodes_per_block=nodes_per_block,
            init_blocks=init_blocks,
            min_blocks=min_blocks,
            max_blocks=max_blocks,
            parallelism=parallelism,
            worker_init=worker_init,
            launcher=launcher if launcher is not None else SingleNodeLauncher(),
        )
        if isinstance(cancel_grace, bool) or not isinstance(cancel_grace, (int, float)) or cancel_grace < 0:
            raise ConfigurationError(f"LocalProvider.cancel_grace={cancel_grace!r}: expected seconds >= 0")
        self.cmd_timeout = cmd_timeout
        self.cancel_grace = cancel_grace
        self._jobs: dict[str, tuple[subprocess.Popen, str]] = {}  # job id -> (process, script)
        self._cancelled: set[str] = set()

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
        self._jobs[job_id] = (proc, script)
        return job_id

    def _status(self, job_ids: list[str]) -> list[JobStatus]:
        return [self._one_status(job_id) for job_id in job_ids]

    def _one_status(self, job_id: str) -> JobStatus:
        proc, script = self._jobs.get(job_id, (None, None))
        if job_id in self._cancelled:
            return JobStatus(JobState.CANCELLED, message="cancelled", **self._outputs(script))
        if proc is None:
            return JobStatus(JobState.MISSING, message=f"job {job_id} was not started by this provider")
        if proc.poll() is None:
            return JobStatus(JobState.RUNNING, **self._outputs(script))
        kill_group(proc.pid)  # the job is over: nothing it started may outlive it
        try:
            with open(script + ".ec") as stream:
                code = int(stream.read().strip())
        except (OSError, ValueError):
            code = proc.returncode
        if code == 0:
            return JobStatus(JobState.COMPLETED, exit_code=0, **self._outputs(script))
        return JobStatus(
            JobState.FAILED, message=f"job script exited with code {code}", exit_code=code, **self._outputs(script)
        )

    def _outputs(self, script: str | None) -> dict[str, str | None]:
        if script is None:
            return {}
        base = script.removesuffix(".submit")
        return {"stdout_path": base + ".stdout", "stderr_path": base + ".stderr"}

    def _cancel(self, job_ids: list[str]) -> list[bool]:
        procs = []
        for job_id in job_ids:
            proc, _ = self._jobs.get(job_id, (None, None))
            if proc is not None and proc.poll() is None:
                kill_group(proc.pid, signal.SIGTERM)
                procs.append(proc)
            self._cancelled.add(job_id)
        deadline = time.monotonic() + self.cancel_grace
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            kill_group(proc.pid, signal.SIGKILL)  # whatever is left of the group, even after the leader died
            proc.wait()
        return [True] * len(job_ids)
