"""The request bodies parlay sends to Azure Resource Manager, in the REST API's own shape (the management
clients send a dict as it is). Everything a block creates goes with its VM (`deleteOption: Delete`), whoever
deletes the VM."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from parlay_provider_azure.naming import SUBNET

#: The address space of the virtual network parlay creates, and its subnet's (4091 addresses).
VNET_PREFIX, SUBNET_PREFIX = "10.0.0.0/16", "10.0.0.0/20"


def resource_group(location: str, tags: dict[str, str]) -> dict[str, Any]:
    return {"location": location, "tags": tags}


def virtual_network(location: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "location": location,
        "tags": tags,
        "properties": {
            "addressSpace": {"addressPrefixes": [VNET_PREFIX]},
            # Azure's default outbound access lets the VMs reach the submitting host without a public address,
            # where Azure still grants it (new subnets no longer have it unless they ask)
            "subnets": [
                {"name": SUBNET, "properties": {"addressPrefix": SUBNET_PREFIX, "defaultOutboundAccess": True}}
            ],
        },
    }


def public_ip(location: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "location": location,
        "tags": tags,
        "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"},
    }


def network_interface(location: str, tags: dict[str, str], subnet: str, ip: str | None) -> dict[str, Any]:
    configuration: dict[str, Any] = {"subnet": {"id": subnet}, "privateIPAllocationMethod": "Dynamic"}
    if ip is not None:
        configuration["publicIPAddress"] = {"id": ip, "properties": {"deleteOption": "Delete"}}
    return {
        "location": location,
        "tags": tags,
        "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": configuration}]},
    }


def virtual_machine(
    location: str,
    tags: dict[str, str],
    reference: Mapping[str, Any],
    name: str,
    nic: str,
    disk: str,
    custom_data: str,
    ssh_keys: list[str],
) -> dict[str, Any]:
    """A Linux VM of `reference` (see `AzureProvider.vm_reference`) running `custom_data` (base64) at boot."""
    image = {key: reference[key] for key in ("publisher", "offer", "sku", "version")}
    os_disk: dict[str, Any] = {"name": disk, "createOption": "FromImage", "deleteOption": "Delete"}
    if "disk_size_gb" in reference:
        os_disk["diskSizeGB"] = reference["disk_size_gb"]
    return {
        "location": location,
        "tags": tags,
        "properties": {
            "hardwareProfile": {"vmSize": reference["vm_size"]},
            "storageProfile": {"imageReference": image, "osDisk": os_disk},
            "osProfile": {"computerName": name, "customData": custom_data, **login(reference, ssh_keys)},
            "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"deleteOption": "Delete"}}]},
        },
    }


def login(reference: Mapping[str, Any], ssh_keys: list[str]) -> dict[str, Any]:
    """The admin user's login: its SSH keys and/or password. Azure requires one; without either, a random
    password that nobody knows (the workers need no login)."""
    user = reference.get("admin_username", "parlay")
    keys = [*([reference["ssh_public_key"]] if "ssh_public_key" in reference else []), *ssh_keys]
    password = reference.get("password")
    if password is None and not keys:
        password = secrets.token_urlsafe(24) + "aA1!"  # Azure wants 3 of: lower, upper, digit, other
    linux: dict[str, Any] = {"disablePasswordAuthentication": password is None}
    if keys:
        path = f"/home/{user}/.ssh/authorized_keys"
        linux["ssh"] = {"publicKeys": [{"path": path, "keyData": key} for key in keys]}
    answer: dict[str, Any] = {"adminUsername": user, "linuxConfiguration": linux}
    if password is not None:
        answer["adminPassword"] = password
    return answer
