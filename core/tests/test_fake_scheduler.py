"""The fake batch scheduler's machinery, through a tiny scheduler's fake defined here: a class in a test
module that is not installed, as a third party's tests would define it."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parlay.testing.fake_scheduler import FakeScheduler, Refused, fake_scheduler
from parlay.testing.providers import wait_for


class FakeTiny(FakeScheduler):
    """`tsub SCRIPT` prints the job's id, `tstat [IDS]` lists `ID NAME STATE` (an unknown id is refused after
    the known ones are listed), `tdel IDS` cancels, `tacct ID` prints the exit code."""

    submit_command, status_command, cancel_command = "tsub", "tstat", "tdel"
    other_commands = ("tacct",)
    job_id_variable = "TINY_JOB_ID"
    output_pattern, error_pattern, name_pattern = r"^#TINY out=(\S+)", r"^#TINY err=(\S+)", r"^#TINY name=(\S+)"

    def job_id(self, number):
        return f"{number}.tiny"

    def answer(self, command, args):
        if command == "tsub":
            return self.job_id(self.submit(args[0], Path(args[0]).read_text())) + "\n"
        jobs = self.jobs(args)
        if command == "tdel":
            for job in jobs:
                job.cancel()
            return ""
        if command == "tacct":
            return f"{jobs[0].exit_code()}\n"
        listed = "".join(f"{self.job_id(job.number)} {job.name} {job.state()}\n" for job in jobs)
        unknown = [i for i in args if i not in {self.job_id(job.number) for job in jobs}]
        if unknown:
            raise Refused(f"tstat: no job {' '.join(unknown)}", 2, stdout=listed)
        return listed


def job_script(tmp_path, body, *directives, name="job.sh"):
    script = tmp_path / name
    script.write_text("#!/bin/bash\n" + "".join(f"#TINY {d}\n" for d in directives) + body + "\n")
    return script


def test_commands_are_named_by_their_role():
    assert (FakeTiny.submit_command, FakeTiny.status_command, FakeTiny.cancel_command) == ("tsub", "tstat", "tdel")
    assert FakeTiny.commands() == ("tsub", "tstat", "tdel", "tacct")


def test_the_context_manager_puts_the_commands_on_path_and_kills_jobs_even_after_a_failure(tmp_path):
    script = job_script(tmp_path, f"touch {tmp_path}/ran\nsleep 300")
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        pytest.raises(RuntimeError, match="the test failed"),
        fake_scheduler(tmp_path / "sched", FakeTiny, monkeypatch) as scheduler,
    ):
        assert isinstance(scheduler, FakeTiny)
        assert os.environ["PATH"].split(os.pathsep)[0] == str(scheduler.bin)
        assert sorted(os.listdir(scheduler.bin)) == ["tacct", "tdel", "tstat", "tsub"]
        assert subprocess.run(["tsub", str(script)], capture_output=True, timeout=60).returncode == 0
        wait_for((tmp_path / "ran").exists, "the job to start", interval=0.05)
        raise RuntimeError("the test failed")
    wait_for(lambda: not scheduler.active_jobs(), "the job killed on the way out to die", interval=0.05)
    assert str(scheduler.bin) not in os.environ["PATH"].split(os.pathsep), "monkeypatch restores PATH"


def test_submit_runs_the_job_with_its_id_and_cancel_kills_it(tmp_path):
    scheduler = FakeTiny.create(tmp_path / "sched")
    script = job_script(tmp_path, f"echo $TINY_JOB_ID > {tmp_path}/ran\nsleep 300", "name=long")
    try:
        done = scheduler.run("tsub", str(script))
        assert (done.returncode, done.stdout, done.stderr) == (0, "1.tiny\n", "")
        wait_for((tmp_path / "ran").exists, "the job to start", interval=0.05)
        assert (tmp_path / "ran").read_text() == "1.tiny\n", "the job sees its id"
        assert scheduler.active_jobs() == ["1"]
        assert scheduler.run("tstat", "1.tiny").stdout == "1.tiny long running\n"
        assert scheduler.run("tdel", "1.tiny").returncode == 0
        assert scheduler.active_jobs() == []
        assert scheduler.run("tstat", "1.tiny").stdout == "1.tiny long cancelled\n"
    finally:
        scheduler.stop()


def test_output_error_paths_and_exit_codes(tmp_path):
    scheduler = FakeTiny.create(tmp_path / "sched")
    out, err = tmp_path / "job-%j.out", tmp_path / "job.err"
    alone = job_script(tmp_path, "echo one\necho two >&2\necho three", f"out={out}")
    assert scheduler.run("tsub", str(alone)).returncode == 0
    wait_for(lambda: not scheduler.active_jobs(), "the job to end", interval=0.05)
    assert (tmp_path / "job-1.out").read_text() == "one\ntwo\nthree\n", "stdout and stderr share the file"
    both = job_script(tmp_path, "echo out\necho err >&2\nexit 3", f"out={out}", f"err={err}", name="both.sh")
    unnamed = job_script(tmp_path, "echo default; exit 0", name="unnamed.sh")
    assert scheduler.run("tsub", str(both)).returncode == scheduler.run("tsub", str(unnamed)).returncode == 0
    wait_for(lambda: not scheduler.active_jobs(), "the jobs to end", interval=0.05)
    assert ((tmp_path / "job-2.out").read_text(), err.read_text()) == ("out\n", "err\n")
    assert (tmp_path / "sched" / "jobs" / "3" / "stdout").read_text() == "default\n", "no output path: the job's folder"
    assert (
        scheduler.run("tstat").stdout == "1.tiny job.sh completed\n2.tiny both.sh failed\n3.tiny unnamed.sh completed\n"
    )
    assert [scheduler.run("tacct", job).stdout for job in ("1", "2")] == ["0\n", "3\n"]


def test_a_refusal_prints_its_stdout_and_stderr_and_exits_with_its_code(tmp_path):
    scheduler = FakeTiny.create(tmp_path / "sched")
    assert scheduler.run("tsub", str(job_script(tmp_path, "true", "name=short"))).returncode == 0
    wait_for(lambda: not scheduler.active_jobs(), "the job to end", interval=0.05)
    done = scheduler.run("tstat", "1.tiny", "7.tiny")
    assert (done.returncode, done.stdout, done.stderr) == (2, "1.tiny short completed\n", "tstat: no job 7.tiny\n")


def test_injected_failures_and_how_they_heal(tmp_path):
    scheduler = FakeTiny.create(tmp_path / "sched")
    scheduler.fail("tsub", "submission refused: invalid account", code=4)
    done = scheduler.run("tsub", "x.sh")
    assert (done.returncode, done.stdout, done.stderr) == (4, "", "tsub: submission refused: invalid account\n")
    scheduler.hang("tstat", 300)
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(["tstat"], env={**os.environ, "PATH": scheduler.path}, timeout=1)
    scheduler.queue_delay = 300
    scheduler.heal()
    assert scheduler.queue_delay == 300, "healing keeps the queue delay"
    assert scheduler.run("tstat").returncode == 0
    try:
        job_id = scheduler.run("tsub", str(job_script(tmp_path, "true"))).stdout.strip()
        assert scheduler.run("tstat", job_id).stdout == f"{job_id} job.sh pending\n"
        scheduler.vanish(job_id)
        assert scheduler.active_jobs() == []
        assert scheduler.run("tstat", job_id).stderr == f"tstat: no job {job_id}\n", "a vanished job is forgotten"
    finally:
        scheduler.stop()


def test_a_class_that_is_not_a_usable_fake_is_refused(tmp_path, monkeypatch):
    with (
        pytest.raises(TypeError, match=r"fake_class=None: expected a subclass of FakeScheduler"),
        fake_scheduler(tmp_path / "a", None, monkeypatch),
    ):
        pass

    class Incomplete(FakeScheduler):
        submit_command = "tsub"

    with pytest.raises(TypeError, match=r"Incomplete must declare status_command, cancel_command, job_id_variable"):
        Incomplete.create(tmp_path / "b")

    class Local(FakeTiny):
        pass

    with pytest.raises(TypeError, match=r"Local: a fake scheduler must be defined at the top level of a module"):
        Local.create(tmp_path / "c")


MODULE = """
import sys
from parlay.testing.fake_scheduler import FakeScheduler

