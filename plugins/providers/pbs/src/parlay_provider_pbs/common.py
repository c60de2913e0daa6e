"""`PBSFamilyProvider`: what PBS Pro and Torque, both descendants of OpenPBS, have in common.

Both submit with `qsub SCRIPT` (which prints the job id, "12.server"), cancel with `qdel IDS`, read the same
`#PBS` directives for the job's name, shell, output paths, walltime, account and queue, and report a job
that ended with an exit status (256 + N for a job killed by signal N). They differ in how a job asks for
nodes (`select=` against `nodes=`), which job names they accept and how `qstat` prints a job, so each
subclass supplies those.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import ClassVar

from parlay.options import declare, name, option, optional
from parlay.providers.base import JobState, JobStatus
from parlay.providers.cluster import ClusterProvider, hms


@declare(defaults={"walltime": "00:20:00", "cmd_timeout": 120}, internal=("mem_per_node",))
class PBSFamilyProvider(ClusterProvider):
    """Blocks as jobs of a PBS-family scheduler, `nodes_per_block` nodes each."""

    #: The characters the scheduler accepts in a job name (the body of a regex character class).
    name_characters: ClassVar[str] = "A-Za-z0-9_+-"
    #: The longest job name the scheduler accepts.
    name_limit: ClassVar[int] = 230
    #: Exit statuses with which the scheduler reports a job it killed at the end of its walltime.
    walltime_exit_statuses: ClassVar[frozenset[int]] = frozenset()

    account: str | None = option(None, "the account to charge (`-A`)", optional(name), positional=True)
    queue: str | None = option(None, "the queue to submit to (`-q`)", optional(name), positional=True)

    # --- the job script ---------------------------------------------------------------------------

    def pbs_job_name(self, job_name: str) -> str:
        """`job_name` as the scheduler accepts it (`-N`): other characters become "_", it starts with a
        letter and fits the length limit. Output files keep the full name."""
        name = re.sub(f"[^{self.name_characters}]", "_", job_name)
        if not name[:1].isalpha():  # what is left is ASCII
            name = "parlay-" + name
        return name[: self.name_limit]

    def _directives(self, job_name: str, tasks_per_node: int) -> list[str]:
        out, err = self.output_paths(job_name)
        options = [
            f"-N {self.pbs_job_name(job_name)}",
            "-S /bin/bash",  # the script is bash whatever the user's login shell
            f"-o {out}",
            f"-e {err}",
            f"-l walltime={hms(self.walltime_seconds)}",
            f"-l {self._resources(tasks_per_node)}",
        ]
        if self.account:
            options.append(f"-A {self.account}")
        if self.queue:
            options.append(f"-q {self.queue}")
        return [f"#PBS {option}" for option in options]

    @abstractmethod
    def _resources(self, tasks_per_node: int) -> str:
        """The `-l` resource request for one block's nodes."""

    # --- commands ---------------------------------------------------------------------------------

    def _submit_command(self, script_path: str) -> list[str]:
        return ["qsub", script_path]

    def _parse_submit(self, stdout: str) -> str:
        match = re.search(r"^\s*(\d+(?:\.\S+)?)\s*$", stdout, re.MULTILINE)
        return match.group(1) if match else ""

    def _cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["qdel", *job_ids]

    def ended_status(self, code: str, exit_status: int | str | None) -> JobStatus:
        """The status of a job that `qstat` lists as ended (state `code`), from its exit status."""
        try:
            status = int(exit_status)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return JobStatus(JobState.FAILED, message=f"scheduler state {code}, ended without an exit status")
        message = f"scheduler state {code}, exit status {status}"
        if status == 0:
            return JobStatus(JobState.COMPLETED, message=message, exit_code=0)
        if status in self.walltime_exit_statuses:
            return JobStatus(JobState.TIMEOUT, message=message + " (walltime exceeded)", exit_code=status)
        if status > 256:
            message += f" (killed by signal {status - 256})"
        elif status < 0:
            message += " (the scheduler could not run the job to its end)"
        return JobStatus(JobState.FAILED, message=message, exit_code=status)
