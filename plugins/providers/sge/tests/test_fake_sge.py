"""FakeGridEngine: its commands submit, list and cancel real local jobs in Grid Engine's formats."""

from parlay.testing.providers import wait_for
from parlay_provider_sge.fake import FakeGridEngine


def test_commands_are_named_by_their_role():
    assert FakeGridEngine.commands() == ("qsub", "qstat", "qdel", "qacct")


def test_submit_runs_and_cancel_kills(tmp_path):
    scheduler = FakeGridEngine.create(tmp_path / "sched")
    script, marker = tmp_path / "job.sh", tmp_path / "ran"
    script.write_text(f"#!/bin/bash\necho $JOB_ID > {marker}.tmp; mv {marker}.tmp {marker}\nsleep 300\n")
    try:
        done = scheduler.run("qsub", str(script))
        assert (done.returncode, done.stdout) == (0, 'Your job 1 ("job.sh") has been submitted\n'), done.stderr
        wait_for(marker.exists, "the job to start", interval=0.05)
        assert marker.read_text() == "1\n", "the job sees its id"
        assert scheduler.active_jobs() == ["1"]
        assert scheduler.run("qdel", "1").returncode == 0
        assert scheduler.active_jobs() == []
    finally:
        scheduler.stop()


def test_sge_qdel_answers_on_stdout_and_qacct_has_no_record_of_a_job_deleted_while_queued(tmp_path):
    scheduler = FakeGridEngine.create(tmp_path / "sched")
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\n#$ -N running\ntouch {tmp_path}/ran\nsleep 300\n")
    try:
        running = scheduler.run("qsub", "-terse", str(script)).stdout.strip()
        wait_for((tmp_path / "ran").exists, "the job to start", interval=0.05)
        scheduler.queue_delay = 300
        queued = scheduler.run("qsub", str(script)).stdout.split()[2]
        done = scheduler.run("qdel", running, "99", queued)
        assert (done.returncode, done.stderr) == (1, ""), "real qdel says nothing on stderr"
        assert done.stdout == (
            f"user has registered the job {running} for deletion\n"
            'denied: job "99" does not exist\n'
            f"user has deleted job {queued}\n"
        )
        assert scheduler.active_jobs() == []
        record = scheduler.run("qacct", "-j", running)
        assert "failed       100 : assumedly after job\n" in record.stdout and "exit_status  137" in record.stdout
        missing = scheduler.run("qacct", "-j", queued)
        assert (missing.returncode, missing.stderr) == (1, f"error: job id {queued} not found\n")
    finally:
        scheduler.stop()