class FakeModules(FakeScheduler):
    submit_command, status_command, cancel_command = "msub", "mstat", "mdel"
    job_id_variable, output_pattern, error_pattern, name_pattern = "M_JOB_ID", "^$", "^$", "^$"

    def answer(self, command, args):
        return " ".join(sorted(m for m in sys.modules if m.split(".")[0] in ("pytest", "_pytest", "parlay")))
"""


def test_a_command_imports_neither_pytest_nor_the_conformance_suites(tmp_path):
    """What keeps each command quick, for a fake in a module of its own (as each provider plugin ships)."""
    path = tmp_path / "elsewhere" / "fake_modules.py"
    path.parent.mkdir()
    path.write_text(MODULE)
    spec = importlib.util.spec_from_file_location("fake_modules", path)  # as pytest's importlib mode does
    module = importlib.util.module_from_spec(spec)
    sys.modules["fake_modules"] = module
    try:
        spec.loader.exec_module(module)
        scheduler = module.FakeModules.create(tmp_path / "sched")
        done = scheduler.run("mstat")
    finally:
        del sys.modules["fake_modules"]
    assert done.returncode == 0, done.stderr
    light = ["parlay", "parlay.testing", "parlay.testing.fake_scheduler", "parlay.testing.processes"]
    assert done.stdout.split() == light


def test_state_lives_in_the_folder(tmp_path):
    scheduler = FakeTiny.create(tmp_path / "sched")
    scheduler.fail("tdel", "down")
    again = FakeTiny(tmp_path / "sched")  # what each command works on
    assert json.loads((tmp_path / "sched" / "settings.json").read_text()) == {"fail:tdel": ["down", 1]}
    assert again.run("tdel", "1").returncode == 1
    FakeTiny.create(tmp_path / "sched")
    assert again.run("tdel", "1").returncode == 0, "create starts afresh"
