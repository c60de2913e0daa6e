"""A submitter SIGKILLed while its instances run: `parlay cleanup RUN_DIR` finds them by the journal and the
labels, deletes them and names each, and the stand-in holds nothing of the run afterwards."""

import os
import re
import select
import signal
import subprocess
import sys
import textwrap

from parlay.providers.base import read_journal
from parlay.testing import TIMEOUT
from parlay.testing.providers import run_cleanup, wait_for

from .conftest import ZONE

WORKFLOW = """
    import os, sys, time
    import parlay
    from parlay import Config, python_app
    from parlay_executor_htex import HighThroughputExecutor
    from parlay_provider_gcp import GoogleCloudProvider

    @python_app
    def where():
        import os
        return os.getcwd()

    project, key_file, zone, run_dir = sys.argv[1:]
    provider = GoogleCloudProvider(project, key_file, zone, "debian-cloud", "debian-12", nodes_per_block=2,
                                   max_blocks=1, status_polling_interval=1)
    executor = HighThroughputExecutor(address="127.0.0.1", max_workers_per_node=1, provider=provider)
    dfk = parlay.load(Config(executors=[executor], run_dir=run_dir))
    print("ran", where().result(), dfk.run_dir, flush=True)
    time.sleep(600)
"""


def first_line(stream):
    ready, _, _ = select.select([stream], [], [], TIMEOUT)
    assert ready, f"the workflow printed nothing in {TIMEOUT} s"
    return stream.readline()


def test_parlay_cleanup_deletes_what_a_killed_run_left(stand_in, key_file, tmp_path):
    script = tmp_path / "workflow.py"
    script.write_text(textwrap.dedent(WORKFLOW))
    command = [sys.executable, str(script), stand_in.project, key_file, ZONE, str(tmp_path / "runinfo")]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, folder, run_dir = first_line(child.stdout).split()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert folder.startswith(str(tmp_path / "cloud")), "the task ran in an instance's folder"
    [(_, job_id)] = read_journal(run_dir)
    instances = job_id.split(",")
    assert sorted(name for kind, name, _ in stand_in.resources() if kind == "instance") == sorted(instances)
    answer = run_cleanup(run_dir)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    # the instances are cancelled, or, when their workers saw the interchange die and powered them off first,
    # found stopped by their labels and deleted: either way each is named
    cancelled = re.search(
        rf"gcp 'google_cloud' job {re.escape(job_id)} \(parlay\.htex\.block-0\): \w+, cancelled", answer.stdout
    )
    deleted = re.findall(r"gcp 'google_cloud': instance (\S+) \(TERMINATED, .*\): deleted", answer.stdout)
    assert cancelled or sorted(deleted) == sorted(instances), answer.stdout
    wait_for(lambda: stand_in.resources() == [], "the run's instances and disks to be deleted")
    again = run_cleanup(run_dir)
    assert again.returncode == 0 and "nothing to cancel" in again.stdout, again.stdout
