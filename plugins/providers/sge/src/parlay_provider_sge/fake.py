"""`FakeGridEngine`: qsub, qstat, qdel and qacct for the provider tests, printing what the real tools print
(formats from their manuals) and running each job as a local process group."""

from __future__ import annotations

from pathlib import Path

from parlay.testing.fake_scheduler import FakeScheduler, Refused, split_ids

_HEADER = (
    "job-ID  prior   name       user         state submit/start at     queue                          slots ja-task-ID"
)


class FakeGridEngine(FakeScheduler):
    """Grid Engine's commands, as `GridEngineProvider` runs them. A job's accounting record is written the
    moment it ends."""

    submit_command = "qsub"
    status_command = "qstat"
    cancel_command = "qdel"
    other_commands = ("qacct",)
    job_id_variable = "JOB_ID"
    output_pattern = r"#\$\s+-o\s+(\S+)"
    error_pattern = r"#\$\s+-e\s+(\S+)"
    name_pattern = r"#\$\s+-N\s+(\S+)"

    def answer(self, command: str, args: list[str]) -> str:
        if command == "qsub":
            script = args[-1]
            number = self.submit(script, Path(script).read_text())
            name = self.job(number).name
            return f"{number}\n" if "-terse" in args else f'Your job {number} ("{name}") has been submitted\n'
        if command == "qstat":  # every job of the user that is queued or running
            rows = []
            for job in self.jobs([]):
                state = {"pending": "qw", "running": "r"}.get(job.state())
                if state:
                    queue = "all.q@fakehost" if state == "r" else ""
                    rows.append(
                        f"{job.number:>7} 0.55500 {job.name[:10]:<10} user         {state:<5} "
                        f"11/25/2026 07:00:00 {queue:<30} 1"
                    )
            if not rows:
                return ""
            return _HEADER + "\n" + "-" * 113 + "\n" + "\n".join(rows) + "\n"
        if command == "qdel":  # it answers for every job on stdout, and exits 1 if it refused one
            lines, refused = [], False
            for job_id in split_ids([a for a in args if not a.startswith("-")]):
                jobs = self.jobs([job_id])
                state = jobs[0].state() if jobs else None
                if state not in ("pending", "running"):
                    refused = True
                    lines.append(f'denied: job "{job_id}" does not exist\n')
                    continue
                jobs[0].cancel()
                deleted = "has deleted job {}" if state == "pending" else "has registered the job {} for deletion"
                lines.append(f"user {deleted.format(job_id)}\n")
            if refused:
                raise Refused("", 1, stdout="".join(lines))  # with nothing on stderr, as the real qdel
            return "".join(lines)
        # qacct -j ID; a job deleted before it started has no record
        jobs = self.jobs([args[-1]])
        state = jobs[0].state() if jobs else None
        if state in (None, "pending", "running") or (state == "cancelled" and not jobs[0].started):
            raise Refused(f"error: job id {args[-1]} not found")
        job = jobs[0]
        failed, code = (0, job.exit_code()) if state != "cancelled" else ("100 : assumedly after job", "137  (Killed)")
        return (
            "==============================================================\n"
            f"qname        all.q\njobname      {job.name}\njobnumber    {job.number}\n"
            f"failed       {failed}\nexit_status  {code}\n"
        )
