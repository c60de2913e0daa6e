"""EC2 refusing a block: each failure a user meets (wrong or missing credentials, a quota, an unknown image or
instance type, no capacity) fails the submission with the API's own code and message and what to check,
says whether a retry can help, and leaves nothing; through htex, a waiting task fails with it."""

import json

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import (
    AddressWarning,
    BadStateException,
    ExecutionProviderException,
    ScalingWarning,
    SubmitException,
)
from parlay.providers.cloud import RUN_TAG
from parlay.testing import TIMEOUT
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_aws import AWSProvider

QUOTA = "You have requested more instances (1) than your current instance limit of 0 allows for t2.small"
VCPUS = "You have requested more vCPU capacity than your current vCPU limit of 0 allows for the instance bucket"
CAPACITY = "We currently do not have sufficient t2.small capacity in the Availability Zone you requested (us-east-2a)."


def wrong_credentials(ec2, tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"AWSAccessKeyId": "AKIAWRONGWRONGWRONG", "AWSSecretKey": "not-the-secret"}))
    return {"key_file": str(keys)}


def quota(ec2, tmp_path):
    ec2.refuse("InstanceLimitExceeded", QUOTA, action="RunInstances")
    return {}


def vcpu_quota(ec2, tmp_path):
    ec2.refuse("VcpuLimitExceeded", VCPUS, action="RunInstances")
    return {}


def unknown_image(ec2, tmp_path):
    return {"image_id": "ami-0badc0ffee0000000"}


def malformed_image(ec2, tmp_path):
    return {"image_id": "ubuntu-latest"}


def unknown_instance_type(ec2, tmp_path):
    return {"instance_type": "t9.gigantic"}


def unknown_key_pair(ec2, tmp_path):
    return {"key_name": "nobody"}


def no_capacity(ec2, tmp_path):
    ec2.refuse("InsufficientInstanceCapacity", CAPACITY, action="RunInstances", status=500, times=None)
    return {}


#: failure -> (code, the API's message, a word of what to check, whether no retry can help)
FAILURES = {
    wrong_credentials: (
        "AuthFailure",
        "AWS was not able to validate the provided access credentials",
        "key_file",
        True,
    ),
    quota: ("InstanceLimitExceeded", QUOTA, "quota", False),
    vcpu_quota: ("VcpuLimitExceeded", VCPUS, "quota", False),
    unknown_image: ("InvalidAMIID.NotFound", "The image id '[ami-0badc0ffee0000000]' does not exist", "image_id", True),
    malformed_image: ("InvalidAMIID.Malformed", 'Invalid id: "ubuntu-latest"', "image_id", True),
    unknown_instance_type: ("InvalidInstanceType.NotFound", "'t9.gigantic' does not exist", "instance_type", True),
    unknown_key_pair: ("InvalidKeyPair.NotFound", "does not exist", "key_name='nobody'", True),
    no_capacity: ("InsufficientInstanceCapacity", CAPACITY, "another instance_type", False),
}
IDS = [failure.__name__ for failure in FAILURES]


def provider_for(ec2, tmp_path, options):
    provider = AWSProvider(**{"image_id": ec2.image_id, **options})
    provider.script_dir = str(tmp_path / "runinfo" / "000" / "submit_scripts")
    provider.run_id = "failing-run"
    return provider


@pytest.mark.parametrize("failure", FAILURES, ids=IDS)
def test_a_refused_block_says_why_and_leaves_nothing(ec2, tmp_path, failure):
    code, message, check, permanent = FAILURES[failure]
    provider = provider_for(ec2, tmp_path, failure(ec2, tmp_path))
    with pytest.raises(SubmitException) as info:
        provider.submit("sleep 300", 1, "parlay.htex.block-0")
    text = str(info.value)
    assert f"{code}: " in text and message in text, text
    assert check in text, f"the message must say what to check: {text}"
    assert info.value.permanent is permanent
    assert not provider.job_names
    if failure is wrong_credentials:  # nothing could be made, nor looked for
        with pytest.raises(ExecutionProviderException, match="AuthFailure"):
            provider.release()
    else:
        provider.release()
    assert [r for r in ec2.resources() if RUN_TAG in r[2]] == []


def test_missing_credentials_say_where_to_put_them(ec2, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    provider = provider_for(ec2, tmp_path, {})
    with pytest.raises(SubmitException) as info:
        provider.submit("sleep 300", 1, "parlay.htex.block-0")
    assert "Unable to locate credentials" in str(info.value) and "AWS_ACCESS_KEY_ID" in str(info.value)
    assert info.value.permanent


def test_an_unknown_profile_is_named(ec2, tmp_path):
    provider = provider_for(ec2, tmp_path, {"profile": "nobody"})
    with pytest.raises(SubmitException) as info:
        provider.submit("sleep 300", 1, "parlay.htex.block-0")
    assert "The config profile (nobody) could not be found" in str(info.value) and info.value.permanent


def test_an_unreadable_key_file_is_named(ec2, tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text('{"aws_access_key_id": "AKIA"}')
    provider = provider_for(ec2, tmp_path, {"key_file": str(keys)})
    with pytest.raises(SubmitException) as info:
        provider.submit("sleep 300", 1, "parlay.htex.block-0")
    assert f"key_file={str(keys)!r} cannot be read: no aws_secret_access_key in it" in str(info.value)
    assert info.value.permanent


@python_app
def double(x):
    return 2 * x


@pytest.mark.parametrize(
    "failure", [wrong_credentials, quota, unknown_image, unknown_instance_type, no_capacity], ids=lambda f: f.__name__
)
def test_a_waiting_task_fails_with_the_apis_message(ec2, tmp_path, failure):
    code, message, _, permanent = FAILURES[failure]
    provider = AWSProvider(**{"image_id": ec2.image_id, "status_polling_interval": 0.2, **failure(ec2, tmp_path)})
    # a refusal a retry may pass fails the tasks after block_error_threshold refusals; a permanent one at once
    threshold = 3 if permanent else 1
    executor = HighThroughputExecutor(address="127.0.0.1", provider=provider, block_error_threshold=threshold)
    config = Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=0.2)
    warned_about = pytest.warns((ScalingWarning, AddressWarning))
    with warned_about as warned, parlay.load(config), pytest.raises(BadStateException) as info:
        double(1).result(TIMEOUT)
    assert f"{code}: " in str(info.value) and message in str(info.value), str(info.value)
    [scaling] = [w for w in warned if w.category is ScalingWarning]
    assert f"{code}: " in str(scaling.message) and message in str(scaling.message), "the first refusal is warned about"
    assert [r for r in ec2.resources() if RUN_TAG in r[2]] == [], "the run's cleanup deletes its networking"
