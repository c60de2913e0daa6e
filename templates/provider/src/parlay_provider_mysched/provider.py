"""`MySchedProvider`: each block is a MySched batch job.

Submits with `msub SCRIPT`, watches with one `mstat --jobs ID,ID...` call per batch of jobs, cancels with
`mdel ID...`. The kernel's `ClusterProvider` does the rest: it renders and journals the job script, runs
the commands with a timeout (a failure shows the command and its stderr), batches status and cancel calls,
and maps MySched's states onto `JobState` through `states`.
"""

from __future__ import annotations

import re
from typing import ClassVar

from parlay.options import declare, name, option, optional
from parlay.providers.base import JobState, JobStatus
from parlay.providers.cluster import ClusterProvider, hms

#: MySched's job states (`mstat`'s second column) -> JobState.
STATES = {
    "QUEUED": JobState.PENDING,
    "HELD": JobState.HELD,
    "RUNNING": JobState.RUNNING,
    "DONE": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "KILLED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
}


@declare(defaults={"label": "mysched"}, internal=("cores_per_node", "mem_per_node"))  # MySched has no such requests
class MySchedProvider(ClusterProvider):
    """Blocks as MySched jobs of `nodes_per_block` nodes."""

    kind: ClassVar[str] = "mysched"  # the entry-point name: `parlay cleanup` finds the plugin by it
    states = STATES
    #: What `mstat`/`mdel` print for a job that ended or that MySched forgot: not a failure of the command.
    unknown_job_errors = r"no such job|has already ended"

    queue: str | None = option(None, "the queue to submit to (`--queue`)", optional(name), positional=True)
    project: str | None = option(None, "the project charged for the jobs (`--project`)", optional(name))

    def _directives(self, job_name: str, tasks_per_node: int) -> list[str]:
        out, err = self.output_paths(job_name)
        options = [
            f"--name={job_name}",
            f"--output={out}",
            f"--error={err}",
            f"--nodes={self.nodes_per_block}",
            f"--tasks-per-node={tasks_per_node}",
            f"--walltime={hms(self.walltime_seconds)}",
        ]
        options += [f"--{key}={value}" for key, value in (("queue", self.queue), ("project", self.project)) if value]
        return [f"#MYSCHED {option}" for option in options]

    def _submit_command(self, script_path: str) -> list[str]:
        return ["msub", script_path]

    def _parse_submit(self, stdout: str) -> str:
        match = re.search(r"^Job (\d+) submitted", stdout, re.MULTILINE)  # "Job 42 submitted to queue debug"
        return match.group(1) if match else ""

    def _status_command(self, job_ids: list[str]) -> list[str]:
        return ["mstat", f"--jobs={','.join(job_ids)}"]

    def _parse_status(self, stdout: str) -> dict[str, JobStatus]:
        found = {}
        for line in stdout.splitlines():  # "ID STATE EXIT_CODE", the code "-" while the job has none
            fields = line.split()
            if len(fields) == 3 and fields[0].isdigit():
                job_id, code, exit_code = fields
                status = self.listed_status(code)
                status.exit_code = int(exit_code) if exit_code.lstrip("-").isdigit() else None
                found[job_id] = status
        return found

    def _cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["mdel", *job_ids]
