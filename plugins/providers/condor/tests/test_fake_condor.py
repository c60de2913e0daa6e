"""FakeCondor: its commands submit, list and remove real local jobs as HTCondor's tools answer."""

from parlay.testing.providers import wait_for
from parlay_provider_condor.fake import FakeCondor


def test_commands_are_named_by_their_role():
    assert FakeCondor.commands() == ("condor_submit", "condor_q", "condor_rm", "condor_history")


def test_condor_tools_answer_as_htcondor_does(tmp_path):
    scheduler = FakeCondor.create(tmp_path / "sched")
    for name, body in (("long", f"touch {tmp_path}/ran; sleep 300"), ("short", "echo done; exit 3")):
        (tmp_path / f"{name}.sh").write_text(f"#!/bin/bash\n{body}\n")
        (tmp_path / f"{name}.condor").write_text(
            f"universe = vanilla\nexecutable = {tmp_path}/{name}.sh\nbatch_name = {name}\n"
            f"output = {tmp_path}/$(DOLLAR){name}.out\nerror = {tmp_path}/{name}.err\nqueue 1\n"
        )
    try:
        done = scheduler.run("condor_submit", str(tmp_path / "long.condor"))
        assert done.stdout == "Submitting job(s).\n1 job(s) submitted to cluster 1.\n"
        assert scheduler.run("condor_submit", str(tmp_path / "short.condor")).returncode == 0
        history = ["-af:j", "JobStatus", "ExitCode", "-limit", "1"]
        wait_for(
            lambda: (
                (tmp_path / "ran").exists() and scheduler.run("condor_history", "2", *history).stdout == "2.0 4 3\n"
            ),
            "the first job to start and the second to end",
        )
        assert (tmp_path / "$short.out").read_text() == "done\n", "$(DOLLAR) is a literal $"
        assert scheduler.run("condor_q", "1", "2", "-af:j", "JobStatus", "ExitCode").stdout == "1.0 2 undefined\n"
        gone = scheduler.run("condor_rm", "2")  # no longer queued, while another job is
        assert (gone.returncode, gone.stdout, gone.stderr) == (1, "", "\nCouldn't find/remove all jobs in cluster 2\n")
        removed = scheduler.run("condor_rm", "1", "2").stdout
        constraint = "(ClusterId == 1 || ClusterId == 2)"
        assert removed == f"All jobs matching constraint {constraint} have been marked for removal\n"
        assert scheduler.run("condor_history", "1", "2", *history).stdout == "1.0 3 undefined\n"
        empty = scheduler.run("condor_rm", "1")  # nothing left in the queue: a message, not an error
        assert (empty.returncode, empty.stderr) == (0, "condor_rm:0:There are no jobs in the queue\n")
    finally:
        scheduler.stop()
