"""The fake batch scheduler: each flavor's commands submit, list and cancel real local jobs in its formats."""

import subprocess
import time

import pytest

from parlay.testing.fake_scheduler import FakeScheduler

SUBMIT = {"slurm": ["sbatch"], "pbspro": ["qsub"], "torque": ["qsub"], "sge": ["qsub"], "lsf": ["bsub"]}
CANCEL = {"slurm": "scancel", "pbspro": "qdel", "torque": "qdel", "sge": "qdel", "lsf": "bkill"}


def run(scheduler, *command, stdin=None):
    env = {"PATH": scheduler.path}
    return subprocess.run(command, capture_output=True, text=True, env=env, stdin=stdin, timeout=60)


@pytest.mark.parametrize("flavor", sorted(SUBMIT))
def test_submit_runs_and_cancel_kills(tmp_path, flavor):
    scheduler = FakeScheduler(tmp_path / "sched", flavor)
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\ntouch {tmp_path}/ran\nsleep 300\n")
    try:
        if flavor == "lsf":
            with open(script) as stdin:
                done = run(scheduler, "bsub", stdin=stdin)
        else:
            done = run(scheduler, *SUBMIT[flavor], str(script))
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 60
        while not (tmp_path / "ran").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        [job] = scheduler.active_jobs()
        job_id = f"{job}.fakeserver" if flavor in ("pbspro", "torque") else job
        assert run(scheduler, CANCEL[flavor], job_id).returncode == 0
        assert scheduler.active_jobs() == []
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
