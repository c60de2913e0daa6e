"""FakeSlurm: its commands submit, list and cancel real local jobs in Slurm's formats."""

from parlay.testing.providers import wait_for
from parlay_provider_slurm.fake import FakeSlurm


def test_commands_are_named_by_their_role():
    assert FakeSlurm.commands() == ("sbatch", "squeue", "scancel", "scontrol", "sacct")


def test_submit_runs_and_cancel_kills(tmp_path):
    scheduler = FakeSlurm.create(tmp_path / "sched")
    script, marker = tmp_path / "job.sh", tmp_path / "ran"
    script.write_text(f"#!/bin/bash\necho $SLURM_JOB_ID > {marker}.tmp; mv {marker}.tmp {marker}\nsleep 300\n")
    try:
        done = scheduler.run("sbatch", str(script))
        assert (done.returncode, done.stdout) == (0, "Submitted batch job 1\n"), done.stderr
        wait_for(marker.exists, "the job to start", interval=0.05)
        assert marker.read_text() == "1\n", "the job sees its id"
        assert scheduler.active_jobs() == ["1"]
        assert scheduler.run("scancel", "1").returncode == 0
        assert scheduler.active_jobs() == []
    finally:
        scheduler.stop()


def test_an_output_file_named_alone_gets_both_streams(tmp_path):
    scheduler = FakeSlurm.create(tmp_path / "sched")
    out = tmp_path / "job.out"
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\n#SBATCH --output={out}\necho one\necho two >&2\necho three\n")
    try:
        assert scheduler.run("sbatch", str(script)).returncode == 0
        wait_for(lambda: not scheduler.active_jobs(), "the job to end", interval=0.05)
        assert out.read_text() == "one\ntwo\nthree\n", "stdout and stderr share the file, neither overwriting"
    finally:
        scheduler.stop()


def test_injected_failure_and_an_unknown_job(tmp_path):
    scheduler = FakeSlurm.create(tmp_path / "sched")
    scheduler.fail("sbatch", "Batch job submission failed: Invalid account", code=1)
    done = scheduler.run("sbatch", "x.sh")
    assert done.returncode == 1 and "Invalid account" in done.stderr
    scheduler.heal()
    assert "Invalid job id" in scheduler.run("squeue", "--jobs=5").stderr
