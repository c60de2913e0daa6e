"""How parlay names what it creates in Azure, and how a job id names a block.

A block's job id is `GROUP/parlay-TOKEN`: its virtual machines are `parlay-TOKEN-0`, `parlay-TOKEN-1`...
in resource group GROUP, so `parlay cleanup` finds them from the journal alone. Each VM's network interface,
public IP address and OS disk are named after it. A run's own group and network are named after the run.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

from parlay.providers.cloud import tag_value

#: The subnet of the virtual network parlay creates.
SUBNET = "parlay-workers"


def run_group(run_id: str | None) -> str:
    """The resource group parlay creates for a run."""
    return f"parlay-{tag_value(run_id or 'none')}"


def run_vnet(run_id: str | None) -> str:
    """The virtual network parlay creates for a run (unique in a group that several runs share)."""
    return f"parlay-{tag_value(run_id or 'none')[:48]}-vnet"


def new_block() -> str:
    """A fresh block's name: the prefix of its virtual machines' names."""
    return f"parlay-{secrets.token_hex(4)}"


def job_id(group: str, block: str) -> str:
    return f"{group}/{block}"


def parse_job_id(job: str) -> tuple[str, str]:
    """(group, block) of a job id."""
    group, _, block = job.rpartition("/")
    return group, block


def vm_names(block: str, nodes: int) -> list[str]:
    return [f"{block}-{node}" for node in range(nodes)]


def in_block(vm_name: str, block: str) -> bool:
    head, _, node = vm_name.rpartition("-")
    return head.lower() == block.lower() and node.isdigit()


def nic_name(vm: str) -> str:
    return f"{vm}-nic"


def ip_name(vm: str) -> str:
    return f"{vm}-ip"


def disk_name(vm: str) -> str:
    return f"{vm}-osdisk"


class ResourceId(NamedTuple):
    """The parts of an Azure resource id that parlay needs: `/subscriptions/S/resourceGroups/G` for a group,
    `/subscriptions/S/resourceGroups/G/providers/NAMESPACE/TYPE/NAME` for what is in one."""

    subscription: str
    group: str
    type: str  # "Microsoft.Network/networkInterfaces"; "" for the group itself
    name: str

    @classmethod
    def parse(cls, text: str) -> ResourceId:
        parts = text.strip("/").split("/")
        if len(parts) == 4:
            return cls(parts[1], parts[3], "", parts[3])
        if len(parts) == 8 and parts[4].lower() == "providers":
            return cls(parts[1], parts[3], f"{parts[5]}/{parts[6]}", parts[7])
        raise ValueError(f"not the id of an Azure resource group or of a resource in one: {text!r}")

    def __str__(self) -> str:
        group = f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"
        return f"{group}/providers/{self.type}/{self.name}" if self.type else group
