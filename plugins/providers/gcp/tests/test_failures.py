"""Each way Compute Engine refuses a block, through Google's client against the stand-in: the provider's error
quotes the API and says what to check, permanent when no retry can help; refusals that only the operation
reports fail the block at the next status poll; through htex, the waiting tasks fail quoting the API."""

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import BadStateException, SubmitException
from parlay.providers.base import JobState
from parlay.testing import TIMEOUT
from parlay.testing.providers import wait_for
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_gcp import GoogleCloudProvider

from .conftest import ZONE


def make_provider(stand_in, key_file, tmp_path, **options):
    options = {"os_family": "debian-12", **options}
    provider = GoogleCloudProvider(stand_in.project, key_file, ZONE, "debian-cloud", **options)
    provider.script_dir = str(tmp_path / "runinfo" / "000" / "submit_scripts")
    provider.run_id = "failures-run"
    return provider


def final_status(provider, job_id):
    def ended():
        [status] = provider.status([job_id])
        return status if status.terminal else None

    return wait_for(ended, f"block {job_id} to end", interval=0.05)


def refusal(provider):
    with pytest.raises(SubmitException) as info:
        provider.submit("sleep 300", 1, "parlay.failures.block-0")
    assert not provider.job_names
    return info.value


def test_a_wrong_key_is_refused_for_good_quoting_google(stand_in, tmp_path):
    wrong = str(stand_in.key_file(tmp_path / "wrong.json", registered=False))
    error = refusal(make_provider(stand_in, wrong, tmp_path))
    assert error.permanent
    assert "401" in error.message and "Request had invalid authentication credentials" in error.message
    assert f"check that key_file={wrong} is a current key" in error.message
    assert stand_in.resources() == []


def test_an_unreadable_key_file_is_refused_for_good(stand_in, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "service_account"}')
    error = refusal(make_provider(stand_in, str(broken), tmp_path))
    assert error.permanent and f"cannot load credentials from key_file={broken}" in error.message


def test_a_missing_permission_is_refused_for_good_naming_the_role(stand_in, key_file, tmp_path):
    stand_in.deny("compute.instances.create")
    error = refusal(make_provider(stand_in, key_file, tmp_path))
    assert error.permanent
    assert "403" in error.message and "Required 'compute.instances.create' permission" in error.message
    assert "roles/compute.instanceAdmin.v1" in error.message


def test_an_unknown_image_family_is_refused_for_good(stand_in, key_file, tmp_path):
    error = refusal(make_provider(stand_in, key_file, tmp_path, os_family="debian-99"))
    assert error.permanent
    assert "The resource 'projects/debian-cloud/global/images/family/debian-99' was not found" in error.message
    assert "gcloud compute images describe-from-family debian-99 --project debian-cloud" in error.message


def test_an_unknown_machine_type_is_refused_for_good(stand_in, key_file, tmp_path):
    error = refusal(make_provider(stand_in, key_file, tmp_path, instance_type="n1-nope-7"))
    assert error.permanent
    assert "Machine type with name 'n1-nope-7' does not exist in zone 'us-central1-a'" in error.message
    assert "instance_type='n1-nope-7'" in error.message


def test_a_quota_refusal_may_be_retried(stand_in, key_file, tmp_path):
    stand_in.refuse_next("Quota 'CPUS' exceeded.  Limit: 8.0 in region us-central1.")
    error = refusal(make_provider(stand_in, key_file, tmp_path))
    assert not error.permanent
    assert "Quota 'CPUS' exceeded.  Limit: 8.0 in region us-central1." in error.message
    assert "IAM & Admin > Quotas" in error.message


def test_a_block_refused_part_way_leaves_no_instance(stand_in, key_file, tmp_path):
    stand_in.refuse_next("Quota 'INSTANCES' exceeded.  Limit: 3.0 in region us-central1.", after=2)
    error = refusal(make_provider(stand_in, key_file, tmp_path, nodes_per_block=3))
    assert "Quota 'INSTANCES' exceeded." in error.message and not error.permanent
    wait_for(lambda: stand_in.resources() == [], "the block's first two instances to be deleted (no half block)")


