"""The stand-in holds to Azure's rules that the provider's order of deletion relies on: what a VM still uses,
and a subnet still in use, cannot be deleted; a VM's deletion takes along what its `deleteOption` says."""

import pytest
from azure.core.exceptions import HttpResponseError

from parlay_provider_azure import AzureProvider
from parlay_provider_azure.session import AzureSession


def test_what_is_in_use_cannot_be_deleted_and_goes_with_its_vm(azure, tmp_path):
    provider = AzureProvider(azure.vm_reference(), public_ip=True)
    provider.script_dir = str(tmp_path / "submit_scripts")
    provider.run_id = "stand-in-run"
    group, block = provider.submit("sleep 300", 1, "parlay.standin.block-0").split("/")
    session = AzureSession(azure.subscription, azure.url, azure.url, None, 30)
    network, vm = session.network, f"{block}-0"
    refusals = {
        "NicInUse": lambda: network.network_interfaces.begin_delete(group, f"{vm}-nic"),
        "PublicIPAddressCannotBeDeleted": lambda: network.public_ip_addresses.begin_delete(group, f"{vm}-ip"),
        "InUseSubnetCannotBeDeleted": lambda: network.virtual_networks.begin_delete(group, "parlay-stand-in-run-vnet"),
        "OperationNotAllowed": lambda: session.compute.disks.begin_delete(group, f"{vm}-osdisk"),
    }
    for code, delete in refusals.items():
        with pytest.raises(HttpResponseError) as info:
            delete()
        assert info.value.error.code == code, info.value
    session.compute.virtual_machines.begin_delete(group, vm).result()
    kinds = {kind for kind, _, _ in azure.resources()}
    assert kinds == {"Microsoft.Resources/resourceGroups", "Microsoft.Network/virtualNetworks"}
    provider.release()
    assert azure.resources() == []
