"""FakePBSPro and FakeTorque: their commands submit, list and cancel real local jobs in each flavor's formats."""

import pytest

from parlay.testing.providers import wait_for
from parlay_provider_pbs.fake import SERVER, FakePBSPro, FakeTorque


def test_commands_are_named_by_their_role():
    assert FakePBSPro.commands() == FakeTorque.commands() == ("qsub", "qstat", "qdel")


@pytest.mark.parametrize("fake_class", [FakePBSPro, FakeTorque])
def test_submit_runs_and_cancel_kills(tmp_path, fake_class):
    scheduler = fake_class.create(tmp_path / "sched")
    script, marker = tmp_path / "job.sh", tmp_path / "ran"
    script.write_text(f"#!/bin/bash\necho $PBS_JOBID > {marker}.tmp; mv {marker}.tmp {marker}\nsleep 300\n")
    try:
        done = scheduler.run("qsub", str(script))
        assert (done.returncode, done.stdout) == (0, f"1.{SERVER}\n"), done.stderr
        wait_for(marker.exists, "the job to start", interval=0.05)
        assert marker.read_text() == f"1.{SERVER}\n", "the job sees its id"
        [job] = scheduler.active_jobs()
        assert scheduler.run("qdel", f"{job}.{SERVER}").returncode == 0
        assert scheduler.active_jobs() == []
    finally:
        scheduler.stop()


def test_torque_full_status_tells_a_failed_job_from_a_completed_one(tmp_path):
    scheduler = FakeTorque.create(tmp_path / "sched")
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#PBS -N fails\nexit 3\n")
    try:
        job_id = scheduler.run("qsub", str(script)).stdout.strip()
        wait_for(lambda: not scheduler.active_jobs(), "the job to end", interval=0.05)
        assert f"{job_id:<24} fails" in scheduler.run("qstat", job_id).stdout  # the table says only C
        done = scheduler.run("qstat", "-f", job_id, f"99.{SERVER}")
        assert done.returncode == 153 and done.stderr == f"qstat: Unknown Job Id 99.{SERVER}\n"
        lines = done.stdout.splitlines()
        assert lines[:2] == [f"Job Id: {job_id}", "    Job_Name = fails"]
        assert "    job_state = C" in lines and "    exit_status = 3" in lines
        assert any(line.startswith("\t") for line in lines), "long values fold onto tab-indented lines"
        assert lines[-1] == "", "a blank line follows each job"
        refused = scheduler.run("qdel", job_id)
        assert refused.returncode == 170 and "invalid state for job - COMPLETE" in refused.stderr
    finally:
        scheduler.stop()


def test_pbspro_qdel_refuses_a_finished_job(tmp_path):
    scheduler = FakePBSPro.create(tmp_path / "sched")
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    try:
        job_id = scheduler.run("qsub", str(script)).stdout.strip()
        wait_for(lambda: not scheduler.active_jobs(), "the job to end", interval=0.05)
        refused = scheduler.run("qdel", job_id)
        assert (refused.returncode, refused.stderr) == (35, f"qdel: Job has finished {job_id}\n")
    finally:
        scheduler.stop()
