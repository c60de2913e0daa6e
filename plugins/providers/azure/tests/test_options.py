"""AzureProvider's options: wrong values name the option and what is allowed, secrets never show, the
subscription and the credentials come from the options, a key file or the environment, and configuring the
provider loads no Azure SDK."""

import json
import subprocess
import sys

import pytest

from parlay.errors import ConfigurationError
from parlay_provider_azure import AzureProvider
from parlay_provider_azure.standin import AzureStandIn

VM = AzureStandIn.vm_reference()


@pytest.fixture(autouse=True)
def _subscription(monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000001")


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"vm_reference": {**VM, "sku": ""}}, "AzureProvider.vm_reference=.*missing or empty: sku"),
        ({"vm_reference": {**VM, "size": "x"}}, r"unknown key\(s\) 'size'; expected publisher, offer"),
        ({"vm_reference": {**VM, "disk_size_gb": "64"}}, "disk_size_gb must be an integer"),
        ({"vm_reference": "Standard_B1s"}, "expected a dict of publisher, offer, sku, version, vm_size"),
        ({"location": "west us"}, r"AzureProvider.location='west us': expected a name without spaces"),
        ({"vnet_name": "lab"}, "AzureProvider.vnet_name='lab': needs group_name"),
        ({"group_name": "g", "subnet_name": "s"}, "AzureProvider.subnet_name='s': needs vnet_name"),
        ({"key_name": "lab-key"}, r"AzureProvider.key_name='lab-key': needs group_name.*'GROUP/NAME'"),
        ({"linger": "yes"}, "AzureProvider.linger='yes': expected True or False"),
        ({"delete_timeout": 0}, r"AzureProvider.delete_timeout=0: expected seconds > 0"),
        ({"max_blocks": 1, "min_blocks": 2}, "min_blocks=2 must not exceed max_blocks=1"),
    ],
)
def test_a_wrong_option_names_itself_and_what_is_allowed(options, expected):
    with pytest.raises(ConfigurationError, match=expected):
        AzureProvider(**{"vm_reference": VM, **options})


def test_parsls_defaults():
    provider = AzureProvider(VM)
    assert (provider.init_blocks, provider.min_blocks, provider.max_blocks, provider.nodes_per_block) == (1, 0, 10, 1)
    assert (provider.parallelism, provider.worker_init, provider.location, provider.linger) == (1, "", "westus", False)
    assert provider.key_name is provider.key_file is None


def test_a_password_shows_nowhere():
    password = "Cor-rect-h0rse-battery"
    provider = AzureProvider({**VM, "password": password})
    assert password not in repr(provider)
    assert password not in json.dumps(provider.cleanup_options())
    with pytest.raises(ConfigurationError) as info:
        AzureProvider({**VM, "password": password, "colour": "blue"})
    assert password not in str(info.value) and "'***'" in str(info.value)


def test_without_a_subscription_the_error_says_where_to_give_one(monkeypatch):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    with pytest.raises(ConfigurationError, match=r"subscription_id=.*AZURE_SUBSCRIPTION_ID.*key_file"):
        AzureProvider(VM)


def test_cleanup_options_rebuild_the_provider_and_hold_no_secret(tmp_path, monkeypatch):
    keys = tmp_path / "azure-keys.json"
    keys.write_text(
        json.dumps(
            {
                "AZURE_CLIENT_ID": "c",
                "AZURE_CLIENT_SECRET": "the-secret",
                "AZURE_TENANT_ID": "t",
                "AZURE_SUBSCRIPTION_ID": "from-the-key-file",
            }
        )
    )
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    provider = AzureProvider({**VM, "ssh_public_key": "ssh-ed25519 AAAA"}, key_file=str(keys), group_name="lab")
    options = provider.cleanup_options()
    assert options["subscription_id"] == "from-the-key-file" and options["key_file"] == str(keys)
    assert options["vm_reference"] == {key: VM[key] for key in ("publisher", "offer", "sku", "version", "vm_size")}
    assert "the-secret" not in json.dumps(options)
    assert AzureProvider(**options).cleanup_options() == options


def test_configuring_the_provider_loads_no_azure_sdk():
    code = (
        "import sys, parlay_provider_azure; "
        f"parlay_provider_azure.AzureProvider({VM!r}, subscription_id='s').cleanup_options(); "
        "print([m for m in sys.modules if m.split('.')[0] in ('azure', 'msal', 'cryptography')])"
    )
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "[]"
