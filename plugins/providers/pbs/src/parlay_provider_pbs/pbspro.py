"""`PBSProProvider`: each block is a PBS Professional (OpenPBS) job.

Submits with `qsub SCRIPT`, watches a batch of jobs with one `qstat -f -F json -x IDS` (with `-x`, a
finished job stays listed in state F with its `Exit_status`, as long as the server keeps job history),
cancels with `qdel IDS`. `qstat` and `qdel` say "Unknown Job Id" for jobs the server has forgotten, and
`qdel` "Job has finished" for jobs that ended before it came: neither is an error.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from parlay.errors import ExecutionProviderException
from parlay.options import Check, count, declare, name, option
from parlay.providers.base import JobState, JobStatus
from parlay_provider_pbs.common import PBSFamilyProvider

#: PBS Pro's job states (`job_state`) -> JobState; F (finished) is read from the exit status, and M
#: (moved to another server) stays UNKNOWN: this provider cannot follow the job there.
STATES = {
    **dict.fromkeys(["Q", "T", "W"], JobState.PENDING),  # queued, in transit, waiting for its start time
    **dict.fromkeys(["R", "E", "B"], JobState.RUNNING),  # running, exiting, an array with running subjobs
    **dict.fromkeys(["H", "S", "U"], JobState.HELD),  # held, suspended, suspended for workstation activity
}
#: JOB_EXEC_KILL_WALLTIME: the server killed the job at the end of its walltime.
KILLED_AT_WALLTIME = -29
#: What `select_options` may be: nothing, or resources without spaces.
chunk_resources = Check(lambda v: v == "" or name.test(v), "chunk resources without spaces, like 'ngpus=4:mem=64gb'")


@declare(defaults={"label": "pbspro"}, internal=("cores_per_node",))
class PBSProProvider(PBSFamilyProvider):
    """Blocks as PBS Pro jobs of `nodes_per_block` chunks (`select=N:ncpus=C`), with Parsl's options."""

    kind: ClassVar[str] = "pbs"
    states = STATES
    unknown_job_errors = r"Unknown Job Id|Job has finished"
    walltime_exit_statuses = frozenset({KILLED_AT_WALLTIME})

    select_options: str = option("", "more resources of each chunk, after `select=N:ncpus=C:`", chunk_resources)
    cpus_per_node: int = option(1, "CPUs of each chunk (`ncpus`); executors may size their workers by it", count(1))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.cores_per_node = self.cpus_per_node  # what executors read

    def _resources(self, tasks_per_node: int) -> str:
        chunk = f"select={self.nodes_per_block}:ncpus={self.cpus_per_node}"
        extra = self.select_options.lstrip(":")
        return f"{chunk}:{extra}" if extra else chunk

    def _status_command(self, job_ids: list[str]) -> list[str]:
        return ["qstat", "-f", "-F", "json", "-x", *job_ids]

    def _parse_status(self, stdout: str) -> dict[str, JobStatus]:
        try:
            answer = load_qstat_json(stdout)
        except json.JSONDecodeError as exc:
            raise ExecutionProviderException(
                f"qstat -F json printed something that is not JSON ({exc}): {stdout[:300]!r}"
            ) from None
        found = {}
        for job_id, job in answer.get("Jobs", {}).items():  # no "Jobs" at all when every id was unknown
            code = job.get("job_state", "")
            found[job_id] = self.ended_status(code, job.get("Exit_status")) if code == "F" else self.listed_status(code)
        return found


_ESCAPE = re.compile(r'\\(["\\/bfnrtu])|\\')


def load_qstat_json(text: str) -> dict[str, Any]:
    """`qstat -F json`'s answer. PBS Pro before 2020 copies job attribute values such as Variable_List into
    its JSON with stray backslashes (`\\,` `\\'`), which JSON does not allow; they are dropped, as later
    versions do, and control characters are let through."""
    if not text.strip():
        return {}
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        return json.loads(_ESCAPE.sub(lambda m: m.group(0) if m.group(1) else "", text), strict=False)
