"""What a block's VMs are given (the startup script as custom data, a login), how a block ends (powered off
and deleted, or kept up with `linger`), and the refusals parlay words itself, against the stand-in."""

import json

import pytest

from parlay.errors import SubmitException
from parlay.providers.base import JobState
from parlay.testing.providers import wait_for
from parlay_provider_azure import AzureProvider

RUN = "blocks-run"


@pytest.fixture
def make(azure, tmp_path):
    """Build providers against the stand-in; cancel their blocks and release them afterwards."""
    made = []

    def make(**options):
        vm_reference = azure.vm_reference(**options.pop("vm", {}))
        provider = AzureProvider(vm_reference, label="blocks", status_polling_interval=1, **options)
        provider.script_dir = str(tmp_path / "runinfo" / "000" / "submit_scripts")
        provider.run_id = RUN
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.cancel(list(provider.job_names))
        provider.release()


def first_vm(job):
    return job.rpartition("/")[2] + "-0"


def final(provider, job):
    def ended():
        [status] = provider.status([job])
        return status if status.terminal else None

    return wait_for(ended, f"block {job} to end")


def block_vms(azure, job):
    return [ident for kind, ident, _ in azure.resources() if ident.endswith(f"/{first_vm(job)}")]


def test_the_custom_data_is_the_job_script_with_the_secrets_and_only_the_vm_has_it(azure, make):
    provider = make(worker_init="echo init")
    provider.secret_environment = {"PARLAY_HTEX_KEYS": "keys 'quoted'"}
    job = provider.submit("worker --go", 1, "parlay.blocks.block-0")
    script = azure.custom_data(first_vm(job)).decode()
    assert script.startswith("#!/bin/bash\nexport PARLAY_HTEX_KEYS='keys '\"'\"'quoted'\"'\"''\n"), script
    assert script.index("echo init") < script.index("worker --go") < script.index("shutdown -h now")
    assert "customData" not in azure.os_profile(first_vm(job)), "Azure never shows custom data"


@pytest.mark.parametrize(
    "vm, key_name, password_login, keys",
    [
        ({}, None, True, []),
        ({"password": "Cor-rect-h0rse"}, None, True, []),
        ({"ssh_public_key": "ssh-ed25519 AAAAmine"}, None, False, ["ssh-ed25519 AAAAmine"]),
        ({"admin_username": "ops"}, "keys/lab-key", False, ["ssh-rsa AAAAlab"]),
    ],
    ids=["a random password nobody knows", "a password", "an SSH key", "an SSH key kept in Azure"],
)
def test_the_admin_login(azure, make, vm, key_name, password_login, keys):
    azure.add_group("keys")
    azure.add_ssh_key("keys", "lab-key", "ssh-rsa AAAAlab")
    job = make(vm=vm, key_name=key_name).submit("sleep 300", 1, "parlay.blocks.block-0")
    profile = azure.os_profile(first_vm(job))
    assert profile["adminUsername"] == vm.get("admin_username", "parlay")
    linux = profile["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is not password_login
    assert [key["keyData"] for key in linux.get("ssh", {}).get("publicKeys", [])] == keys


def test_a_block_whose_workers_end_powers_off_and_is_deleted(azure, make):
    provider = make()
    job = provider.submit("true", 1, "parlay.blocks.block-0")
    status = final(provider, job)
    assert status.state is JobState.COMPLETED, status
    wait_for(lambda: block_vms(azure, job) == [], "the powered-off VM to be deleted")


def test_with_linger_a_vm_stays_up_after_its_workers_end_until_cancelled(azure, make, tmp_path):
    provider = make(linger=True)
    marker = tmp_path / "done"
    job = provider.submit(f"touch {marker}", 1, "parlay.blocks.block-0")
    wait_for(marker.exists, "the block's command to end", interval=0.05)
    assert "shutdown" not in azure.custom_data(first_vm(job)).decode()
    [status] = provider.status([job])
    assert status.state is JobState.RUNNING, status
    assert provider.cancel([job]) == [True]
    assert block_vms(azure, job) == []


def test_credentials_from_a_key_file(azure, make, tmp_path, monkeypatch):
    keys = {name: value for name, value in azure.environment().items() if name.startswith("AZURE_")}
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID"):
        monkeypatch.delenv(name)
    path = tmp_path / "azure.json"
    path.write_text(json.dumps(keys))
    provider = make(key_file=str(path))
    job = provider.submit("sleep 300", 1, "parlay.blocks.block-0")
    assert provider.status([job])[0].state in (JobState.PENDING, JobState.RUNNING)


def test_a_startup_script_over_azures_limit_is_refused_before_any_call(azure, make):
    provider = make(worker_init="echo " + "x" * 70000)
    with pytest.raises(SubmitException, match=r"over Azure's custom data limit.*shorten worker_init") as info:
        provider.submit("true", 1, "parlay.blocks.block-0")
    assert info.value.permanent
    assert azure.resources() == []


def test_a_missing_group_of_the_users_is_permanent(azure, make):
    with pytest.raises(SubmitException) as info:
        make(group_name="nowhere").submit("true", 1, "parlay.blocks.block-0")
    text = str(info.value)
    assert "ResourceGroupNotFound: Resource group 'nowhere' could not be found." in text, text
    assert "leave group_name=None" in text and info.value.permanent


def test_a_network_of_the_users_without_the_subnet_is_permanent(azure, make):
    azure.add_group("lab")
    azure.add_network("lab", "lab-net", subnets=("front",))
    with pytest.raises(SubmitException) as info:
        make(group_name="lab", vnet_name="lab-net", subnet_name="back").submit("true", 1, "parlay.blocks.block-0")
    assert "SubnetNotFound: it has no subnet 'back'" in str(info.value) and info.value.permanent
