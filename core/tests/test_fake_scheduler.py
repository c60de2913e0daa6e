"""The fake batch scheduler: each flavor's commands submit, list and cancel real local jobs in its formats."""

import os
import subprocess

import pytest

from parlay.testing.fake_scheduler import (
    COMMANDS,
    SERVER,
    FakeScheduler,
    cancel_command,
    fake_scheduler,
    status_command,
    submit_command,
)
from parlay.testing.providers import wait_for


def run(scheduler, *command, stdin=None):
    env = {**os.environ, "PATH": scheduler.path}
    return subprocess.run(command, capture_output=True, text=True, env=env, stdin=stdin, timeout=60)


def test_commands_are_named_by_their_role():
    def roles(flavor):
        return [submit_command(flavor), status_command(flavor), cancel_command(flavor)]

    assert roles("slurm") == ["sbatch", "squeue", "scancel"]
    assert roles("pbspro") == roles("torque") == roles("sge") == ["qsub", "qstat", "qdel"]
    assert roles("condor") == ["condor_submit", "condor_q", "condor_rm"]
    assert roles("lsf") == ["bsub", "bjobs", "bkill"]


def test_the_context_manager_puts_the_commands_on_path_and_kills_jobs_even_after_a_failure(tmp_path):
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\ntouch {tmp_path}/ran\nsleep 300\n")
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        pytest.raises(RuntimeError, match="the test failed"),
        fake_scheduler(tmp_path / "sched", "slurm", monkeypatch) as scheduler,
    ):
        assert os.environ["PATH"].split(os.pathsep)[0] == str(scheduler.bin)
        assert subprocess.run(["sbatch", str(script)], capture_output=True, timeout=60).returncode == 0
        wait_for((tmp_path / "ran").exists, "the job to start", interval=0.05)
        raise RuntimeError("the test failed")
    wait_for(lambda: not scheduler.active_jobs(), "the job killed on the way out to die", interval=0.05)
    assert str(scheduler.bin) not in os.environ["PATH"].split(os.pathsep), "monkeypatch restores PATH"


@pytest.mark.parametrize("flavor", sorted(set(COMMANDS) - {"condor"}))  # condor: a submit description, below
def test_submit_runs_and_cancel_kills(tmp_path, flavor):
    scheduler = FakeScheduler(tmp_path / "sched", flavor)
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\ntouch {tmp_path}/ran\nsleep 300\n")
    try:
        if flavor == "lsf":
            with open(script) as stdin:
                done = run(scheduler, "bsub", stdin=stdin)
        else:
            done = run(scheduler, submit_command(flavor), str(script))
        assert done.returncode == 0, done.stderr
        wait_for((tmp_path / "ran").exists, "the job to start", interval=0.05)
        [job] = scheduler.active_jobs()
        job_id = f"{job}.{SERVER}" if flavor in ("pbspro", "torque") else job
        assert run(scheduler, cancel_command(flavor), job_id).returncode == 0
        assert scheduler.active_jobs() == []
    finally:
        scheduler.stop()


def test_an_output_file_named_alone_gets_both_streams(tmp_path):
    scheduler = FakeScheduler(tmp_path / "sched", "slurm")
    out = tmp_path / "job.out"
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\n#SBATCH --output={out}\necho one\necho two >&2\necho three\n")
    try:
        assert run(scheduler, "sbatch", str(script)).returncode == 0
        wait_for(lambda: not scheduler.active_jobs(), "the job to end", interval=0.05)
        assert out.read_text() == "one\ntwo\nthree\n", "stdout and stderr share the file, neither overwriting"
    finally:
        scheduler.stop()


def test_injected_failure_and_unknown_flavor(tmp_path):
    scheduler = FakeScheduler(tmp_path / "sched", "slurm")
    scheduler.fail("sbatch", "Batch job submission failed: Invalid account", code=1)
    done = run(scheduler, "sbatch", "x.sh")
    assert done.returncode == 1 and "Invalid account" in done.stderr
    scheduler.heal()
    assert "Invalid job id" in run(scheduler, "squeue", "--jobs=5").stderr
    with pytest.raises(ValueError, match="flavor='pbs': expected one of"):
        FakeScheduler(tmp_path / "x", "pbs")


