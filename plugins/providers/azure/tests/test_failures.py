"""Each way Azure refuses a block, through the official clients against the stand-in: the submission (or the
block's status) quotes the API's own code and message and says what to check, errors no retry can help are
`permanent`, and nothing of a refused block is left. Through an htex workflow, the waiting tasks fail with the
same words instead of waiting."""

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import SubmitException
from parlay.providers.base import JobState
from parlay.providers.cloud import BLOCK_TAG, tag_value
from parlay.testing import TIMEOUT
from parlay.testing.providers import wait_for
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_azure import AzureProvider

pytestmark = pytest.mark.filterwarnings("ignore:.*a loopback address:UserWarning")  # the "other hosts" are here
RUN = "failures-run"
BLOCK = "parlay.failures.block-0"


def make_provider(azure, tmp_path, vm=None, **options):
    provider = AzureProvider(azure.vm_reference(**(vm or {})), label="failures", status_polling_interval=1, **options)
    provider.script_dir = str(tmp_path / "runinfo" / "000" / "submit_scripts")
    provider.run_id = RUN
    return provider


@pytest.fixture
def cleanup():
    """Providers to cancel and release after the test, whatever it left."""
    providers = []
    yield providers.append
    for provider in providers:
        provider.cancel(list(provider.job_names))
        provider.release()


def of_block(azure, block=BLOCK):
    return [(kind, ident) for kind, ident, tags in azure.resources() if tags.get(BLOCK_TAG) == tag_value(block)]


def refused(provider):
    with pytest.raises(SubmitException) as info:
        provider.submit("sleep 300", 1, BLOCK)
    assert BLOCK not in provider.job_names.values(), "a refused block is not submitted"
    return info.value


@pytest.mark.parametrize(
    "vm, trigger, code, quoted, advice, permanent",
    [
        (
            {"offer": "no-such-offer"},
            None,
            "PlatformImageNotFound",
            "The platform image 'Canonical:no-such-offer:server:latest' is not available.",
            "check vm_reference's publisher, offer, sku and version",
            True,
        ),
        (
            {"vm_size": "Standard_Q9"},
            None,
            "InvalidParameter",
            "The value Standard_Q9 provided for the VM size is not valid.",
            "check vm_reference['vm_size']",
            True,
        ),
        (
            {},
            lambda azure: azure.restrict("Standard_B1s"),
            "SkuNotAvailable",
            "Following SKUs have failed for Capacity Restrictions: Standard_B1s",
            "not offered to the subscription in this location",
            True,
        ),
        (
            {},
            lambda azure: azure.refuse_next("Current Limit: 10"),
            "OperationNotAllowed",
            "results in exceeding approved Total Regional Cores quota. Current Limit: 10",
            "request more",
            False,
        ),
    ],
    ids=["unknown image", "unknown size", "size not offered", "quota"],
)
def test_a_refused_vm_quotes_the_api_and_leaves_nothing_of_its_block(
    azure, tmp_path, cleanup, vm, trigger, code, quoted, advice, permanent
):
    provider = make_provider(azure, tmp_path, vm, nodes_per_block=2)
    cleanup(provider)
    if trigger is not None:
        trigger(azure)
    error = refused(provider)
    text = str(error)
    assert f"{code}: " in text and quoted in text and advice in text, text
    assert "create virtual machine parlay-" in text, "the message names the call Azure refused"
    assert error.permanent is permanent
    assert of_block(azure) == [], "the refused block's network interfaces are deleted"
    provider.release()
    assert azure.resources() == [], "the run's group and network go at the end"


def test_a_wrong_secret_is_entra_ids_own_refusal_and_permanent(azure, tmp_path, cleanup, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-the-secret")
    provider = make_provider(azure, tmp_path)
    cleanup(provider)
    error = refused(provider)
    assert "AADSTS7000215" in str(error) and "Invalid client secret provided" in str(error), error
    assert "AZURE_CLIENT_SECRET" in str(error), "the message says what to check"
    assert error.permanent
    assert azure.resources() == []


def test_a_token_resource_manager_refuses_is_permanent(azure, tmp_path):
    provider = make_provider(azure, tmp_path)
    job = provider.submit("sleep 300", 1, "parlay.failures.block-1")
    azure.revoke_tokens()  # the credential still holds its token: Resource Manager now refuses it
    error = refused(provider)
    assert "InvalidAuthenticationToken: The access token is invalid." in str(error), error
    assert error.permanent
    fresh = AzureProvider(**provider.cleanup_options())  # a new sign-in, as `parlay cleanup` makes
    assert fresh.cancel([job]) == [True]
    fresh.sweep(RUN)
    assert azure.resources() == []


def test_no_capacity_fails_the_block_through_its_creation_and_deletes_it(azure, tmp_path, cleanup):
    azure.exhaust("Standard_B1s")
    provider = make_provider(azure, tmp_path)
    cleanup(provider)
    job = provider.submit("sleep 300", 1, BLOCK)  # Azure accepts the VM; its creation fails later

    def ended():
        [status] = provider.status([job])
        return status if status.terminal else None

    status = wait_for(ended, "the block to fail")
    assert status.state is JobState.FAILED, status
    assert "AllocationFailed: Allocation failed. We do not have sufficient capacity" in status.message, status
    assert "Standard_B1s" in status.message
    wait_for(lambda: of_block(azure) == [], "the failed block's VM and network interface to be deleted")


@python_app
def square(x):
    return x * x


@pytest.mark.filterwarnings("ignore::parlay.errors.ScalingWarning")  # the refusal, as parlay warns of it
@pytest.mark.parametrize(
    "setting, expected",
    [
        (
            {"vm": {"sku": "no-such-sku"}},
            "PlatformImageNotFound: The platform image 'Canonical:ubuntu-24_04-lts:no-such",
        ),
        ({"secret": "not-the-secret"}, "AADSTS7000215: Invalid client secret provided"),
        ({"exhaust": "Standard_B1s"}, "AllocationFailed: Allocation failed."),
    ],
    ids=["unknown image", "wrong secret", "no capacity"],
)
def test_a_waiting_task_fails_with_azures_words(azure, tmp_path, monkeypatch, setting, expected):
    if "secret" in setting:
        monkeypatch.setenv("AZURE_CLIENT_SECRET", setting["secret"])
    if "exhaust" in setting:
        azure.exhaust(setting["exhaust"])
    provider = AzureProvider(azure.vm_reference(**setting.get("vm", {})), status_polling_interval=1, max_blocks=1)
    executor = HighThroughputExecutor(address="127.0.0.1", provider=provider, block_error_threshold=1)
    config = Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=0.5)
    with parlay.load(config):
        future = square(7)
        with pytest.raises(Exception) as info:
            future.result(TIMEOUT)
    assert expected in str(info.value), info.value
    assert azure.resources() == [], "nothing of the run is left"
