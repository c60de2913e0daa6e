"""`AzureStandIn`: one subscription of Azure, its tenant and its service principal, on https://127.0.0.1:PORT.

    with AzureStandIn(tmp_path / "azure") as azure:
        for name, value in azure.environment().items():
            monkeypatch.setenv(name, value)  # so that a `parlay cleanup` child process reaches it too
        provider = AzureProvider(vm_reference=azure.vm_reference())

It serves what the official clients call (see `arm` and `identity`); `environment()` points them at it
(AZURE_RESOURCE_MANAGER_URL, AZURE_AUTHORITY_HOST, the principal's AZURE_* variables, REQUESTS_CA_BUNDLE).
Failures come from realistic triggers: an unknown image or size in the request, `restrict` (SkuNotAvailable),
`exhaust` (AllocationFailed, through the long-running operation), `refuse_next` (a quota exceeded),
`revoke_tokens` (InvalidAuthenticationToken), a wrong secret (AADSTS7000215).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from pathlib import Path
from typing import Any

from parlay_provider_azure.standin.arm import ResourceManager
from parlay_provider_azure.standin.identity import Directory
from parlay_provider_azure.standin.records import GROUP_TYPE, KEY_TYPE, VNET_TYPE, Item
from parlay_provider_azure.standin.server import HttpsServer, Reply, Request
from parlay_provider_azure.standin.tls import self_signed

#: How long a VM takes to be created or deleted, or a group to be deleted, in seconds; LROs are polled at half.
DELAY = 0.1
TICK = 0.02


class AzureStandIn:
    """Azure Resource Manager and Entra ID for one subscription, tenant and service principal."""

    def __init__(self, directory: Path, delay: float = DELAY):
        self.directory = Path(directory)
        self.tenant, self.subscription = str(uuid.uuid4()), str(uuid.uuid4())
        self.client_id, self.client_secret = str(uuid.uuid4()), secrets.token_urlsafe(24)
        self.identity = Directory(self.tenant, self.client_id, self.client_secret)
        self.manager = ResourceManager(self.subscription, self.identity, self.directory / "machines", delay)
        self.cert, key = self_signed(self.directory / "tls")
        self._server = HttpsServer(self._handle, self.cert, key)
        self._stopping = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="azure-stand-in-fabric", daemon=True)

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> AzureStandIn:
        self._server.start()
        self._ticker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._ticker.join()
        self._server.stop()
        self.manager.stop()

    def environment(self) -> dict[str, str]:
        """The variables that point the Azure SDK and azure-identity at the stand-in, and trust it."""
        return {
            "AZURE_RESOURCE_MANAGER_URL": self.url,
            "AZURE_AUTHORITY_HOST": self.url,
            "AZURE_TENANT_ID": self.tenant,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
            "AZURE_SUBSCRIPTION_ID": self.subscription,
            "REQUESTS_CA_BUNDLE": str(self.cert),
        }

    @staticmethod
    def vm_reference(**changes: Any) -> dict[str, Any]:
        """A `vm_reference` of an image and size the stand-in knows."""
        reference = {
            "publisher": "Canonical",
            "offer": "ubuntu-24_04-lts",
            "sku": "server",
            "version": "latest",
            "vm_size": "Standard_B1s",
        }
        return {**reference, **changes}

    # --- what the conformance suite asks --------------------------------------------------------------

    def resources(self) -> list[tuple[str, str, dict[str, str]]]:
        """Everything that exists: (type, id, tags) of each resource group and resource."""
        with self.manager.lock:
            every = [*self.manager.groups.values(), *self.manager.items.values()]
            return [(item.type, item.id, dict(item.tags)) for item in every]

    def refuse_next(self, message: str) -> None:
        """The next VM creation fails as over the subscription's cores quota (409 OperationNotAllowed)."""
        with self.manager.lock:
            self.manager.refusals.append(message)

    # --- more failures --------------------------------------------------------------------------------

    def restrict(self, vm_size: str) -> None:
        """`vm_size` is not offered to the subscription (409 SkuNotAvailable)."""
        with self.manager.lock:
            self.manager.restricted.add(vm_size)

    def exhaust(self, vm_size: str) -> None:
        """Azure has no capacity for `vm_size`: creations are accepted, then fail (AllocationFailed)."""
        with self.manager.lock:
            self.manager.exhausted.add(vm_size)

    def revoke_tokens(self) -> None:
        """Tokens issued so far are refused (401 InvalidAuthenticationToken), as tokens of another tenant."""
        self.identity.revoke()

    # --- what a user owns beforehand ------------------------------------------------------------------

    def add_group(self, name: str, location: str = "westus") -> str:
        """A resource group of the user's; its id."""
        group = Item(self.subscription, GROUP_TYPE, name, name, location, {}, {"provisioningState": "Succeeded"})
        with self.manager.lock:
            self.manager.groups[name.lower()] = group
        return group.id

    def add_network(self, group: str, name: str, subnets: tuple[str, ...] = ("default",)) -> str:
        """A virtual network of the user's in `group`, with `subnets`; its id."""
        vnet = Item(self.subscription, VNET_TYPE, group, name, "westus", {})
        body = {
            "subnets": [
                {"name": subnet, "properties": {"addressPrefix": f"10.1.{n}.0/24"}} for n, subnet in enumerate(subnets)
            ]
        }
        with self.manager.lock:
            vnet.properties = self.manager.vnet_properties(vnet, body)
            self.manager.items[vnet.id.lower()] = vnet
        return vnet.id

    def add_ssh_key(self, group: str, name: str, public_key: str) -> str:
        """An SSH public key resource of the user's in `group`; its id."""
        key = Item(self.subscription, KEY_TYPE, group, name, "westus", {}, {"publicKey": public_key})
        with self.manager.lock:
            self.manager.items[key.id.lower()] = key
        return key.id

    # --- inside the VMs -------------------------------------------------------------------------------

    def custom_data(self, vm_name: str) -> bytes:
        """What VM `vm_name` was started with (as only the VM can read it)."""
        with self.manager.lock:
            for vm in self.manager.vms.values():
                if vm.item.name == vm_name:
                    return vm.machine.script.read_bytes()
        raise KeyError(vm_name)

    def os_profile(self, vm_name: str) -> dict[str, Any]:
        """The OS profile VM `vm_name` shows (without its password and custom data, as Azure shows it)."""
        with self.manager.lock:
            for vm in self.manager.vms.values():
                if vm.item.name == vm_name:
                    return dict(vm.item.properties["osProfile"])
        raise KeyError(vm_name)

    # --- plumbing -------------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Reply:
        answer = self.identity.handle(request, self.url)
        if answer is not None:
            return answer
        return self.manager.handle(request, self.url)

    def _tick(self) -> None:
        while not self._stopping.wait(TICK):
            self.manager.tick()