def test_lsf_bsub_runs_a_command_with_options_from_the_command_line_only(tmp_path):
    scheduler = FakeScheduler(tmp_path / "sched", "lsf")
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\n#BSUB -o {tmp_path}/ignored.out\necho from-the-script\n")
    script.chmod(0o755)
    out, err = tmp_path / "job.out", tmp_path / "job.err"
    try:
        command = ["bsub", "-J", "named", "-x", "-o", str(out), "-e", str(err), "-W", "00:10", str(script)]
        done = run(scheduler, *command, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        [job] = scheduler.job_ids()
        assert done.stdout == f"Job <{job}> is submitted to default queue <normal>.\n"
        bjobs = ["bjobs", "-a", "-noheader", "-o", "jobid stat exit_code", job]
        wait_for(lambda: "DONE" in run(scheduler, *bjobs).stdout, "bjobs to list the job DONE")
        assert out.read_text() == "from-the-script\n"
        assert not (tmp_path / "ignored.out").exists(), "#BSUB lines of a command are not read"
    finally:
        scheduler.stop()


def test_condor_tools_answer_as_htcondor_does(tmp_path):
    scheduler = FakeScheduler(tmp_path / "sched", "condor")
    for name, body in (("long", f"touch {tmp_path}/ran; sleep 300"), ("short", "echo done; exit 3")):
        (tmp_path / f"{name}.sh").write_text(f"#!/bin/bash\n{body}\n")
        (tmp_path / f"{name}.condor").write_text(
            f"universe = vanilla\nexecutable = {tmp_path}/{name}.sh\nbatch_name = {name}\n"
            f"output = {tmp_path}/$(DOLLAR){name}.out\nerror = {tmp_path}/{name}.err\nqueue 1\n"
        )
    try:
        done = run(scheduler, "condor_submit", str(tmp_path / "long.condor"))
        assert done.stdout == "Submitting job(s).\n1 job(s) submitted to cluster 1.\n"
        assert run(scheduler, "condor_submit", str(tmp_path / "short.condor")).returncode == 0
        history = ["-af:j", "JobStatus", "ExitCode", "-limit", "1"]
        wait_for(
            lambda: (
                (tmp_path / "ran").exists() and run(scheduler, "condor_history", "2", *history).stdout == "2.0 4 3\n"
            ),
            "the first job to start and the second to end",
        )
        assert (tmp_path / "$short.out").read_text() == "done\n", "$(DOLLAR) is a literal $"
        assert run(scheduler, "condor_q", "1", "2", "-af:j", "JobStatus", "ExitCode").stdout == "1.0 2 undefined\n"
        gone = run(scheduler, "condor_rm", "2")  # no longer queued, while another job is
        assert (gone.returncode, gone.stdout, gone.stderr) == (1, "", "\nCouldn't find/remove all jobs in cluster 2\n")
        removed = run(scheduler, "condor_rm", "1", "2").stdout
        constraint = "(ClusterId == 1 || ClusterId == 2)"
        assert removed == f"All jobs matching constraint {constraint} have been marked for removal\n"
        assert run(scheduler, "condor_history", "1", "2", *history).stdout == "1.0 3 undefined\n"
        empty = run(scheduler, "condor_rm", "1")  # nothing left in the queue: a message, not an error
        assert (empty.returncode, empty.stderr) == (0, "condor_rm:0:There are no jobs in the queue\n")
    finally:
        scheduler.stop()


def test_torque_full_status_tells_a_failed_job_from_a_completed_one(tmp_path):
    scheduler = FakeScheduler(tmp_path / "sched", "torque")
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#PBS -N fails\nexit 3\n")
    try:
        job_id = run(scheduler, "qsub", str(script)).stdout.strip()
        wait_for(lambda: not scheduler.active_jobs(), "the job to end", interval=0.05)
        assert f"{job_id:<24} fails" in run(scheduler, "qstat", job_id).stdout  # the table says only C
        done = run(scheduler, "qstat", "-f", job_id, f"99.{SERVER}")
        assert done.returncode == 153 and done.stderr == f"qstat: Unknown Job Id 99.{SERVER}\n"
        lines = done.stdout.splitlines()
        assert lines[:2] == [f"Job Id: {job_id}", "    Job_Name = fails"]
        assert "    job_state = C" in lines and "    exit_status = 3" in lines
        assert any(line.startswith("\t") for line in lines), "long values fold onto tab-indented lines"
        assert lines[-1] == "", "a blank line follows each job"
        refused = run(scheduler, "qdel", job_id)
        assert refused.returncode == 170 and "invalid state for job - COMPLETE" in refused.stderr
    finally:
        scheduler.stop()


def test_pbspro_qdel_refuses_a_finished_job(tmp_path):
    scheduler = FakeScheduler(tmp_path / "sched", "pbspro")
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    try:
        job_id = run(scheduler, "qsub", str(script)).stdout.strip()
        wait_for(lambda: not scheduler.active_jobs(), "the job to end", interval=0.05)
        refused = run(scheduler, "qdel", job_id)
        assert (refused.returncode, refused.stderr) == (35, f"qdel: Job has finished {job_id}\n")
    finally:
        scheduler.stop()


def test_sge_qdel_answers_on_stdout_and_qacct_has_no_record_of_a_job_deleted_while_queued(tmp_path):
    scheduler = FakeScheduler(tmp_path / "sched", "sge")
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\n#$ -N running\ntouch {tmp_path}/ran\nsleep 300\n")
    try:
        running = run(scheduler, "qsub", "-terse", str(script)).stdout.strip()
        wait_for((tmp_path / "ran").exists, "the job to start", interval=0.05)
        scheduler.queue_delay = 300
        queued = run(scheduler, "qsub", str(script)).stdout.split()[2]
        done = run(scheduler, "qdel", running, "99", queued)
        assert (done.returncode, done.stderr) == (1, ""), "real qdel says nothing on stderr"
        assert done.stdout == (
            f"user has registered the job {running} for deletion\n"
            'denied: job "99" does not exist\n'
            f"user has deleted job {queued}\n"
        )
        assert scheduler.active_jobs() == []
        record = run(scheduler, "qacct", "-j", running)
        assert "failed       100 : assumedly after job\n" in record.stdout and "exit_status  137" in record.stdout
        missing = run(scheduler, "qacct", "-j", queued)
        assert (missing.returncode, missing.stderr) == (1, f"error: job id {queued} not found\n")
    finally:
        scheduler.stop()
