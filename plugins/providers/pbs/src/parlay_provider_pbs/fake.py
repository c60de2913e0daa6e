"""`FakePBSPro` and `FakeTorque`: qsub, qstat and qdel for the provider tests, printing what each flavor's
real tools print (formats from their manuals) and running each job as a local process group."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar

from parlay.testing.fake_scheduler import FakeScheduler, Job, Refused, job_number

SERVER = "fakeserver"  # the server name in job ids
_TORQUE = {"pending": "Q", "running": "R", "completed": "C", "failed": "C", "cancelled": "C"}
_PBSPRO = {"pending": "Q", "running": "R", "completed": "F", "failed": "F", "cancelled": "F"}


class _FakePBS(FakeScheduler):
    """What PBS Pro and Torque share: the commands, directives and job ids; qsub, and qdel but for its words."""

    submit_command = "qsub"
    status_command = "qstat"
    cancel_command = "qdel"
    job_id_variable = "PBS_JOBID"
    output_pattern = r"#PBS\s+-o\s+(\S+)"
    error_pattern = r"#PBS\s+-e\s+(\S+)"
    name_pattern = r"#PBS\s+-N\s+(\S+)"
    #: qdel's answer for a job that already ended (with `{}` for its id), and its exit code
    qdel_ended: ClassVar[tuple[str, int]]

    def job_id(self, number: str) -> str:
        return f"{number}.{SERVER}"

    def qstat(self, jobs: list[Job], args: list[str]) -> tuple[str, list[str]]:
        """qstat's output for `jobs`, and the ids of those it does not list."""
        raise NotImplementedError

    def answer(self, command: str, args: list[str]) -> str:
        if command == "qsub":
            script = args[-1]
            return self.job_id(self.submit(script, Path(script).read_text())) + "\n"
        ids = [a for a in args if not a.startswith("-") and a not in ("json",)]
        known = {job.number: job for job in self.jobs(ids)}
        unknown = [i for i in ids if job_number(i) not in known]
        if command == "qdel":  # a job that already ended is refused, in each flavor's words
            ended = [self.job_id(job.number) for job in known.values() if job.state() not in ("pending", "running")]
            for job in known.values():
                job.cancel()
            message, code = self.qdel_ended
            errors = [f"qdel: Unknown Job Id {i}\n" for i in unknown] + [message.format(i) for i in ended]
            if errors:
                raise Refused("".join(errors), 153 if unknown else code)
            return ""
        output, unlisted = self.qstat(list(known.values()), args)
        unknown += unlisted
        if unknown:
            raise Refused("".join(f"qstat: Unknown Job Id {i}\n" for i in unknown), 153, stdout=output)
        return output


class FakePBSPro(_FakePBS):
    """PBS Pro's commands, as `PBSProProvider` runs them."""

    qdel_ended = ("qdel: Job has finished {}\n", 35)  # PBSE_HISTJOBID

    def qstat(self, jobs: list[Job], args: list[str]) -> tuple[str, list[str]]:  # qstat -f -F json -x IDS
        history = "-x" in args
        unlisted, listed = [], {}
        for job in jobs:
            state = job.state()
            if not history and state not in ("pending", "running"):
                unlisted.append(self.job_id(job.number))
                continue
            entry: dict[str, Any] = {"Job_Name": job.name, "job_state": _PBSPRO[state], "queue": "workq"}
            if _PBSPRO[state] == "F":
                entry["Exit_status"] = -2 if state == "cancelled" else job.exit_code()
            listed[self.job_id(job.number)] = entry
        output = json.dumps({"timestamp": int(time.time()), "pbs_version": "2022.1.0", "pbs_server": SERVER,
                             "Jobs": listed}, indent=4) + "\n"  # fmt: skip
        return output, unlisted


class FakeTorque(_FakePBS):
    """Torque's commands, as `TorqueProvider` runs them."""

    # PBSE_BADSTATE, modulo 256
    qdel_ended = ("qdel: Request invalid for state of job MSG=invalid state for job - COMPLETE {}\n", 170)

    def qstat(self, jobs: list[Job], args: list[str]) -> tuple[str, list[str]]:
        if "-f" in args:  # qstat -f IDS
            return "".join(self._full(job) for job in jobs), []
        rows = []  # qstat IDS
        for job in jobs:
            name = job.name[:16]
            rows.append(f"{self.job_id(job.number):<24} {name:<16} {'user':<15} 00:00:00 {_TORQUE[job.state()]} batch")
        if not rows:
            return "", []
        header = f"{'Job ID':<24} {'Name':<16} {'User':<15} Time Use S Queue\n"
        return header + f"{'-' * 24} {'-' * 16} {'-' * 15} -------- - -----\n" + "\n".join(rows) + "\n", []

    def _full(self, job: Job) -> str:
        """One job in Torque's `qstat -f` format: attributes indented 4 spaces, long values folded onto lines
        that start with a tab, a blank line after the job. A completed job has its exit_status (256 + the
        signal for a job killed by one); a job cancelled before it started has none."""
        state = job.state()
        lines = [f"Job Id: {self.job_id(job.number)}", f"    Job_Name = {job.name}", "    Job_Owner = user@fakehost",
                 f"    job_state = {_TORQUE[state]}", "    queue = batch", f"    server = {SERVER}"]  # fmt: skip
        if state == "cancelled" and job.started:
            lines.append("    exit_status = 271")  # qdel's SIGTERM
        elif state in ("completed", "failed") and job.exit_code() is not None:
            lines.append(f"    exit_status = {job.exit_code()}")
        lines += ["    Variable_List = PBS_O_QUEUE=batch,PBS_O_HOME=/home/user,PBS_O_LANG=C.UTF-8,",
                  "\tPBS_O_LOGNAME=user,PBS_O_SHELL=/bin/bash,PBS_O_HOST=fakehost"]  # fmt: skip
        return "\n".join(lines) + "\n\n"
