"""`FakeLSF`: bsub, bjobs and bkill for the provider tests, printing what the real tools print (formats from
their manuals) and running each job as a local process group."""

from __future__ import annotations

import shlex
import sys
import time

from parlay.testing.fake_scheduler import FakeScheduler, Refused

_LSF = {"pending": "PEND", "running": "RUN", "completed": "DONE", "failed": "EXIT", "cancelled": "EXIT"}
_BSUB_FLAGS = {"-B", "-H", "-I", "-Ip", "-Is", "-K", "-N", "-r", "-rn", "-x"}  # bsub options that take no value


def _bsub_args(args: list[str]) -> tuple[str, list[str]]:
    """bsub's options as directive lines, and the command with its arguments that follow them."""
    lines, index = [], 0
    while index < len(args) and args[index].startswith("-"):
        if args[index] in _BSUB_FLAGS:
            index += 1
            continue
        lines.append(f"#BSUB {args[index]} {args[index + 1] if index + 1 < len(args) else ''}\n")
        index += 2
    return "".join(lines), args[index:]


class FakeLSF(FakeScheduler):
    """LSF's commands, as `LSFProvider` runs them: `bsub [options] < script` or `bsub [options] command`."""

    submit_command = "bsub"
    status_command = "bjobs"
    cancel_command = "bkill"
    job_id_variable = "LSB_JOBID"
    output_pattern = r"#BSUB\s+-o\s+(\S+)"
    error_pattern = r"#BSUB\s+-e\s+(\S+)"
    name_pattern = r"#BSUB\s+-J\s+(\S+)"

    def answer(self, command: str, args: list[str]) -> str:
        if command == "bsub":  # bsub [options] < script, or bsub [options] command [arguments]
            options, words = _bsub_args(args)
            stdin = sys.stdin.read()
            # A command's #BSUB lines are not read (LSB_BSUB_PARSE_SCRIPT is unset); options on the command line win.
            body = shlex.join(words) + "\n" if words else stdin
            script = self.directory / f"bsub-{time.time_ns()}.sh"
            script.write_text(body)
            number = self.submit(str(script), options + ("" if words else stdin))
            return f"Job <{number}> is submitted to default queue <normal>.\n"
        ids = [a for a in args if a.isdigit()]
        known = {job.number: job for job in self.jobs(ids)}
        errors = [f"Job <{i}> is not found\n" for i in ids if i not in known]
        lines = []
        for job in known.values():
            state = job.state()
            if command == "bkill":
                if state in ("pending", "running"):
                    job.cancel()
                    lines.append(f"Job <{job.number}> is being terminated\n")
                else:
                    errors.append(f"Job <{job.number}>: Job has already finished\n")
            else:  # bjobs -noheader -o "jobid stat exit_code" IDS
                code = {"completed": "0", "failed": str(job.exit_code()), "cancelled": "130"}.get(state, "-")
                lines.append(f"{job.number} {_LSF[state]} {code}\n")
        if errors:
            raise Refused("".join(errors), 255, stdout="".join(lines))
        return "".join(lines)
