"""Workflows on HighThroughputExecutor with AWSProvider, end to end through the EC2 stand-in: the managers run
on the instances (their user-data, as local processes) and connect over TCP with CurveZMQ. After the run
nothing of it is left, whether parlay made its networking or the user gave it (which stays); spot blocks
run too; after a SIGKILLed submitter, `parlay cleanup` finds and deletes everything by the journal and tags."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import AddressWarning
from parlay.providers.base import read_journal
from parlay.providers.cloud import RUN_TAG, tag_value
from parlay.testing import TIMEOUT
from parlay.testing.providers import run_cleanup, wait_for
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_aws import AWSProvider

TASKS = 100


def app():
    """The workflow's app, defined in a local scope: it travels by value, as the instances do not have this
    module (an app of a module the instances do not have fails to unpickle there, as on EC2)."""

    @python_app
    def double(x):
        import os

        return 2 * x, os.path.basename(os.environ["HOME"])  # the stand-in's instances have a home of their own

    return double


def of_run(ec2, run_id):
    return [r for r in ec2.resources() if r[2].get(RUN_TAG) == tag_value(run_id)]


def instances_of(ec2, run_id):
    reservations = ec2.client.describe_instances(Filters=[{"Name": f"tag:{RUN_TAG}", "Values": [tag_value(run_id)]}])
    return [i for r in reservations["Reservations"] for i in r["Instances"]]


def run_workflow(ec2, tmp_path, **options):
    """Run TASKS tasks; (their results, the run's instances as they were while it ran, its managers, run id). The
    stand-in's instances run on this host, so the loopback address htex warns about reaches them."""
    provider = AWSProvider(ec2.image_id, status_polling_interval=0.5, max_blocks=1, **options)
    executor = HighThroughputExecutor(address="127.0.0.1", provider=provider, max_workers_per_node=2)
    config = Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=0.5)
    double = app()
    with pytest.warns(AddressWarning, match="AWSProvider runs blocks on other hosts"), parlay.load(config) as dfk:
        results = [future.result(TIMEOUT) for future in [double(i) for i in range(TASKS)]]
        instances = instances_of(ec2, dfk.run_id)
        nodes = provider.nodes_per_block
        managers = wait_for(lambda: len(found := executor.command("managers")) == nodes and found, "the managers")
        run_id = dfk.run_id
    return results, instances, managers, run_id


def assert_nothing_left(ec2, run_id):
    assert of_run(ec2, run_id) == [], "the run's cleanup deletes everything the run created"
    assert {i["State"]["Name"] for i in instances_of(ec2, run_id)} == {"terminated"}
    wait_for(lambda: not ec2.running(), "the instances' processes to be killed", interval=0.05)


def test_a_workflow_on_instances_in_networking_parlay_makes(ec2, tmp_path):
    results, instances, managers, run_id = run_workflow(ec2, tmp_path, nodes_per_block=2)
    assert [value for value, _ in results] == [2 * i for i in range(TASKS)]
    assert {home for _, home in results} <= {i["InstanceId"] for i in instances}, "the tasks ran on the instances"
    assert len(instances) == 2 and len({i["SubnetId"] for i in instances}) == 1
    assert sorted(m["block_id"] for m in managers) == ["0", "0"], "each instance of the block runs one manager"
    journal = read_journal(str(tmp_path / "runinfo" / "000"))
    made = {entry["resource"] for entry in journal.values() if "resource" in entry}
    assert made == {"vpc", "internet-gateway", "route-table", "subnet", "security-group"}
    assert {entry["event"] for entry in journal.values() if "resource" in entry} == {"deleted"}
    assert_nothing_left(ec2, run_id)


@pytest.fixture
def user_networking(ec2):
    """A VPC, a subnet and a security group of the user's, made before the run."""
    vpc = ec2.client.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.client.create_subnet(VpcId=vpc, CidrBlock="172.31.0.0/20")["Subnet"]["SubnetId"]
    group = ec2.client.create_security_group(GroupName="workers", Description="the lab's", VpcId=vpc)["GroupId"]
    return {"vpc_id": vpc, "subnet_id": subnet, "security_group_id": group}


