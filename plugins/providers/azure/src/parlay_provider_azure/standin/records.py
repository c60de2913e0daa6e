"""What the stand-in keeps: resource groups and resources (`Item`), and long-running operations."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

GROUP_TYPE = "Microsoft.Resources/resourceGroups"
VM_TYPE, DISK_TYPE = "Microsoft.Compute/virtualMachines", "Microsoft.Compute/disks"
KEY_TYPE = "Microsoft.Compute/sshPublicKeys"
VNET_TYPE, NIC_TYPE = "Microsoft.Network/virtualNetworks", "Microsoft.Network/networkInterfaces"
IP_TYPE = "Microsoft.Network/publicIPAddresses"
#: The resource types the stand-in serves, by their lower-case names.
TYPES = {kind.lower(): kind for kind in (VM_TYPE, DISK_TYPE, KEY_TYPE, VNET_TYPE, NIC_TYPE, IP_TYPE)}


@dataclass
class Item:
    """A resource group or a resource in one."""

    subscription: str
    type: str
    group: str
    name: str
    location: str
    tags: dict[str, str]
    properties: dict[str, Any] = field(default_factory=dict)
    sku: dict[str, Any] | None = None
    managed_by: str | None = None

    @property
    def id(self) -> str:
        group = f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"
        return group if self.type == GROUP_TYPE else f"{group}/providers/{self.type}/{self.name}"

    @property
    def key(self) -> str:
        return self.id.lower()  # Azure ids are case-insensitive

    def view(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type, "location": self.location}
        body.update(tags=dict(self.tags), properties=self.properties)
        if self.sku is not None:
            body["sku"] = self.sku
        if self.managed_by is not None:
            body["managedBy"] = self.managed_by
        return body


@dataclass
class Operation:
    """A long-running operation: InProgress, then Succeeded or Failed with an error."""

    status: str = "InProgress"
    error: dict[str, str] | None = None
    started: float = field(default_factory=time.time)

    def finish(self, error: dict[str, str] | None = None) -> None:
        self.status, self.error = ("Failed", error) if error else ("Succeeded", None)

    def view(self, name: str) -> dict[str, Any]:
        started = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(self.started))
        body: dict[str, Any] = {"name": name, "status": self.status, "startTime": started}
        if self.error:
            body["error"] = self.error
        return body
