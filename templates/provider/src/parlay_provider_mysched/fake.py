"""`FakeMySched`: MySched's commands for the tests, printing what the real tools print and really running
each job as a local process group (through `parlay.testing.fake_scheduler`).

    msub SCRIPT          -> "Job 7 submitted to queue debug"
    mstat --jobs=7,8     -> "7 RUNNING -" per job MySched still knows (all of them without --jobs)
    mdel 7 8             -> "job 7 killed" per job; a job that ended is refused on stderr, exit code 1
"""

from __future__ import annotations

import re
from pathlib import Path

from parlay.testing.fake_scheduler import FakeScheduler, Refused, option, split_ids

_STATES = {"pending": "QUEUED", "running": "RUNNING", "completed": "DONE", "failed": "FAILED", "cancelled": "KILLED"}


class FakeMySched(FakeScheduler):
    """MySched's commands, as `MySchedProvider` runs them."""

    submit_command = "msub"
    status_command = "mstat"
    cancel_command = "mdel"
    job_id_variable = "MYSCHED_JOB_ID"
    output_pattern = r"#MYSCHED\s+--output=(\S+)"
    error_pattern = r"#MYSCHED\s+--error=(\S+)"
    name_pattern = r"#MYSCHED\s+--name=(\S+)"

    def answer(self, command: str, args: list[str]) -> str:
        if command == "msub":
            script = args[-1]
            text = Path(script).read_text()
            queue = re.search(r"#MYSCHED\s+--queue=(\S+)", text)
            number = self.submit(script, text)
            return f"Job {number} submitted to queue {queue.group(1) if queue else 'default'}\n"
        if command == "mstat":
            jobs = self.jobs(split_ids([option(args, "--jobs") or ""]))
            lines = []
            for job in jobs:
                code = job.exit_code()
                lines.append(f"{job.number} {_STATES[job.state()]} {'-' if code is None else code}\n")
            return "".join(lines)
        killed, refused = [], []
        for job_id in split_ids(args):
            jobs = self.jobs([job_id])
            if not jobs:
                refused.append(f"mdel: no such job {job_id}\n")
            elif jobs[0].state() not in ("pending", "running"):
                refused.append(f"mdel: job {job_id} has already ended\n")
            else:
                jobs[0].cancel()
                killed.append(f"job {job_id} killed\n")
        if refused:
            raise Refused("".join(refused), 1, stdout="".join(killed))
        return "".join(killed)
