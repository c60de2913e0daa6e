"""FakeLSF: its commands submit, list and kill real local jobs in LSF's formats."""

import subprocess

from parlay.testing.providers import wait_for
from parlay_provider_lsf.fake import FakeLSF


def test_commands_are_named_by_their_role():
    assert FakeLSF.commands() == ("bsub", "bjobs", "bkill")


def test_submit_runs_and_cancel_kills(tmp_path):
    scheduler = FakeLSF.create(tmp_path / "sched")
    script, marker = tmp_path / "job.sh", tmp_path / "ran"
    script.write_text(f"#!/bin/bash\necho $LSB_JOBID > {marker}.tmp; mv {marker}.tmp {marker}\nsleep 300\n")
    try:
        with open(script) as stdin:
            done = scheduler.run("bsub", stdin=stdin)
        assert (done.returncode, done.stdout) == (0, "Job <1> is submitted to default queue <normal>.\n"), done.stderr
        wait_for(marker.exists, "the job to start", interval=0.05)
        assert marker.read_text() == "1\n", "the job sees its id"
        assert scheduler.active_jobs() == ["1"]
        assert scheduler.run("bkill", "1").returncode == 0
        assert scheduler.active_jobs() == []
    finally:
        scheduler.stop()


def test_lsf_bsub_runs_a_command_with_options_from_the_command_line_only(tmp_path):
    scheduler = FakeLSF.create(tmp_path / "sched")
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\n#BSUB -o {tmp_path}/ignored.out\necho from-the-script\n")
    script.chmod(0o755)
    out, err = tmp_path / "job.out", tmp_path / "job.err"
    try:
        command = ["bsub", "-J", "named", "-x", "-o", str(out), "-e", str(err), "-W", "00:10", str(script)]
        done = scheduler.run(*command, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        [job] = scheduler.job_ids()
        assert done.stdout == f"Job <{job}> is submitted to default queue <normal>.\n"
        bjobs = ["bjobs", "-a", "-noheader", "-o", "jobid stat exit_code", job]
        wait_for(lambda: "DONE" in scheduler.run(*bjobs).stdout, "bjobs to list the job DONE")
        assert out.read_text() == "from-the-script\n"
        assert not (tmp_path / "ignored.out").exists(), "#BSUB lines of a command are not read"
    finally:
        scheduler.stop()
