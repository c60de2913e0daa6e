"""`CondorProvider`: each block is one HTCondor vanilla-universe job.

HTCondor reads no directives from the job script. The script the base renders is the job's `executable`;
a submit description written beside it (`NAME.condor`) carries everything else: output paths, the slot's
size, the environment, file transfer, the walltime limit and `scheduler_options`. Submits with
`condor_submit`, watches with `condor_q IDS -af:j JobStatus ExitCode`, reads how jobs that left the queue
ended from `condor_history`, and cancels with `condor_rm`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar

import attrs

from parlay.options import Check, amount, count, declare, one_line, one_of, option, optional
from parlay.providers.base import JobState, JobStatus
from parlay.providers.cluster import ClusterProvider

#: HTCondor's JobStatus codes -> (name, JobState). A completed job (4) whose ExitCode is not 0 is FAILED.
JOB_STATUS = {
    "1": ("idle", JobState.PENDING),
    "2": ("running", JobState.RUNNING),
    "3": ("removed", JobState.CANCELLED),
    "4": ("completed", JobState.COMPLETED),
    "5": ("held", JobState.HELD),
    "6": ("transferring output", JobState.RUNNING),
    "7": ("suspended", JobState.HELD),
}
#: One line of `-af:j JobStatus ExitCode`: "CLUSTER.PROC STATUS EXITCODE".
_AD_LINE = re.compile(r"(\d+)\.\d+\s+(\d+)(?:\s+(\S+))?\s*$")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: What `environment` may be: variable names to one-line values.
environment_variables = Check(
    lambda v: (
        isinstance(v, Mapping)
        and all(
            isinstance(name, str)
            and _VARIABLE.fullmatch(name)
            and isinstance(value, str)
            and not set("\r\n") & set(value)
            for name, value in v.items()
        )
    ),
    "a dict of variable names (letters, digits, _) to one-line string values",
)
#: What `transfer_input_files` may be: paths without commas or newlines.
input_files = Check(
    lambda v: (
        isinstance(v, Sequence)
        and not isinstance(v, str)
        and all(isinstance(path, str) and path.strip() and not set(",\n") & set(path) for path in v)
    ),
    "a list of paths (without commas or newlines)",
)


@declare(
    defaults={"label": "condor", "cmd_timeout": 60},
    help={
        "scheduler_options": "extra submit-description lines, verbatim, after the provider's (a later line wins)",
        "status_batch_size": "job ids per `condor_q`, `condor_history` or `condor_rm` call",
    },
    internal=("cores_per_node", "mem_per_node"),
)
class CondorProvider(ClusterProvider):
    """Blocks as HTCondor jobs of one slot each, with Parsl's options and defaults."""

    kind: ClassVar[str] = "condor"
    states = {code: state for code, (_, state) in JOB_STATUS.items()}
    unknown_job_errors = r"Couldn't find/remove all jobs"
    scheduler_options_in_script = False  # they are submit-description commands: see `submit_description`

    nodes_per_block: int = option(
        1, "always 1: a vanilla-universe job runs in one slot (more slots: raise `max_blocks`)", one_of(1)
    )
    cores_per_slot: int | None = option(
        None,
        "CPUs of the slot (`request_cpus`; the job sees `PARLAY_CORES`); executors may size their workers by it",
        optional(count(1)),
    )
    mem_per_slot: float | None = option(
        None,
        "gigabytes of memory of the slot (`request_memory`, in MiB; the job sees `PARLAY_MEMORY_GB`)",
        optional(amount("gigabytes")),
    )
    environment: Mapping[str, str] | None = option(
        None,
        "environment variables of the job (`environment`, quoted so values arrive literally)",
        optional(environment_variables),
    )
    project: str = option("", "the project to account the job to (`+ProjectName`, a ClassAd string)", one_line)
    transfer_input_files: Sequence[str] = option(
        attrs.Factory(list),
        "files copied into the job's scratch directory where the file system is not shared (`transfer_input_files`)",
        input_files,
    )
    requirements: str = option("", "what the slot must offer, a ClassAd expression (`requirements`)", one_line)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.cores_per_node = self.cores_per_slot  # a slot is what the executor sees as a node
        self.mem_per_node = self.mem_per_slot

    # --- the job script and its submit description ----------------------------------------------------

    def submit_description(self, job_name: str) -> str:
        """The HTCondor submit description of `job_name`'s job, as `submit` hands it to condor_submit."""
        base = os.path.abspath(os.path.join(self._script_dir(), job_name))
        out, err = (os.path.abspath(path) for path in self.output_paths(job_name))
        lines = [
            "universe = vanilla",
            f"executable = {_literal(os.path.abspath(self.script_path(job_name)))}",
            f"batch_name = {_literal(job_name)}",
            f"output = {_literal(out)}",
            f"error = {_literal(err)}",
            f"log = {_literal(base + '.log')}",
            "should_transfer_files = IF_NEEDED",
            "when_to_transfer_output = ON_EXIT",
            # the walltime: the schedd removes a job that has been running longer
            f"periodic_remove = JobStatus == 2 && time() - JobCurrentStartDate > {math.ceil(self.walltime_seconds)}",
        ]
        if self.cores_per_slot:
            lines.append(f"request_cpus = {self.cores_per_slot}")
        if self.mem_per_slot:
            lines.append(f"request_memory = {math.ceil(self.mem_per_slot * 1024)}")
        if self.project.strip():
            lines.append(f"+ProjectName = {_classad_string(self.project.strip())}")
        if self.requirements.strip():
            lines.append(f"requirements = {self.requirements.strip()}")
        if self.environment:
            lines.append(f"environment = {condor_environment(self.environment)}")
        if self.transfer_input_files:
            lines.append(f"transfer_input_files = {_literal(','.join(self.transfer_input_files))}")
        if self.scheduler_options.strip():
            lines.append(self.scheduler_options.strip())
        lines.append("queue 1")
        return "\n".join(lines) + "\n"

    def description_path(self, job_name: str) -> str:
        """Where the submit description of `job_name` is written (beside its script)."""
        return _description_for(self.script_path(job_name))

    def write_script(self, command: str, tasks_per_node: int, job_name: str) -> str:
        """Write the job's executable script and its submit description beside it; return the script's path."""
        script = super().write_script(command, tasks_per_node, job_name)
        with open(self.description_path(job_name), "w") as stream:
            stream.write(self.submit_description(job_name))
        return script

    def _directives(self, job_name: str, tasks_per_node: int) -> list[str]:
        return []  # everything HTCondor needs is in the submit description

    def _environment(self) -> list[str]:
        """The block's deadline, and the slot's size for workers that would otherwise count the whole machine."""
        lines = super()._environment()
        if self.cores_per_slot:
            lines.append(f"export PARLAY_CORES={self.cores_per_slot}")
        if self.mem_per_slot:
            lines.append(f"export PARLAY_MEMORY_GB={self.mem_per_slot:g}")
        return lines

    # --- commands ---------------------------------------------------------------------------------

    def _submit_command(self, script_path: str) -> list[str]:
        return ["condor_submit", _description_for(script_path)]

    def _parse_submit(self, stdout: str) -> str:
        # "Submitting job(s).\n1 job(s) submitted to cluster 42."; the job id is the cluster number
        match = re.search(r"submitted to cluster (\d+)", stdout)
        return match.group(1) if match else ""

    def _status_command(self, job_ids: list[str]) -> list[str]:
        return ["condor_q", *job_ids, "-af:j", "JobStatus", "ExitCode"]

    def _parse_status(self, stdout: str) -> dict[str, JobStatus]:
        return {cluster: self._job_status(code, exit_code) for cluster, code, exit_code in _ads(stdout)}

    def _final_status(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """Jobs that left the queue, from `condor_history` (newest first; `-limit` stops the scan early)."""
        found: dict[str, JobStatus] = {}
        for batch in self._batches(job_ids):
            command = ["condor_history", *batch, "-af:j", "JobStatus", "ExitCode", "-limit", str(len(batch))]
            for cluster, code, exit_code in _ads(self.execute_wait(command)):
                if cluster in batch and cluster not in found:
                    found[cluster] = self._job_status(code, exit_code)
        return found

    def _cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["condor_rm", *job_ids]

    def _job_status(self, code: str, exit_code: str) -> JobStatus:
        """A status from HTCondor's JobStatus and ExitCode: a completed job that exited non-zero, or was
        killed by a signal (ExitCode undefined), failed."""
        name = JOB_STATUS[code][0] if code in JOB_STATUS else "unknown"
        if code != "4":
            return self.listed_status(code, name)
        status = self.listed_status(code, f"{name}, exit code {exit_code}")
        status.exit_code = int(exit_code) if re.fullmatch(r"-?\d+", exit_code) else None
        if status.exit_code != 0:
            status.state = JobState.FAILED
        return status


def condor_environment(variables: Mapping[str, str]) -> str:
    """`variables` in HTCondor's quoted environment syntax: the whole list in double quotes, each value in
    single quotes (a `'` inside doubled), every `"` doubled, and `$` written as `$(DOLLAR)` so condor_submit
    does not expand it as a macro."""
    entries = " ".join(f"{name}={_single_quoted(value)}" for name, value in variables.items())
    return '"' + _literal(entries.replace('"', '""')) + '"'


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ads(stdout: str) -> Iterator[tuple[str, str, str]]:
    """(cluster, JobStatus, ExitCode) for each job line of `-af:j JobStatus ExitCode` output."""
    for line in stdout.splitlines():
        match = _AD_LINE.match(line.strip())
        if match:
            yield match.group(1), match.group(2), match.group(3) or "undefined"


def _description_for(script_path: str) -> str:
    return os.path.splitext(script_path)[0] + ".condor"


def _literal(text: str) -> str:
    """`text` as a literal submit-description value: condor_submit expands `$(...)` macros."""
    return text.replace("$", "$(DOLLAR)")


def _classad_string(text: str) -> str:
    return _literal('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