def test_spot_instances_in_the_users_networking_which_stays(ec2, tmp_path, user_networking):
    results, instances, _, run_id = run_workflow(ec2, tmp_path, spot_max_bid=0.05, **user_networking)
    assert [value for value, _ in results] == [2 * i for i in range(TASKS)]
    assert [i["InstanceLifecycle"] for i in instances] == ["spot"]
    assert instances[0]["SubnetId"] == user_networking["subnet_id"]
    assert [g["GroupId"] for g in instances[0]["SecurityGroups"]] == [user_networking["security_group_id"]]
    assert not [e for e in read_journal(str(tmp_path / "runinfo" / "000")).values() if "resource" in e]
    assert_nothing_left(ec2, run_id)
    alive = {ident for _, ident, _ in ec2.resources()}
    assert set(user_networking.values()) <= alive, "the user's networking is left in place"


SUBMITTER = """
import sys, time
import parlay
from parlay import Config, python_app
from parlay.errors import AddressWarning
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_aws import AWSProvider

@python_app
def double(x):
    return 2 * x

provider = AWSProvider(
    sys.argv[1], init_blocks=2, min_blocks=2, max_blocks=2, status_polling_interval=0.5, linger=sys.argv[3] == "True"
)
executor = HighThroughputExecutor(
    address="127.0.0.1", provider=provider, max_workers_per_node=1, heartbeat_period=1, heartbeat_threshold=10
)
parlay.load(Config(executors=[executor], run_dir=sys.argv[2], strategy_period=0.5))
results = [future.result() for future in [double(n) for n in range(20)]]
print("worked", results == [2 * n for n in range(20)], flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("linger", [True, False])
def test_parlay_cleanup_after_the_submitter_is_killed(ec2, tmp_path, linger):
    """With linger=True the instances wait for `parlay cleanup`; with linger=False they end themselves once their
    workers give up on the dead interchange, and `parlay cleanup` deletes the networking."""
    script, output = tmp_path / "submitter.py", tmp_path / "submitter.out"
    script.write_text(textwrap.dedent(SUBMITTER))
    with open(output, "w") as stream:
        child = subprocess.Popen(
            [sys.executable, str(script), ec2.image_id, str(tmp_path / "runinfo"), str(linger)],
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "worked" in output.read_text(), "the submitter's tasks to run on its instances")
        assert "worked True" in output.read_text(), output.read_text()
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        check_cleanup(ec2, tmp_path / "runinfo" / "000", linger)
    finally:
        child.kill()
        child.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # what the submitter left (its interchange) if the test failed


def check_cleanup(ec2, run_dir, linger):
    journal = read_journal(str(run_dir))
    jobs = [entry["job_id"] for entry in journal.values() if "resource" not in entry]
    made = [entry["resource_id"] for entry in journal.values() if "resource" in entry]
    [run_id] = {entry["run_id"] for entry in journal.values()}
    assert len(jobs) == 2 and len(made) == 5
    if linger:
        assert {i["State"]["Name"] for i in instances_of(ec2, run_id)} == {"running"}
    else:
        wait_for(lambda: not ec2.running(), "the instances to shut themselves down")
    answer = run_cleanup(run_dir)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    for job_id in jobs:
        outcome = "RUNNING, cancelled" if linger else "CANCELLED, already ended"
        assert re.search(rf"job {job_id} \(parlay.htex.block-\d\): {outcome}", answer.stdout), answer.stdout
    for ident in made:
        assert re.search(rf": deleted [a-zA-Z ]+ {ident}\n", answer.stdout), answer.stdout
    assert_nothing_left(ec2, run_id)
    again = run_cleanup(run_dir)
    assert again.returncode == 0 and "nothing to cancel" in again.stdout, again.stdout
