"""`FakeSlurm`: sbatch, squeue, scancel, scontrol and sacct for the provider tests, printing what the real
tools print (formats from their manuals) and running each job as a local process group."""

from __future__ import annotations

import re
from pathlib import Path

from parlay.testing.fake_scheduler import FakeScheduler, Refused, option, split_ids

_SLURM = {"pending": ("PD", "PENDING"), "running": ("R", "RUNNING"), "completed": ("CD", "COMPLETED"),
          "failed": ("F", "FAILED"), "cancelled": ("CA", "CANCELLED")}  # fmt: skip


class FakeSlurm(FakeScheduler):
    """Slurm's commands, as `SlurmProvider` runs them."""

    submit_command = "sbatch"
    status_command = "squeue"
    cancel_command = "scancel"
    other_commands = ("scontrol", "sacct")
    job_id_variable = "SLURM_JOB_ID"
    output_pattern = r"#SBATCH\s+(?:--output[= ]|-o\s*)(\S+)"
    error_pattern = r"#SBATCH\s+(?:--error[= ]|-e\s*)(\S+)"
    name_pattern = r"#SBATCH\s+(?:--job-name[= ]|-J\s*)(\S+)"

    def answer(self, command: str, args: list[str]) -> str:
        if command == "sbatch":
            script = args[-1]
            number = self.submit(script, Path(script).read_text())
            return f"{number}\n" if "--parsable" in args else f"Submitted batch job {number}\n"
        if command == "squeue":
            ids = split_ids([option(args, "--jobs", "-j") or ""])
            jobs = self.jobs(ids)
            if ids and not jobs:
                raise Refused("slurm_load_jobs error: Invalid job id specified")
            fmt = option(args, "--format", "-o") or "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
            lines = []
            for job in jobs:
                state = job.state()
                if state not in ("pending", "running") and "--states=all" not in args:
                    continue
                fields = {"%i": job.number, "%t": _SLURM[state][0], "%T": _SLURM[state][1], "%j": job.name,
                          "%r": "None" if state == "running" else "Priority"}  # fmt: skip
                lines.append(re.sub(r"%\.?\d*[a-zA-Z]", lambda m, f=fields: f.get("%" + m.group(0)[-1], ""), fmt))
            header = [] if "--noheader" in args or "-h" in args else [fmt]
            return "".join(line + "\n" for line in header + lines)
        if command == "scancel":
            for job in self.jobs(split_ids([a for a in args if not a.startswith("-")])):
                job.cancel()
            return ""
        if command == "scontrol":  # scontrol show job ID
            jobs = self.jobs([args[-1]])
            if not jobs:
                raise Refused("slurm_load_jobs error: Invalid job id specified")
            job = jobs[0]
            code = job.exit_code() or 0
            return (
                f"JobId={job.number} JobName={job.name}\n"
                f"   JobState={_SLURM[job.state()][1]} Reason=None Dependency=(null)\n"
                f"   ExitCode={code}:0\n"
            )
        # sacct -X -n -P -o JobID,State,ExitCode -j IDS
        jobs = self.jobs(split_ids([option(args, "--jobs", "-j") or ""]))
        return "".join(f"{job.number}|{_SLURM[job.state()][1]}|{job.exit_code() or 0}:0\n" for job in jobs)
