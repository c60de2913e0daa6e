"""`GridEngineProvider`: each block is a Grid Engine (SGE, Son of Grid Engine) batch job.

Submits with `qsub -terse`, watches with `qstat` (it lists every queued or running job of the user), reads
how a job that qstat no longer lists ended from `qacct -j ID`, and deletes jobs with `qdel`. A job in an
error state (`Eqw`) is failed, with the reason `qstat -j ID` gives.
"""

from __future__ import annotations

import re
import time
from typing import ClassVar

from parlay.errors import ExecutionProviderException
from parlay.options import declare, invalid, name, non_negative, option, optional, state
from parlay.providers.base import JobState, JobStatus
from parlay.providers.cluster import ClusterProvider, hms

#: qacct's answer for a job without an accounting record (yet), or before any job has ended (no file).
_NO_RECORD = r"error: job id \S+ not found|No such file or directory"
#: `qstat -j ID` for a job that has just left the queue.
_NOT_QUEUED = r"Following jobs do not exist|^\s*\d+(,\d+)*\s*$"
#: qacct's `failed` code for a job killed at its h_rt (walltime) limit.
_WALLTIME_EXCEEDED = 37


@declare(
    defaults={"label": "sge", "cmd_timeout": 60},
    help={"cores_per_node": "slots of each node, with `pe` (`-pe PE nodes_per_block*cores_per_node`)"},
    internal=("mem_per_node",),
)
class GridEngineProvider(ClusterProvider):
    """Blocks as Grid Engine jobs, with Parsl's options and defaults, plus an optional parallel environment."""

    kind: ClassVar[str] = "sge"
    status_lists_all = True  # qstat takes no job ids

    queue: str | None = option(None, "the queue to submit to (`-q`)", optional(name), positional=True)
    pe: str | None = option(
        None,
        "the parallel environment of a block of several slots (`-pe`; `qconf -spl` lists them)",
        optional(name),
        positional=True,
    )
    accounting_grace: float = option(
        60, "seconds to wait for the accounting record of a job that has left the queue", non_negative("seconds")
    )

    _submitted: set[str] = state(factory=set)  # jobs this provider submitted (not adopted ones)
    _gone_since: dict[str, float] = state(factory=dict)  # job id -> when it was first found gone without a record
    _records: dict[str, dict[str, str]] = state(factory=dict)  # job id -> its accounting record, once read

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for field in ("cores_per_node", "nodes_per_block"):
            value = getattr(self, field)
            if self.pe is None and value not in (None, 1):
                reason = "more than one slot needs a parallel environment; set pe to one of those `qconf -spl` lists"
                raise invalid(self, field, value, reason)

    # --- the job script ---------------------------------------------------------------------------

    def _directives(self, job_name: str, tasks_per_node: int) -> list[str]:
        out, err = self.output_paths(job_name)
        options = [
            "-S /bin/bash",  # Grid Engine ignores the #! line
            "-cwd",  # run where the kernel runs, as local blocks do (not in the home directory)
            "-V",  # with the submitter's environment: its PATH finds the worker commands
            f"-N {sge_name(job_name)}",
            f"-o {sge_path(out)}",
            f"-e {sge_path(err)}",
            f"-l h_rt={hms(self.walltime_seconds)}",
        ]
        if self.queue:
            options.append(f"-q {self.queue}")
        if self.pe:
            options.append(f"-pe {self.pe} {self.nodes_per_block * (self.cores_per_node or 1)}")
        return [f"#$ {option}" for option in options]

    # --- commands ---------------------------------------------------------------------------------

    def _submit(self, command: str, tasks_per_node: int, job_name: str) -> str:
        job_id = super()._submit(command, tasks_per_node, job_name)
        self._submitted.add(job_id)
        return job_id

    def _submit_command(self, script_path: str) -> list[str]:
        return ["qsub", "-terse", script_path]

    def _parse_submit(self, stdout: str) -> str:
        # -terse prints "ID" ("ID.1-10:1" for an array); without it, 'Your job ID ("name") has been submitted'
        match = re.search(r"^(?:Your job(?:-array)? )?(\d+)", stdout.strip(), re.MULTILINE)
        return match.group(1) if match else ""

    def _status_command(self, job_ids: list[str]) -> list[str]:
        return ["qstat"]  # every queued or running job of the user; it takes no job ids

    def _parse_status(self, stdout: str) -> dict[str, JobStatus]:
        found = {}
        for job_id, code in parse_qstat(stdout).items():
            message = f"scheduler state {code}"
            if "E" in code and job_id in self.job_names:
                reasons = self._error_reasons(job_id)
                message += f" ({reasons}; the job stays queued until `qdel {job_id}`)" if reasons else ""
            found[job_id] = JobStatus(job_state(code), message=message)
        return found

    def _error_reasons(self, job_id: str) -> str:
        """Why a job is in an error state, from `qstat -j ID`."""
        text = self.execute_wait(["qstat", "-j", job_id], tolerate=_NOT_QUEUED)
        return "; ".join(re.findall(r"^error reason\s+\d+:\s*(.+?)\s*$", text, re.MULTILINE))

    def _cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["qdel", *job_ids]

    def _cancel(self, job_ids: list[str]) -> list[bool]:
        # qdel exits 1 for a job that has already left the queue, and says so on stdout, not stderr: the
        # deletion did its work when none of the jobs is still listed other than as being deleted (d).
        for batch in self._batches(job_ids):
            try:
                self.execute_wait(self._cancel_command(batch))
            except ExecutionProviderException:
                listed = parse_qstat(self.execute_wait(self._status_command(batch)))
                if any(job_id in listed and "d" not in listed[job_id] for job_id in batch):
                    raise
        return [True] * len(job_ids)

    # --- jobs qstat no longer lists ---------------------------------------------------------------

    def _final_status(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """How each job ended, from its accounting record. A job this provider submitted whose record is
        not written yet (Grid Engine writes it a moment after the job leaves qstat) is UNKNOWN for
        `accounting_grace` seconds after it was first found so, and missing after that."""
        found = {}
        for job_id in job_ids:
            record = self._records.get(job_id) or self._accounting(job_id)
            if record is not None:
                self._records[job_id] = record
                found[job_id] = accounting_status(record)
            elif self._awaiting_record(job_id):
                message = f"job {job_id} has left the queue; its accounting record (qacct) is not written yet"
                found[job_id] = JobStatus(JobState.UNKNOWN, message=message)
        return found

    def _accounting(self, job_id: str) -> dict[str, str] | None:
        """The job's latest accounting record, if there is one."""
        text = self.execute_wait(["qacct", "-j", job_id], tolerate=_NO_RECORD)
        name = self.job_names.get(job_id)
        # job ids wrap around (and restart with a new cell): a record of another job is not this job's
        records = [r for r in parse_qacct(text) if name is None or r.get("jobname") == sge_name(name)]
        return records[-1] if records else None

    def _awaiting_record(self, job_id: str) -> bool:
        if job_id not in self._submitted or job_id in self.cancelled_jobs:
            return False  # a deleted job that never started has no record; nor may an adopted one
        now = time.monotonic()
        return now - self._gone_since.setdefault(job_id, now) < self.accounting_grace


# --- what Grid Engine prints ------------------------------------------------------------------------


def job_state(code: str) -> JobState:
    """The JobState of a qstat state code, from its letters: E(rror) is failed; h(old) and the suspensions
    s, S and T are held; r(unning) and t(ransferring) run; q(ueued) and w(aiting) are pending. d(eletion)
    and R(estarted) change nothing: a job being deleted runs until it leaves the queue."""
    if "E" in code:
        return JobState.FAILED
    if re.search("[hsST]", code):
        return JobState.HELD
    if re.search("[rt]", code):
        return JobState.RUNNING
    if re.search("[qw]", code):
        return JobState.PENDING
    return JobState.UNKNOWN


def parse_qstat(text: str) -> dict[str, str]:
    """Job id -> state code, from qstat's table (job-ID, prior, name, user, state, ...)."""
    found = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].isdigit():
            found[fields[0]] = fields[4]
    return found