def test_a_zone_out_of_capacity_fails_the_block_from_its_operation(stand_in, key_file, tmp_path):
    stand_in.exhaust(ZONE)
    provider = make_provider(stand_in, key_file, tmp_path)
    job_id = provider.submit("sleep 300", 1, "parlay.failures.block-1")
    status = final_status(provider, job_id)
    assert status.state is JobState.FAILED
    assert "ZONE_RESOURCE_POOL_EXHAUSTED: The zone 'projects/parlay-test/zones/us-central1-a' does not have" in (
        status.message
    )
    assert "another zone (region) or instance_type" in status.message


def test_a_quota_in_the_operation_fails_the_whole_block(stand_in, key_file, tmp_path):
    provider = make_provider(stand_in, key_file, tmp_path, nodes_per_block=2)
    stand_in.refuse_next("Quota 'IN_USE_ADDRESSES' exceeded.  Limit: 4.0 in region us-central1.", in_operation=True)
    job_id = provider.submit("sleep 300", 1, "parlay.failures.block-2")
    status = final_status(provider, job_id)
    assert status.state is JobState.FAILED
    assert "QUOTA_EXCEEDED: Quota 'IN_USE_ADDRESSES' exceeded." in status.message
    wait_for(lambda: stand_in.resources() == [], "the block's other instance to be deleted (no half block)")


def test_a_failed_script_fails_the_block_with_its_console_and_is_deleted(stand_in, key_file, tmp_path):
    provider = make_provider(stand_in, key_file, tmp_path)
    job_id = provider.submit("echo cannot start the workers >&2; exit 3", 1, "parlay.failures.block-3")
    status = final_status(provider, job_id)
    assert status.state is JobState.FAILED and status.exit_code == 3, status
    assert "the block script exited with code 3" in status.message
    assert "cannot start the workers" in status.message, "the serial console's tail is quoted"
    wait_for(lambda: stand_in.resources() == [], "the stopped instance to be deleted")
    assert provider.status([job_id])[0].state is JobState.FAILED, "the outcome outlives the instance"


@python_app
def never_runs():
    return "ran"


@pytest.mark.filterwarnings("ignore::parlay.errors.ScalingWarning")  # the refusal, warned about once
@pytest.mark.filterwarnings("ignore::parlay.errors.AddressWarning")  # loopback works: the instances are here
@pytest.mark.parametrize(
    "failure, quoted",
    [
        ("wrong key", "Request had invalid authentication credentials"),
        ("permission", "Required 'compute.instances.create' permission"),
        ("image family", "The resource 'projects/debian-cloud/global/images/family/debian-99' was not found"),
        ("machine type", "Machine type with name 'n1-nope-7' does not exist"),
        ("quota", "Quota 'CPUS' exceeded"),
        ("quota in operation", "QUOTA_EXCEEDED: Quota 'CPUS' exceeded"),
        ("zone", "ZONE_RESOURCE_POOL_EXHAUSTED"),
    ],
)
def test_waiting_tasks_fail_quoting_the_api(stand_in, key_file, tmp_path, failure, quoted):
    options = {"status_polling_interval": 0.5}
    if failure == "wrong key":
        key_file = str(stand_in.key_file(tmp_path / "wrong.json", registered=False))
    elif failure == "permission":
        stand_in.deny("compute.instances.create")
    elif failure == "image family":
        options["os_family"] = "debian-99"
    elif failure == "machine type":
        options["instance_type"] = "n1-nope-7"
    elif failure.startswith("quota"):
        stand_in.refuse_next("Quota 'CPUS' exceeded.  Limit: 8.0 in region us-central1.", failure.endswith("operation"))
    else:
        stand_in.exhaust(ZONE)
    provider = make_provider(stand_in, key_file, tmp_path, **options)
    # no retry can fix the first four: they fail the tasks at once; the others once a block failed (the threshold)
    permanent = failure in ("wrong key", "permission", "image family", "machine type")
    executor = HighThroughputExecutor(
        address="127.0.0.1", provider=provider, block_error_threshold=3 if permanent else 1
    )
    config = Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=0.5)
    with parlay.load(config), pytest.raises(BadStateException) as info:
        never_runs().result(TIMEOUT)
    assert quoted in str(info.value)
    assert stand_in.resources() == []
