"""The stand-in's virtual machines: what a creation request must hold (a known size and image, a valid login,
base64 custom data), the guest that runs the custom data, and what a VM's instance view shows in each phase
of its life."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parlay.testing.machines import LocalMachine
from parlay_provider_azure.standin import refusals
from parlay_provider_azure.standin.records import Item

#: Marketplace images (publisher, offer, sku) the stand-in knows, lower case; any version of them exists.
IMAGES = {
    ("canonical", "ubuntu-24_04-lts", "server"),
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"),
    ("debian", "debian-12", "12-gen2"),
}
SIZES = ("Standard_B1s", "Standard_B2s", "Standard_D2s_v5", "Standard_D4s_v5", "Standard_F2s_v2", "Standard_NC6s_v3")
CUSTOM_DATA_LIMIT = 87380
_PASSWORD_CLASSES = (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]")


@dataclass
class Vm:
    """A VM's life beyond its resource: its phase, its guest, its pending operation."""

    item: Item
    machine: LocalMachine
    operation: str
    due: float  # when the pending creation or deletion completes
    phase: str = "creating"  # creating, running, stopped, failed, deleting
    failure: dict[str, str] | None = None


def guest(folder: Path, custom_data: bytes) -> LocalMachine:
    """A VM's guest in `folder`: its custom data run as cloud-init runs it at first boot, output in cloud-init's
    log, a temporary folder of its own."""
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    return LocalMachine(
        folder,
        custom_data,
        script_name="custom-data",
        console_name="cloud-init-output.log",
        environment={"TMPDIR": str(folder / "tmp")},
    )


def check_request(properties: dict[str, Any], location: str, restricted: set[str]) -> bytes:
    """Refuse a creation request as Azure would; the VM's custom data, decoded."""
    size = (properties.get("hardwareProfile") or {}).get("vmSize", "")
    if size not in SIZES:
        raise refusals.unknown_size(size, SIZES)
    if size in restricted:
        raise refusals.size_not_offered(size, location)
    image = (properties.get("storageProfile") or {}).get("imageReference") or {}
    publisher, offer, sku, version = (str(image.get(key, "")) for key in ("publisher", "offer", "sku", "version"))
    if (publisher.lower(), offer.lower(), sku.lower()) not in IMAGES or not re.fullmatch(r"latest|[\d.]+", version):
        raise refusals.unknown_image(f"{publisher}:{offer}:{sku}:{version}")
    profile = properties.get("osProfile") or {}
    if not profile.get("adminUsername"):
        raise refusals.missing_parameter("adminUsername")
    keys = ((profile.get("linuxConfiguration") or {}).get("ssh") or {}).get("publicKeys") or []
    password = profile.get("adminPassword")
    if password is None and not keys:
        raise refusals.missing_parameter("adminPassword")
    if password is not None:
        strength = sum(bool(re.search(kind, password)) for kind in _PASSWORD_CLASSES)
        if not (6 <= len(password) <= 72 and strength >= 3):
            raise refusals.weak_password()
    encoded = profile.get("customData") or ""
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise refusals.bad_custom_data(CUSTOM_DATA_LIMIT) from None
    if len(encoded) > CUSTOM_DATA_LIMIT:
        raise refusals.bad_custom_data(CUSTOM_DATA_LIMIT)
    return data


def instance_view(vm: Vm) -> dict[str, Any]:
    """What `$expand=instanceView` shows of a VM: its provisioning state (with the error, if it failed) and
    its power state."""
    if vm.phase == "failed":
        failure = vm.failure or {}
        provisioning = {
            "code": f"ProvisioningState/failed/{failure.get('code')}",
            "level": "Error",
            "displayStatus": "Provisioning failed",
            "message": failure.get("message"),
        }
    else:
        state, shown = {"creating": ("creating", "Creating"), "deleting": ("deleting", "Deleting")}.get(
            vm.phase, ("succeeded", "Provisioning succeeded")
        )
        provisioning = {"code": f"ProvisioningState/{state}", "level": "Info", "displayStatus": shown}
    statuses = [provisioning]
    power = {"creating": "starting", "running": "running", "stopped": "stopped", "deleting": "stopped"}.get(vm.phase)
    if power is not None:
        statuses.append({"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"})
    return {"computerName": vm.item.name, "osName": "ubuntu", "osVersion": "24.04", "statuses": statuses}
