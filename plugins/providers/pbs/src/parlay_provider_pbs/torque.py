"""`TorqueProvider`: each block is a Torque job.

Submits with `qsub SCRIPT` and cancels with `qdel IDS`. Torque's `qstat` table shows C for every job that
ended, successful or not, so status asks for the full format, `qstat -f IDS` ("Job Id: ID" blocks of
`key = value` lines), whose `exit_status` tells them apart. Torque lists a completed job for the server's
`keep_completed` seconds; after that the job is unknown and reported MISSING. `qstat` and `qdel` say
"Unknown Job Id" for a job the server has forgotten and `qdel` "invalid state for job - COMPLETE" for one
that already ended: neither is an error.
"""

from __future__ import annotations

from typing import ClassVar

from parlay.options import declare
from parlay.providers.base import JobState, JobStatus
from parlay_provider_pbs.common import PBSFamilyProvider

#: Torque's job states (`job_state`) -> JobState; C (completed) is read from the exit status.
STATES = {
    **dict.fromkeys(["Q", "T", "W"], JobState.PENDING),  # queued, being moved, waiting for its start time
    **dict.fromkeys(["R", "E"], JobState.RUNNING),  # running, exiting after having run
    **dict.fromkeys(["H", "S"], JobState.HELD),  # held, suspended
}


@declare(defaults={"label": "torque"}, internal=("cores_per_node",))
class TorqueProvider(PBSFamilyProvider):
    """Blocks as Torque jobs of `nodes_per_block` nodes (`nodes=N:ppn=tasks_per_node`), with Parsl's options
    (but the `SingleNodeLauncher` by default, where Parsl defaults to `AprunLauncher`)."""

    kind: ClassVar[str] = "torque"
    states = STATES
    unknown_job_errors = r"Unknown Job Id|invalid state for job - COMPLETE|nonexistent job id"
    name_characters = "!-~"  # any printable character but a space
    name_limit = 256

    def _resources(self, tasks_per_node: int) -> str:
        return f"nodes={self.nodes_per_block}:ppn={tasks_per_node}"

    def _status_command(self, job_ids: list[str]) -> list[str]:
        return ["qstat", "-f", *job_ids]

    def _parse_status(self, stdout: str) -> dict[str, JobStatus]:
        found = {}
        for job_id, job in parse_full_status(stdout).items():
            code = job.get("job_state", "")
            found[job_id] = self.ended_status(code, job.get("exit_status")) if code == "C" else self.listed_status(code)
        return found


def parse_full_status(text: str) -> dict[str, dict[str, str]]:
    """The jobs of `qstat -f`: job id -> attribute -> value. Long values are folded onto continuation lines
    that start with a tab; they are joined again."""
    jobs: dict[str, dict[str, str]] = {}
    job: dict[str, str] | None = None
    key = ""
    for line in text.splitlines():
        if line.startswith("Job Id:"):
            job = jobs[line.split(":", 1)[1].strip()] = {}
            key = ""
        elif job is None or not line.strip():
            continue
        elif line.startswith("\t") and key:
            job[key] += line.strip()
        elif " = " in line:
            key, value = line.strip().split(" = ", 1)
            job[key] = value
    return jobs
