"""AWSProvider beyond the conformance suite: its options, the block's user-data, how a block's state follows
its instances', the networking it is given or makes, and what `sweep` finds by the tags alone."""

import os
import subprocess
import sys

import pytest

from parlay.errors import ConfigurationError, ExecutionProviderException, SubmitException
from parlay.providers.base import JobState, read_journal
from parlay.providers.cloud import BLOCK_TAG, PROVIDER_TAG, RUN_TAG, tag_value
from parlay_provider_aws import AWSProvider
from parlay_provider_aws.states import block_status

# --- options ----------------------------------------------------------------------------------------


def test_parsls_positional_options_and_defaults():
    provider = AWSProvider("ami-0123456789abcdef0", "my-key")
    assert (provider.image_id, provider.key_name, provider.label) == ("ami-0123456789abcdef0", "my-key", "ec2")
    assert (provider.instance_type, provider.region, provider.max_blocks) == ("t2.small", "us-east-2", 10)
    assert (provider.spot_max_bid, provider.walltime, provider.linger) == (0, "01:00:00", False)
    assert provider.cleanup_options() == {"label": "ec2", "image_id": "ami-0123456789abcdef0", "region": "us-east-2"}
    with_keys = AWSProvider("ami-1", profile="lab", key_file="keys.json")
    assert with_keys.cleanup_options()["key_file"] == os.path.abspath("keys.json"), "cleanup may run elsewhere"
    assert AWSProvider(**with_keys.cleanup_options()).cleanup_options() == with_keys.cleanup_options()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"state_file": "awsproviderstate.json"}, "state_file='awsproviderstate.json': expected None: parlay journals"),
        ({"spot_max_bid": -0.1}, "spot_max_bid=-0.1: expected a price >= 0"),
        ({"spot_max_bid": "cheap"}, "spot_max_bid='cheap': expected a price >= 0"),
        ({"instance_type": ""}, "instance_type='': expected a name without spaces"),
        ({"walltime": "soon"}, "walltime='soon': expected seconds or 'HH:MM:SS'"),
        ({"linger": "no"}, "linger='no': expected True or False"),
        ({"key_file": ""}, "key_file='': expected a file path, or None"),
    ],
)
def test_a_wrong_option_is_named_with_what_is_allowed(options, error):
    with pytest.raises(ConfigurationError, match=r"AWSProvider\.") as info:
        AWSProvider("ami-1", **options)
    assert error in str(info.value)


def test_spot_prices_may_be_strings_as_in_parsls_configs():
    assert AWSProvider("ami-1", spot_max_bid="0.05").spot and not AWSProvider("ami-1", spot_max_bid="0").spot


def test_importing_the_plugin_imports_no_boto3():
    code = "import sys, parlay_provider_aws; print(sorted(m for m in sys.modules if m.startswith(('boto', 'moto'))))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


# --- the user-data ----------------------------------------------------------------------------------


def rendered(tmp_path, **options):
    provider = AWSProvider("ami-1", nodes_per_block=3, walltime="00:30:00", worker_init="module load py", **options)
    provider.script_dir = str(tmp_path / "submit_scripts")
    provider.secret_environment = {"PARLAY_HTEX_KEYS": "secret keys"}
    return provider, provider.user_data("python3 -m manager", 2, "parlay.htex.block-4")


def test_the_user_data_exports_the_secrets_and_ends_the_instance_with_its_script(tmp_path):
    provider, script = rendered(tmp_path)
    lines = script.splitlines()
    assert lines[:6] == [
        "#!/bin/bash",
        "export PARLAY_HTEX_KEYS='secret keys'",
        "export PARLAY_BLOCK_DEADLINE=$(( $(date +%s) + 1800 ))",
        "trap 'shutdown -h now' EXIT",
        "( sleep 1800; shutdown -h now ) >/dev/null 2>&1 &",
        "module load py",
    ]
    assert "export PARLAY_COPIES=2" in lines, "each of the block's 3 instances starts the workers of one node"
    written = (tmp_path / "submit_scripts" / "parlay.htex.block-4.submit").read_text()
    assert written == script.replace("export PARLAY_HTEX_KEYS='secret keys'\n", "")
    assert provider.nodes_per_block == 3


def test_a_lingering_instance_does_not_shut_down(tmp_path):
    _, script = rendered(tmp_path, linger=True)
    assert "shutdown" not in script and "PARLAY_BLOCK_DEADLINE=$(( $(date +%s) + 1800 ))" in script


def test_user_data_over_16_kib_is_refused_before_any_call(tmp_path):
    provider = AWSProvider("ami-1", worker_init="#" * 17000, region="nowhere-1")
    provider.script_dir = str(tmp_path)
    with pytest.raises(SubmitException, match="over EC2's limit of 16384: shorten worker_init") as info:
        provider.submit("true", 1, "parlay.htex.block-0")
    assert info.value.permanent


