"""`FakeCondor`: condor_submit, condor_q, condor_rm and condor_history for the provider tests, printing what
the real tools print (formats from their manuals) and running each job as a local process group."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from parlay.testing.fake_scheduler import FakeScheduler, Refused, job_number, option

_CONDOR = {"pending": 1, "running": 2, "cancelled": 3, "completed": 4, "failed": 4}


class FakeCondor(FakeScheduler):
    """HTCondor's commands, as `CondorProvider` runs them: the submit description names the executable,
    the output and error files and the batch name."""

    submit_command = "condor_submit"
    status_command = "condor_q"
    cancel_command = "condor_rm"
    other_commands = ("condor_history",)
    job_id_variable = "CONDOR_JOB_ID"
    output_pattern = r"^\s*output\s*=\s*(\S+)"
    error_pattern = r"^\s*error\s*=\s*(\S+)"
    name_pattern = r"^\s*batch_name\s*=\s*(\S+)"

    def answer(self, command: str, args: list[str]) -> str:
        if command == "condor_submit":
            description = Path(args[-1]).read_text().replace("$(DOLLAR)", "$")  # the one macro the fake expands
            match = re.search(r"^\s*executable\s*=\s*(\S+)", description, re.MULTILINE)
            if match is None:
                raise Refused("ERROR: No 'executable' parameter was provided")
            number = self.submit(match.group(1), description)
            return f"Submitting job(s).\n1 job(s) submitted to cluster {number}.\n"
        limit_values = {index + 1 for index, arg in enumerate(args) if arg in ("-limit", "-match")}
        ids = [a for index, a in enumerate(args) if a[:1].isdigit() and index not in limit_values]
        if command == "condor_rm":  # condor_rm CLUSTERS: one constraint over them all, as the real tool builds it
            clusters = [job_number(i) for i in ids]
            target = f"in cluster {clusters[0]}" if len(clusters) == 1 else (
                f"matching constraint ({' || '.join(f'ClusterId == {c}' for c in clusters)})")  # fmt: skip
            queued = [job for job in self.jobs(ids) if job.state() in ("pending", "running")]
            for job in queued:
                job.cancel()
            if queued:
                return f"All jobs {target} have been marked for removal\n"
            if not any(job.state() in ("pending", "running") for job in self.jobs([])):
                sys.stderr.write("condor_rm:0:There are no jobs in the queue\n")  # not an error: exit code 0
                return ""
            raise Refused(f"\nCouldn't find/remove all jobs {target}")  # after an empty error-stack line
        history = command == "condor_history"
        lines = []
        for job in self.jobs(ids):  # condor_q IDS -af:j JobStatus ExitCode (condor_history ... -limit N)
            state = job.state()
            if history != (state in ("completed", "failed", "cancelled")):
                continue
            code = job.exit_code() if state in ("completed", "failed") else None
            lines.append(f"{job.number}.0 {_CONDOR[state]} {'undefined' if code is None else code}\n")
        limit = option(args, "-limit", "-match")
        return "".join(lines[: int(limit)] if limit else lines)
