"""`LSFProvider`: blocks are IBM Spectrum LSF batch jobs, submitted with `bsub`, watched with `bjobs` and
cancelled with `bkill`.

LSF reads a job script's `#BSUB` lines only when the script comes on bsub's stdin (`bsub < script`);
`bsub script` runs the script as a plain command and ignores them, unless the site sets
LSB_BSUB_PARSE_SCRIPT=Y. So with `bsub_redirection=False` (Parsl's default) the provider passes the
script's `#BSUB` options on bsub's command line as well, and both forms request the same job.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterable
from typing import ClassVar

from parlay.errors import ExecutionProviderException
from parlay.options import count, declare, flag, invalid, name, option, optional
from parlay.providers.base import JobState, JobStatus
from parlay.providers.cluster import ClusterProvider

STATUS_FORMAT = "jobid stat exit_code"
_JOB_ID = re.compile(r"\d+(\[\d+\])?")
_SUBMITTED = re.compile(r"Job <(\d+)> is submitted to")


def run_limit(seconds: float) -> str:
    """LSF's `-W` run limit, `HH:MM`, for a walltime in seconds (rounded up to whole minutes)."""
    minutes = math.ceil(seconds / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def bsub_options(lines: Iterable[str]) -> list[str]:
    """The options of a job script's `#BSUB` lines, as bsub arguments. Like LSF, stop at the first line
    that is neither blank nor a comment. Raises ValueError for a line the shell could not split."""
    options: list[str] = []
    for line in lines:
        line = line.strip()
        if re.match(r"#BSUB\s", line):
            options += shlex.split(line[len("#BSUB") :], comments=True)
        elif line and not line.startswith("#"):
            break
    return options


@declare(
    defaults={"label": "lsf", "cmd_timeout": 120},
    help={
        "nodes_per_block": "nodes in each block (`-nnodes`); with request_by_nodes=False, derived from the cores",
        "cores_per_node": "cores of each node; with request_by_nodes=False, how the cores pack on hosts (`ptile`)",
    },
    internal=("mem_per_node",),
)
class LSFProvider(ClusterProvider):
    """Each block is one LSF job of `nodes_per_block` nodes (`#BSUB -nnodes`), or, with
    `request_by_nodes=False`, of `cores_per_block` cores (`#BSUB -n`) packed `cores_per_node` to a host."""

    kind = "lsf"
    states: ClassVar[dict[str, JobState]] = {
        "PEND": JobState.PENDING,
        "WAIT": JobState.PENDING,  # a chunk job member waiting for its turn
        "PROV": JobState.PENDING,  # its hosts are being provisioned
        "RUN": JobState.RUNNING,
        "PSUSP": JobState.HELD,  # suspended while pending; a suspended job still holds its place
        "USUSP": JobState.HELD,
        "SSUSP": JobState.HELD,
        "DONE": JobState.COMPLETED,
        "EXIT": JobState.FAILED,
        "ZOMBI": JobState.FAILED,  # killed while its host was unreachable: it never runs on
        "UNKWN": JobState.UNKNOWN,  # mbatchd lost contact with the host: it may come back
    }
    unknown_job_errors = r"Job <\d+> is not found|Job has already finished|No matching job found"

    cores_per_block: int | None = option(
        None, "cores of a block requested by cores (`-n`, with request_by_nodes=False)", optional(count(1))
    )
    project: str | None = option(None, "the project to charge (`-P`)", optional(name))
    queue: str | None = option(None, "the queue to submit to (`-q`)", optional(name))
    bsub_redirection: bool = option(
        False, "hand bsub the script on stdin (`bsub < script`), else the `#BSUB` options as arguments", flag
    )
    request_by_nodes: bool = option(True, "ask for whole nodes (`-nnodes`), else for cores_per_block cores", flag)

    @property
    def submit_reads_stdin(self) -> bool:  # type: ignore[override]
        return self.bsub_redirection

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        try:
            bsub_options(self.scheduler_options.splitlines())
        except ValueError as exc:
            reason = f"a #BSUB line cannot be split ({exc})"
            raise invalid(self, "scheduler_options", self.scheduler_options, reason) from None
        if not self.request_by_nodes:
            self.nodes_per_block = self._nodes_by_cores()
        elif self.cores_per_block is not None:
            raise invalid(
                self,
                "cores_per_block",
                self.cores_per_block,
                "only used with request_by_nodes=False (request_by_nodes=True asks for nodes_per_block whole nodes)",
            )

    def _nodes_by_cores(self) -> int:
        """The nodes of a block requested by cores: ceil(cores_per_block / cores_per_node), 1 without
        cores_per_node (LSF may then spread the cores over any hosts)."""
        if self.cores_per_block is None:
            raise invalid(self, "cores_per_block", None, "request_by_nodes=False needs an integer >= 1")
        nodes = math.ceil(self.cores_per_block / self.cores_per_node) if self.cores_per_node else 1
        if self.nodes_per_block not in (1, nodes):
            raise invalid(
                self,
                "nodes_per_block",
                self.nodes_per_block,
                f"with request_by_nodes=False a block has ceil(cores_per_block / cores_per_node) = {nodes} node(s) "
                "(1 without cores_per_node); leave nodes_per_block out",
            )
        return nodes

    # --- the job script and the commands ------------------------------------------------------------

    def _directives(self, job_name: str, tasks_per_node: int) -> list[str]:
        out, err = self.output_paths(job_name)
        lines = [
            f"#BSUB -J {job_name}",
            f"#BSUB -o {out}",
            f"#BSUB -e {err}",
            f"#BSUB -W {run_limit(self.walltime_seconds)}",
        ]
        if self.request_by_nodes:
            lines.append(f"#BSUB -nnodes {self.nodes_per_block}")
        else:
            lines.append(f"#BSUB -n {self.cores_per_block}")
            if self.cores_per_node:
                lines.append(f'#BSUB -R "span[ptile={self.cores_per_node}]"')
        if self.project:
            lines.append(f"#BSUB -P {self.project}")
        if self.queue:
            lines.append(f"#BSUB -q {self.queue}")
        return lines

    def _submit_command(self, script_path: str) -> list[str]:
        if self.bsub_redirection:
            return ["bsub"]  # the script comes on stdin: LSF reads its #BSUB lines
        try:
            with open(script_path) as stream:
                options = bsub_options(stream)
        except (OSError, ValueError) as exc:
            raise ExecutionProviderException(f"cannot read the #BSUB options of {script_path}: {exc}") from exc
        return ["bsub", *options, script_path]

    def _parse_submit(self, stdout: str) -> str:
        match = _SUBMITTED.search(stdout)
        return match.group(1) if match else ""

    def _status_command(self, job_ids: list[str]) -> list[str]:
        # -a: without it bjobs leaves out jobs that finished ("No unfinished job found")
        return ["bjobs", "-a", "-noheader", "-o", STATUS_FORMAT, *job_ids]

    def _parse_status(self, stdout: str) -> dict[str, JobStatus]:
        found: dict[str, JobStatus] = {}
        for line in stdout.splitlines():
            fields = line.split()
            if len(fields) >= 2 and _JOB_ID.fullmatch(fields[0]):
                found[fields[0]] = status = self.listed_status(fields[1])
                if len(fields) > 2 and fields[2].isdigit():  # "-" while the job has no exit code
                    status.exit_code = int(fields[2])
        return found

    def _cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["bkill", *job_ids]