# --- a block's state --------------------------------------------------------------------------------


def instance(ident, state, reason=None):
    return {"InstanceId": ident, "State": {"Name": state}, **({"StateReason": reason} if reason else {})}


USER = {"Code": "Client.UserInitiatedShutdown", "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
ITSELF = {"Code": "Client.InstanceInitiatedShutdown", "Message": "Client.InstanceInitiatedShutdown: Instance initiated"}
SPOT = {"Code": "Server.SpotInstanceTermination", "Message": "Server.SpotInstanceTermination: Spot instance terminated"}


@pytest.mark.parametrize(
    ("instances", "state", "said"),
    [
        ([], JobState.MISSING, "lists no instance"),
        ([instance("i-1", "pending"), instance("i-2", "running")], JobState.RUNNING, "i-1 pending, i-2 running"),
        ([instance("i-1", "pending"), instance("i-2", "terminated", USER)], JobState.PENDING, "i-1 pending"),
        ([instance("i-1", "stopped")], JobState.HELD, "i-1 stopped"),
        ([instance("i-1", "terminated", USER), instance("i-2", "shutting-down", USER)], JobState.CANCELLED, "API"),
        ([instance("i-1", "terminated", ITSELF)], JobState.FAILED, "get-console-output --instance-id"),
        ([instance("i-1", "terminated", USER), instance("i-2", "terminated", SPOT)], JobState.FAILED, "Spot instance"),
    ],
)
def test_a_blocks_state_follows_its_instances(instances, state, said):
    status = block_status(instances)
    assert status.state is state and said in status.message, status


# --- networking -------------------------------------------------------------------------------------


def provider_for(ec2, tmp_path, run_id="networking-run", **options):
    provider = AWSProvider(ec2.image_id, **options)
    provider.script_dir = str(tmp_path / "runinfo" / "000" / "submit_scripts")
    provider.run_id = run_id
    return provider


def placed(ec2, job_id):
    [instance] = [i for r in ec2.client.describe_instances()["Reservations"] if r["ReservationId"] == job_id
                  for i in r["Instances"]]  # fmt: skip
    return instance["SubnetId"], [group["GroupId"] for group in instance["SecurityGroups"]]


def test_a_users_subnet_gets_a_security_group_of_the_run_with_ssh_for_its_key(ec2, tmp_path):
    ec2.client.create_key_pair(KeyName="lab")
    vpc = ec2.client.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.client.create_subnet(VpcId=vpc, CidrBlock="172.31.0.0/20")["Subnet"]["SubnetId"]
    provider = provider_for(ec2, tmp_path, subnet_id=subnet, key_name="lab", ssh_cidr="198.51.100.0/24")
    job_id = provider.submit("sleep 300", 1, "parlay.htex.block-0")
    [(kind, group, tags)] = [r for r in ec2.resources() if r[0] not in ("instance", "volume") and RUN_TAG in r[2]]
    assert kind == "security-group" and tags[PROVIDER_TAG] == "ec2" and BLOCK_TAG not in tags
    assert placed(ec2, job_id) == (subnet, [group])
    [described] = ec2.client.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert described["VpcId"] == vpc
    assert described["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "198.51.100.0/24"}]
    provider.cancel([job_id])
    provider.release()
    assert [r for r in ec2.resources() if RUN_TAG in r[2]] == []
    assert {vpc, subnet} <= {ident for _, ident, _ in ec2.resources()}


def test_a_users_vpc_lends_its_public_subnet(ec2, tmp_path):
    vpc = ec2.client.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]
    ec2.client.create_subnet(VpcId=vpc, CidrBlock="172.31.0.0/20")
    public = ec2.client.create_subnet(VpcId=vpc, CidrBlock="172.31.16.0/20")["Subnet"]["SubnetId"]
    ec2.client.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
    group = ec2.client.create_security_group(GroupName="workers", Description="the lab's", VpcId=vpc)["GroupId"]
    provider = provider_for(ec2, tmp_path, security_group_id=group)
    job_id = provider.submit("sleep 300", 1, "parlay.htex.block-0")
    assert placed(ec2, job_id) == (public, [group])
    provider.cancel([job_id])
    provider.release()
    assert not [e for e in read_journal(str(tmp_path / "runinfo" / "000")).values() if "resource" in e]


def test_networking_options_that_do_not_fit_are_refused_for_good(ec2, tmp_path):
    vpc = ec2.client.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]
    other = ec2.client.create_vpc(CidrBlock="172.30.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.client.create_subnet(VpcId=other, CidrBlock="172.30.0.0/20")["Subnet"]["SubnetId"]
    for options, text in [
        ({"vpc_id": vpc, "subnet_id": subnet}, f"subnet_id={subnet!r} is in {other}, not in vpc_id={vpc!r}"),
        ({"vpc_id": vpc}, f"VPC {vpc} has no subnet: give subnet_id"),
        ({"subnet_id": "subnet-0123456789abcdef0"}, "InvalidSubnetID.NotFound"),
    ]:
        with pytest.raises(SubmitException, match=text) as info:
            provider_for(ec2, tmp_path, **options).submit("true", 1, "parlay.htex.block-0")
        assert info.value.permanent
    assert [r for r in ec2.resources() if RUN_TAG in r[2]] == []


@pytest.mark.parametrize("step", ["CreateInternetGateway", "CreateSubnet", "CreateSecurityGroup"])
def test_networking_refused_half_way_is_undone_at_once(ec2, tmp_path, step):
    provider = provider_for(ec2, tmp_path)
    ec2.refuse("VpcLimitExceeded", "The maximum number of VPCs has been reached.", action=step)
    with pytest.raises(SubmitException, match=f"EC2 {step} failed: VpcLimitExceeded: The maximum number of VPCs"):
        provider.submit("true", 1, "parlay.htex.block-0")
    assert [r for r in ec2.resources() if RUN_TAG in r[2]] == [], "what was made before the refusal is deleted"
    journal = read_journal(str(tmp_path / "runinfo" / "000"))
    assert {entry["event"] for entry in journal.values()} == {"deleted"}
    job_id = provider.submit("sleep 300", 1, "parlay.htex.block-0")  # the next submission starts afresh
    provider.cancel([job_id])
    provider.release()
    assert [r for r in ec2.resources() if RUN_TAG in r[2]] == []


# --- what sweep finds by the tags -------------------------------------------------------------------


def test_sweep_finds_by_the_tags_what_the_journal_does_not_know(ec2, tmp_path):
    """A spot request and its instance that AWS made for the run (the submitter died before journaling them),
    and a volume an instance left."""
    tags = [{"Key": RUN_TAG, "Value": tag_value("lost-run")}, {"Key": PROVIDER_TAG, "Value": "ec2"}]
    specification = [{"ResourceType": "spot-instances-request", "Tags": tags}]
    request = ec2.client.request_spot_instances(
        SpotPrice="0.05", LaunchSpecification={"ImageId": ec2.image_id}, TagSpecifications=specification
    )["SpotInstanceRequests"][0]
    ec2.client.create_tags(Resources=[request["InstanceId"]], Tags=tags)  # as RunInstances' TagSpecifications do
    volume = ec2.client.create_volume(
        AvailabilityZone="us-east-2a", Size=8, TagSpecifications=[{"ResourceType": "volume", "Tags": tags}]
    )["VolumeId"]
    provider = AWSProvider(ec2.image_id)
    dry = provider.sweep("lost-run", dry_run=True)
    assert dry == [
        f"would terminate instance {request['InstanceId']}",
        f"would cancel spot request {request['SpotInstanceRequestId']}",
    ]
    assert provider.sweep("lost-run") == [
        f"terminated instance {request['InstanceId']}",
        f"cancelled spot request {request['SpotInstanceRequestId']}",
        f"deleted volume {volume}",
    ]
    assert [r for r in ec2.resources() if RUN_TAG in r[2]] == []


def test_sweep_leaves_what_another_provider_of_the_run_made(ec2, tmp_path):
    first, second = (provider_for(ec2, tmp_path, run_id="shared-run", label=label) for label in ("cpu", "gpu"))
    jobs = [provider.submit("sleep 300", 1, "parlay.htex.block-0") for provider in (first, second)]
    first.cancel(jobs[:1])
    first.release()
    left = [r for r in ec2.resources() if RUN_TAG in r[2]]
    assert left and {tags[PROVIDER_TAG] for _, _, tags in left} == {"gpu"}
    second.cancel(jobs[1:])
    second.release()
    assert [r for r in ec2.resources() if RUN_TAG in r[2]] == []


def test_a_sweep_that_fails_says_what_is_left(ec2, tmp_path):
    provider = provider_for(ec2, tmp_path)
    provider.submit("sleep 300", 1, "parlay.htex.block-0")
    ec2.refuse(
        "UnauthorizedOperation", "You are not authorized to perform this operation.", action="TerminateInstances"
    )
    with pytest.raises(ExecutionProviderException) as info:
        provider.release()
    assert "EC2 TerminateInstances failed: UnauthorizedOperation: You are not authorized" in str(info.value)
    assert "run `parlay cleanup RUN_DIR` again" in str(info.value)
    assert [r for r in ec2.resources() if RUN_TAG in r[2]], "nothing could be deleted"
    provider.release()
    assert [r for r in ec2.resources() if RUN_TAG in r[2]] == []
