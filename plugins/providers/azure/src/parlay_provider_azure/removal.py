"""Deleting what parlay created, in dependency order: virtual machines, then network interfaces and disks,
then public IP addresses, then virtual networks, then resource groups. Each stage's deletions run at once and
are waited for, within a bound, before the next stage starts (Azure refuses to delete a network interface a
VM still uses, or a network whose subnet a network interface still uses)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from parlay_provider_azure.failures import AzureRefused, calling
from parlay_provider_azure.naming import ResourceId

if TYPE_CHECKING:
    from parlay_provider_azure.session import AzureSession


class Kind(NamedTuple):
    noun: str
    type: str  # the Azure resource type; "" for a resource group
    stage: int  # deletion order


#: journal kind -> what it is
KINDS = {
    "vm": Kind("virtual machine", "Microsoft.Compute/virtualMachines", 0),
    "nic": Kind("network interface", "Microsoft.Network/networkInterfaces", 1),
    "disk": Kind("disk", "Microsoft.Compute/disks", 1),
    "public-ip": Kind("public IP address", "Microsoft.Network/publicIPAddresses", 2),
    "vnet": Kind("virtual network", "Microsoft.Network/virtualNetworks", 3),
    "group": Kind("resource group", "", 4),
}
_BY_TYPE = {kind.type.lower(): name for name, kind in KINDS.items() if kind.type}


def kind_of(resource_type: str) -> str | None:
    """The journal kind of an Azure resource type, or None for a type parlay does not create."""
    return _BY_TYPE.get(resource_type.lower())


class Resource(NamedTuple):
    """Something parlay created: its journal kind and its id."""

    kind: str
    id: ResourceId

    @classmethod
    def of(cls, kind: str, subscription: str, group: str, name: str) -> Resource:
        return cls(kind, ResourceId(subscription, group, KINDS[kind].type, name if kind != "group" else group))

    @property
    def key(self) -> str:
        return str(self.id).lower()  # Azure ids are case-insensitive

    def describe(self) -> str:
        noun = KINDS[self.kind].noun
        return f"{noun} {self.id.name}" if self.kind == "group" else f"{noun} {self.id.name} in group {self.id.group}"


def _operations(session: AzureSession, kind: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The (get, begin_delete) calls of a kind, both taking (group, name)."""
    if kind == "group":
        groups = session.resources.resource_groups
        return (lambda group, _: groups.get(group)), (lambda group, _: groups.begin_delete(group))
    client = {
        "vm": session.compute.virtual_machines,
        "disk": session.compute.disks,
        "nic": session.network.network_interfaces,
        "public-ip": session.network.public_ip_addresses,
        "vnet": session.network.virtual_networks,
    }[kind]
    return client.get, client.begin_delete


def exists(session: AzureSession, resource: Resource) -> bool:
    """Whether Azure still has `resource` (a missing group means a missing resource)."""
    from azure.core.exceptions import ResourceNotFoundError

    get, _ = _operations(session, resource.kind)
    with calling(f"look up {resource.describe()}"):
        try:
            get(resource.id.group, resource.id.name)
        except ResourceNotFoundError:
            return False
    return True


def ordered(resources: Iterable[Resource]) -> list[Resource]:
    return sorted(resources, key=lambda r: (KINDS[r.kind].stage, r.key))


def delete(
    session: AzureSession, resources: Iterable[Resource], timeout: float, gone: Callable[[Resource], None]
) -> tuple[list[Resource], list[tuple[Resource, str]]]:
    """Delete `resources` stage by stage, waiting for each stage at most `timeout` seconds; call `gone` for each
    one deleted or found missing. Returns (those deleted, (resource, why) for those that may be left)."""
    deleted: list[Resource] = []
    problems: list[tuple[Resource, str]] = []
    stages: dict[int, list[Resource]] = {}
    for resource in ordered(resources):
        stages.setdefault(KINDS[resource.kind].stage, []).append(resource)
    for stage in stages.values():
        started = []
        for resource in stage:
            _, begin_delete = _operations(session, resource.kind)
            try:
                with calling(f"delete {resource.describe()}"):
                    started.append((resource, begin_delete(resource.id.group, resource.id.name)))
            except AzureRefused as exc:
                if exc.failure.code == "ResourceGroupNotFound":
                    gone(resource)
                else:
                    problems.append((resource, str(exc)))
        deadline = time.monotonic() + timeout
        for resource, poller in started:
            try:
                with calling(f"delete {resource.describe()}"):
                    poller.wait(max(0.0, deadline - time.monotonic()))
            except AzureRefused as exc:
                problems.append((resource, str(exc)))
                continue
            if not poller.done():
                why = f"{resource.describe()} was still being deleted after {timeout:g} s (Azure goes on deleting it)"
                problems.append((resource, why))
                continue
            deleted.append(resource)
            gone(resource)
    return deleted, problems
