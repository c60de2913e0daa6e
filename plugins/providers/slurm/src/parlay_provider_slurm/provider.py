"""`SlurmProvider`: each block is a Slurm batch job.

Submits with `sbatch --parsable`, watches with one `squeue --states=all` call per batch of jobs, and reads
how a job that squeue has forgotten ended from `sacct` where accounting is enabled, else from
`scontrol show job` (which keeps finished jobs for `MinJobAge`). Cancels with `scancel`.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

from parlay.errors import ExecutionProviderException
from parlay.options import declare, flag, name, option, optional, state
from parlay.providers.base import JobState, JobStatus
from parlay.providers.cluster import ClusterProvider

#: Slurm's job state codes (squeue's %t and sacct's State) -> JobState.
STATES = {
    **dict.fromkeys(["PD", "PENDING", "CF", "CONFIGURING", "RQ", "REQUEUED", "RF", "REQUEUE_FED"], JobState.PENDING),
    **dict.fromkeys(["R", "RUNNING", "CG", "COMPLETING", "SO", "STAGE_OUT", "SI", "SIGNALING"], JobState.RUNNING),
    **dict.fromkeys(["RS", "RESIZING"], JobState.RUNNING),
    **dict.fromkeys(["S", "SUSPENDED", "ST", "STOPPED", "RH", "REQUEUE_HOLD", "RD", "RESV_DEL_HOLD"], JobState.HELD),
    **dict.fromkeys(["CD", "COMPLETED"], JobState.COMPLETED),
    **dict.fromkeys(["CA", "CANCELLED", "RV", "REVOKED"], JobState.CANCELLED),
    **dict.fromkeys(["TO", "TIMEOUT", "DL", "DEADLINE", "PR", "PREEMPTED"], JobState.TIMEOUT),
    **dict.fromkeys(["F", "FAILED", "NF", "NODE_FAIL", "BF", "BOOT_FAIL", "OOM", "OUT_OF_MEMORY"], JobState.FAILED),
    **dict.fromkeys(["SE", "SPECIAL_EXIT"], JobState.FAILED),
}
_ACCOUNTING_OFF = "accounting storage is disabled"


@declare(
    defaults={"label": "slurm"},
    help={
        "cores_per_node": "CPUs for each task (`--cpus-per-task`); executors may size their workers by it",
        "mem_per_node": "gigabytes of memory of each node (`--mem`, in MiB); executors may size their workers by it",
    },
)
class SlurmProvider(ClusterProvider):
    """Blocks as Slurm jobs of `nodes_per_block` nodes, with Parsl's options and defaults (`exclusive=True`)."""

    kind: ClassVar[str] = "slurm"
    states = STATES
    unknown_job_errors = r"Invalid job id|Job has already finished|already completing or completed"

    partition: str | None = option(None, "the partition to submit to (`--partition`)", optional(name), positional=True)
    account: str | None = option(None, "the account to charge (`--account`)", optional(name), positional=True)
    qos: str | None = option(None, "the quality of service (`--qos`)", optional(name), positional=True)
    constraint: str | None = option(None, "node features required (`--constraint`)", optional(name), positional=True)
    clusters: str | None = option(
        None,
        "the cluster(s) to submit to (`--clusters`); also given to squeue, sacct, scontrol and scancel",
        optional(name),
        positional=True,
    )
    gres: str | None = option(None, "generic resources per node (`--gres`)", optional(name))
    exclusive: bool = option(True, "whole nodes, shared with no other job (`--exclusive`)", flag)

    _accounting: bool = state(True)  # until sacct says accounting storage is disabled

    def cleanup_options(self) -> dict[str, Any]:
        return {**super().cleanup_options(), "clusters": self.clusters} if self.clusters else super().cleanup_options()

    # --- the job script ---------------------------------------------------------------------------

    def _directives(self, job_name: str, tasks_per_node: int) -> list[str]:
        out, err = self.output_paths(job_name)
        options = [
            f"--job-name={job_name}",
            f"--output={out}",
            f"--error={err}",
            f"--nodes={self.nodes_per_block}",
            f"--ntasks-per-node={tasks_per_node}",
            f"--time={slurm_time(self.walltime_seconds)}",
        ]
        if self.cores_per_node:
            options.append(f"--cpus-per-task={self.cores_per_node}")
        if self.mem_per_node:
            options.append(f"--mem={math.ceil(self.mem_per_node * 1024)}M")
        if self.exclusive:
            options.append("--exclusive")
        named = (("partition", self.partition), ("account", self.account), ("qos", self.qos),
                 ("constraint", self.constraint), ("clusters", self.clusters), ("gres", self.gres))  # fmt: skip
        options += [f"--{name}={value}" for name, value in named if value]
        return [f"#SBATCH {option}" for option in options]

    # --- commands ---------------------------------------------------------------------------------

    def _on_clusters(self) -> list[str]:
        return [f"--clusters={self.clusters}"] if self.clusters else []

    def _submit_command(self, script_path: str) -> list[str]:
        return ["sbatch", "--parsable", script_path]

    def _parse_submit(self, stdout: str) -> str:
        # --parsable prints "ID" or "ID;CLUSTER"
        return stdout.strip().splitlines()[-1].split(";")[0].strip() if stdout.strip() else ""

    def _status_command(self, job_ids: list[str]) -> list[str]:
        return ["squeue", *self._on_clusters(), "--noheader", "--states=all", "--format=%i|%t|%r",
                f"--jobs={','.join(job_ids)}"]  # fmt: skip

    def _parse_status(self, stdout: str) -> dict[str, JobStatus]:
        found = {}
        for line in stdout.splitlines():
            fields = line.strip().split("|")
            if len(fields) == 3:  # other lines are the "CLUSTER: name" headers of --clusters
                job_id, code, reason = fields
                found[job_id] = self.listed_status(code, "" if reason == "None" else reason)
        return found

    def _cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["scancel", *self._on_clusters(), *job_ids]

    # --- jobs squeue has forgotten ----------------------------------------------------------------

    def _final_status(self, job_ids: list[str]) -> dict[str, JobStatus]:
        if self._accounting:
            try:
                return self._from_sacct(job_ids)
            except ExecutionProviderException as exc:
                if _ACCOUNTING_OFF not in str(exc):
                    raise
                self._accounting = False  # no slurmdbd: scontrol remembers jobs for MinJobAge seconds
        return {job_id: status for job_id in job_ids if (status := self._from_scontrol(job_id))}

    def _from_sacct(self, job_ids: list[str]) -> dict[str, JobStatus]:
        command = ["sacct", *self._on_clusters(), "-X", "-n", "-P", "-o", "JobID,State,ExitCode",
                   f"--jobs={','.join(job_ids)}"]  # fmt: skip
        found = {}
        for line in self.execute_wait(command).splitlines():
            fields = line.strip().split("|")
            if len(fields) == 3 and fields[0] in job_ids:
                found[fields[0]] = _ended(fields[1].split()[0], fields[2], "sacct")
        return found

    def _from_scontrol(self, job_id: str) -> JobStatus | None:
        command = ["scontrol", *self._on_clusters(), "show", "job", job_id]
        text = self.execute_wait(command, tolerate=self.unknown_job_errors)
        state = re.search(r"\bJobState=(\S+)", text)
        if state is None:
            return None
        code = re.search(r"\bExitCode=(\S+)", text)
        return _ended(state.group(1), code.group(1) if code else "", "scontrol")


def _ended(state: str, exit_code: str, source: str) -> JobStatus:
    """A status from Slurm's long state name and its "CODE:SIGNAL" exit code."""
    code = int(exit_code.split(":")[0]) if re.match(r"\d+:", exit_code) else None
    return JobStatus(STATES.get(state, JobState.UNKNOWN), message=f"{source} state {state}", exit_code=code)


def slurm_time(seconds: float | None) -> str:
    """Slurm's `--time` value for a walltime: whole minutes, rounded up, as [D-]HH:MM:00."""
    minutes = math.ceil((seconds or 0) / 60)
    days, minutes = divmod(minutes, 24 * 60)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}:00"
    return f"{days}-{text}" if days else text