def parse_qacct(text: str) -> list[dict[str, str]]:
    """`qacct -j` records (a job run again has several), oldest first, each as field -> value."""
    records = []
    for block in re.split(r"^=+\s*$", text, flags=re.MULTILINE):
        record = dict(line.split(None, 1) for line in block.splitlines() if len(line.split(None, 1)) == 2)
        if "jobnumber" in record:
            records.append({key: value.strip() for key, value in record.items()})
    return records


def accounting_status(record: dict[str, str]) -> JobStatus:
    """A job's status from its accounting record: `failed` (Grid Engine's own failure code, 0 when the job
    ran to its end; 37 when it was killed at its h_rt) and `exit_status` (the job script's)."""
    failed = _leading_int(record.get("failed", ""))
    exit_code = _leading_int(record.get("exit_status", ""))
    message = f"qacct: exit status {exit_code}"
    if failed:
        message += f", failed {record['failed']}"
    if failed == _WALLTIME_EXCEEDED:
        state = JobState.TIMEOUT
    elif failed or exit_code != 0:
        state = JobState.FAILED
    else:
        state = JobState.COMPLETED
    return JobStatus(state, message=message, exit_code=exit_code)


def _leading_int(text: str) -> int | None:
    match = re.match(r"\s*(-?\d+)", text)
    return int(match.group(1)) if match else None


def sge_name(name: str) -> str:
    """A job name Grid Engine accepts: ASCII letters, digits, `.`, `_` and `-` (others become `_`), not
    starting with a digit or `-`, at most 512 characters."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "parlay"
    return ("_" + name if re.match(r"[\d-]", name) else name)[:512]


def sge_path(path: str) -> str:
    """An `-o`/`-e` path as a directive argument: quoted when it holds spaces, and after an empty host
    name when it holds a colon (the argument is `[[host]:]path`)."""
    if ":" in path:
        path = ":" + path
    return f'"{path}"' if re.search(r"\s", path) else path
