"""Azure Resource Manager for one subscription, as the management clients call it (REST, `api-version` in
every query, errors as `{"error": {"code", "message"}}`):

- resource groups: `PUT/GET/HEAD/DELETE /subscriptions/S/resourcegroups/G`, and `GET .../resourcegroups`;
- `GET /subscriptions/S/resources`, with `$filter=tagName eq 'K' and tagValue eq 'V'` as for groups;
- `PUT/GET/DELETE /subscriptions/S/resourceGroups/G/providers/NAMESPACE/TYPE/NAME` for virtual networks (their
  subnets inline), network interfaces, public IP addresses and virtual machines, GET and DELETE for disks, GET
  for SSH public keys; `GET .../providers/Microsoft.Compute/virtualMachines` lists a group's VMs (`$expand=
  instanceView`);
- long-running operations: the `Azure-AsyncOperation` URL (`.../locations/L/operations/ID`, answering
  `{"status"}`) and the `Location` one (`.../operationResults/ID`, 202 until done), with a short
  `retry-after-ms`.

VMs are created and deleted in the background (`tick`): a created VM boots its custom data as a `LocalMachine`,
unless there is no capacity for its size (its operation then fails with AllocationFailed); a deleted VM takes
its network interfaces, public IP addresses and OS disk along when their `deleteOption` says so. Azure's own
refusals guard the order of deletion (NicInUse, PublicIPAddressCannotBeDeleted, InUseSubnetCannotBeDeleted).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from parlay_provider_azure.standin import compute, refusals
from parlay_provider_azure.standin.compute import Vm
from parlay_provider_azure.standin.identity import Directory
from parlay_provider_azure.standin.records import (
    DISK_TYPE,
    GROUP_TYPE,
    IP_TYPE,
    NIC_TYPE,
    TYPES,
    VM_TYPE,
    VNET_TYPE,
    Item,
    Operation,
)
from parlay_provider_azure.standin.refusals import Refusal
from parlay_provider_azure.standin.server import Reply, Request

TAG_FILTER = re.compile(r"^\s*tagName eq '([^']*)' and tagValue eq '([^']*)'\s*$", re.IGNORECASE)
API_VERSION = "api-version=2025-04-01"


class ResourceManager:
    """The subscription's state and its REST API."""

    def __init__(self, subscription: str, directory: Directory, root: Path, delay: float):
        self.subscription = subscription
        self.directory = directory
        self.root = root  # where the VMs' guests live
        self.delay = delay  # how long a VM's creation or deletion, or a group's deletion, takes
        self.lock = threading.RLock()
        self.groups: dict[str, Item] = {}  # lower-case name ->
        self.items: dict[str, Item] = {}  # lower-case id ->
        self.vms: dict[str, Vm] = {}  # lower-case id ->
        self.operations: dict[str, Operation] = {}
        self.deleting_groups: dict[str, tuple[float, str]] = {}  # lower-case name -> (when done, operation)
        self.refusals: list[str] = []  # quota messages for the next VM creations
        self.restricted: set[str] = set()  # sizes not offered (SkuNotAvailable)
        self.exhausted: set[str] = set()  # sizes without capacity (AllocationFailed)
        self._machines = itertools.count()

    # --- requests ---------------------------------------------------------------------------------

    def handle(self, request: Request, base_url: str) -> Reply:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not self.directory.valid(token):
            challenge = f'Bearer authorization_uri="{base_url}", error="invalid_token"'
            return Reply(401, refusals.invalid_token().reply().body, {"WWW-Authenticate": challenge})
        try:
            if "api-version" not in request.query:
                raise refusals.no_api_version()
            with self.lock:
                return self._route(request, base_url)
        except Refusal as refusal:
            return refusal.reply()

    def _route(self, request: Request, base_url: str) -> Reply:
        parts, method = request.parts, request.method
        lower = [part.lower() for part in parts]
        if len(parts) < 2 or lower[0] != "subscriptions":
            raise refusals.no_such_type("/".join(parts))
        if parts[1] != self.subscription:
            raise refusals.no_subscription(parts[1])
        rest, lower = parts[2:], lower[2:]
        if lower in (["resourcegroups"], ["resources"]) and method == "GET":
            return self._list(lower[0], request.query.get("$filter"))
        if len(rest) == 2 and lower[0] == "resourcegroups":
            return self._group(method, rest[1], request, base_url)
        if len(rest) == 2 and lower[0] == "operationresults" and method == "GET":
            return self._group_deletion(rest[1], base_url)
        if len(rest) == 6 and lower[0] == "providers" and lower[2] == "locations" and method == "GET":
            return self._operation(rest[5], lower[4] == "operationresults", base_url + request.target)
        if len(rest) == 5 and lower[0] == "resourcegroups" and lower[2] == "providers" and method == "GET":
            return self._list_in_group(rest[1], f"{rest[3]}/{rest[4]}", request.query.get("$expand"))
        if len(rest) == 6 and lower[0] == "resourcegroups" and lower[2] == "providers":
            return self._resource(method, rest[1], f"{rest[3]}/{rest[4]}", rest[5], request, base_url)
        raise refusals.no_such_type("/".join(parts))

    def _list(self, what: str, query: str | None) -> Reply:
        wanted: tuple[str, str] | None = None
        if query:
            match = TAG_FILTER.match(query)
            if match is None:
                raise refusals.bad_filter(query)
            wanted = match.group(1), match.group(2)
        found = self.groups.values() if what == "resourcegroups" else self.items.values()
        chosen = [item.view() for item in found if wanted is None or item.tags.get(wanted[0]) == wanted[1]]
        return Reply(200, {"value": chosen})

    def _list_in_group(self, group: str, kind: str, expand: str | None) -> Reply:
        home = self._existing_group(group)
        found = [i for i in self.items.values() if i.group == home.name and i.type.lower() == kind.lower()]
        return Reply(200, {"value": [self._view(item, expand) for item in found]})

    # --- resource groups --------------------------------------------------------------------------

    def _existing_group(self, name: str) -> Item:
        group = self.groups.get(name.lower())
        if group is None:
            raise refusals.no_group(name)
        return group

    def _group(self, method: str, name: str, request: Request, base_url: str) -> Reply:
        if method == "PUT":
            body = request.json() or {}
            if "location" not in body:
                raise refusals.no_location()
            existing = self.groups.get(name.lower())
            tags = dict(body.get("tags") or {})
            group = Item(self.subscription, GROUP_TYPE, name, name, body["location"], tags)
            group.properties = {"provisioningState": "Succeeded"}
            self.groups[name.lower()] = group
            return Reply(200 if existing else 201, group.view())
        if method == "HEAD":
            return Reply(204 if name.lower() in self.groups else 404)
        group = self._existing_group(name)
        if method == "GET":
            return Reply(200, group.view())
        if method == "DELETE":
            group.properties["provisioningState"] = "Deleting"
            due = time.monotonic() + self.delay
            _, operation = self.deleting_groups.setdefault(name.lower(), (due, self._new_operation()))
            return self._group_deletion(operation, base_url)
        raise refusals.not_allowed(method, "a resource group")

    def _group_deletion(self, operation: str, base_url: str) -> Reply:
        if self._existing_operation(operation).status == "InProgress":
            location = f"{base_url}/subscriptions/{self.subscription}/operationresults/{operation}?{API_VERSION}"
            return Reply(202, None, {"Location": location, **self._retry_after()})
        return Reply(200)

    # --- long-running operations ------------------------------------------------------------------

    def _new_operation(self, done: bool = False) -> str:
        name = str(uuid.uuid4())
        self.operations[name] = Operation()
        if done:
            self.operations[name].finish()
        return name

    def _existing_operation(self, name: str) -> Operation:
        operation = self.operations.get(name)
        if operation is None:
            raise Refusal(404, "NotFound", f"The operation '{name}' was not found.")
        return operation

    def _operation(self, name: str, result: bool, url: str) -> Reply:
        operation = self._existing_operation(name)
        if result:  # the Location URL: 202 until done, then the outcome
            if operation.status == "InProgress":
                return Reply(202, None, {"Location": url, **self._retry_after()})
            return Reply(400, {"error": operation.error}) if operation.error else Reply(204)
        waiting = self._retry_after() if operation.status == "InProgress" else {}
        return Reply(200, operation.view(name), waiting)

    def _retry_after(self) -> dict[str, str]:
        return {"retry-after-ms": str(max(1, int(self.delay * 500)))}

    def _lro(self, item: Item, operation: str, base_url: str, deleting: bool) -> dict[str, str]:
        """The headers of an accepted long-running operation on `item`."""
        namespace = item.type.split("/")[0]
        root = f"{base_url}/subscriptions/{self.subscription}/providers/{namespace}/locations/{item.location}"
        headers = {"Azure-AsyncOperation": f"{root}/operations/{operation}?{API_VERSION}", **self._retry_after()}
        if deleting:
            headers["Location"] = f"{root}/operationResults/{operation}?{API_VERSION}"
        return headers

    # --- resources in groups ----------------------------------------------------------------------

    def _get(self, resource_id: str) -> Item | None:
        return self.items.get(resource_id.lower())

    def _resource(self, method: str, group: str, kind: str, name: str, request: Request, base_url: str) -> Reply:
        if kind.lower() not in TYPES:
            raise refusals.no_such_type(kind)
        kind, home = TYPES[kind.lower()], self._existing_group(group)
        item = self._get(Item(self.subscription, kind, home.name, name, "", {}).id)
        if method == "GET":
            if item is None:
                raise refusals.no_resource(kind, name, group)
            return Reply(200, self._view(item, request.query.get("$expand")))
        if method == "DELETE":
            if item is None:
                return Reply(204)
            if kind == VM_TYPE:
                return self._delete_vm(item, base_url)
            self._delete_now(item)
            return Reply(202, None, self._lro(item, self._new_operation(done=True), base_url, deleting=True))
        if method != "PUT":
            raise refusals.not_allowed(method, kind)
        body = request.json() or {}
        if not body.get("location"):
            raise refusals.no_location()
        new = Item(self.subscription, kind, home.name, name, body["location"], dict(body.get("tags") or {}))
        if kind == VM_TYPE:
            return self._create_vm(new, item, body.get("properties") or {}, base_url)
        create = {VNET_TYPE: self.vnet_properties, NIC_TYPE: self._nic, IP_TYPE: self._ip}.get(kind)
        if create is None:
            raise refusals.not_allowed(method, kind)
        new.sku = body.get("sku")
        new.properties = create(new, body.get("properties") or {})
        self.items[new.key] = new
        headers = self._lro(new, self._new_operation(done=True), base_url, deleting=False)
        return Reply(200 if item else 201, self._view(new, None), headers)

    def _view(self, item: Item, expand: str | None) -> dict[str, Any]:
        body = item.view()
        vm = self.vms.get(item.key)
        if vm is not None and (expand or "").lower() == "instanceview":
            body["properties"] = {**body["properties"], "instanceView": compute.instance_view(vm)}
        return body

    def vnet_properties(self, vnet: Item, properties: dict[str, Any]) -> dict[str, Any]:
        """A virtual network's properties as Azure keeps them: its subnets get ids."""
        subnets = []
        for subnet in properties.get("subnets") or []:
            settings = {**(subnet.get("properties") or {}), "provisioningState": "Succeeded"}
            subnets.append(
                {"name": subnet["name"], "id": f"{vnet.id}/subnets/{subnet['name']}", "properties": settings}
            )
        return {**properties, "subnets": subnets, "provisioningState": "Succeeded", "resourceGuid": str(uuid.uuid4())}

    def _nic(self, nic: Item, properties: dict[str, Any]) -> dict[str, Any]:
        configurations = []
        for configuration in properties.get("ipConfigurations") or []:
            settings = dict(configuration.get("properties") or {})
            subnet = (settings.get("subnet") or {}).get("id", "")
            vnet_id, _, subnet_name = subnet.rpartition("/subnets/")
            vnet = self._get(vnet_id)
            if vnet is None or subnet_name.lower() not in {s["name"].lower() for s in vnet.properties["subnets"]}:
                raise refusals.missing_reference(subnet, nic.id)
            address = settings.get("publicIPAddress")
            ip = self._get(address.get("id", "")) if address else None
            if address and ip is None:
                raise refusals.missing_reference(address.get("id", ""), nic.id)
            if ip is not None and ip.properties.get("ipConfiguration"):
                raise refusals.ip_in_use(ip.id, ip.properties["ipConfiguration"]["id"])
            name = configuration.get("name", "ipconfig1")
            settings.update(privateIPAddress=f"10.0.0.{4 + len(self.items) % 250}", provisioningState="Succeeded")
            configurations.append({"name": name, "id": f"{nic.id}/ipConfigurations/{name}", "properties": settings})
            if ip is not None:
                ip.properties["ipConfiguration"] = {"id": configurations[-1]["id"]}
        return {**properties, "ipConfigurations": configurations, "provisioningState": "Succeeded"}

    def _ip(self, ip: Item, properties: dict[str, Any]) -> dict[str, Any]:
        address = f"203.0.113.{len(self.items) % 250 + 1}"  # documentation addresses: reach nothing
        return {**properties, "ipAddress": address, "provisioningState": "Succeeded"}

    def _delete_now(self, item: Item) -> None:
        """Delete a network resource or a disk at once, unless something still uses it."""
        if item.type == NIC_TYPE and item.properties.get("virtualMachine"):
            raise refusals.nic_in_use(item.id, item.properties["virtualMachine"]["id"])
        if item.type == IP_TYPE and item.properties.get("ipConfiguration"):
            raise refusals.ip_allocated(item.id, item.properties["ipConfiguration"]["id"])
        if item.type == DISK_TYPE and item.managed_by:
            raise refusals.disk_attached(item.name, item.managed_by)
        if item.type == VNET_TYPE:
            for nic in (i for i in self.items.values() if i.type == NIC_TYPE):
                for configuration in nic.properties["ipConfigurations"]:
                    subnet = configuration["properties"]["subnet"]["id"]
                    if subnet.lower().startswith(item.key + "/subnets/"):
                        raise refusals.subnet_in_use(subnet.rpartition("/")[2], configuration["id"])
        self._remove(item)

    def _remove(self, item: Item) -> None:
        self.items.pop(item.key, None)
        if item.type == NIC_TYPE:  # its public IP addresses are free again, or go with it
            for configuration in item.properties.get("ipConfigurations", []):
                address = configuration["properties"].get("publicIPAddress")
                ip = self._get(address["id"]) if address else None
                if ip is not None:
                    ip.properties.pop("ipConfiguration", None)
                    if (address.get("properties") or {}).get("deleteOption") == "Delete":
                        self._remove(ip)

    # --- virtual machines -------------------------------------------------------------------------

    def _create_vm(self, vm: Item, existing: Item | None, properties: dict[str, Any], base_url: str) -> Reply:
        if existing is not None:
            raise refusals.not_allowed("PUT", f"the existing virtual machine {vm.name} (the stand-in updates none)")
        if self.refusals:
            raise refusals.quota(self.refusals.pop(0))
        custom_data = compute.check_request(properties, vm.location, self.restricted)
        nics = []
        for reference in (properties.get("networkProfile") or {}).get("networkInterfaces") or []:
            nic = self._get(reference.get("id", ""))
            if nic is None:
                raise refusals.missing_reference(reference.get("id", ""), vm.id)
            if nic.properties.get("virtualMachine"):
                raise refusals.nic_in_use(nic.id, nic.properties["virtualMachine"]["id"])
            nics.append(nic)
        if not nics:
            raise refusals.missing_parameter("networkProfile.networkInterfaces")
        storage = properties.get("storageProfile") or {}
        os_disk = dict(storage.get("osDisk") or {})
        disk = Item(
            self.subscription, DISK_TYPE, vm.group, os_disk.get("name") or f"{vm.name}_OsDisk_1", vm.location, {}
        )
        disk.properties = {"diskSizeGB": os_disk.get("diskSizeGB", 30), "osType": "Linux", "diskState": "Attached"}
        disk.managed_by = vm.id  # Azure copies none of the VM's tags to the disk it creates
        self.items[disk.key] = disk
        for nic in nics:
            nic.properties["virtualMachine"] = {"id": vm.id}
        hidden = ("customData", "adminPassword")  # Azure never shows them
        profile = {key: value for key, value in (properties.get("osProfile") or {}).items() if key not in hidden}
        os_disk.update(name=disk.name, osType="Linux", managedDisk={"id": disk.id})
        vm.properties = {**properties, "osProfile": profile, "storageProfile": {**storage, "osDisk": os_disk}}
        vm.properties.update(vmId=str(uuid.uuid4()), provisioningState="Creating")
        self.items[vm.key] = vm
        folder = self.root / f"{vm.name}-{next(self._machines)}"
        folder.mkdir(parents=True)
        operation = self._new_operation()
        self.vms[vm.key] = Vm(vm, compute.guest(folder, custom_data), operation, time.monotonic() + self.delay)
        return Reply(201, self._view(vm, None), self._lro(vm, operation, base_url, deleting=False))

    def _delete_vm(self, item: Item, base_url: str) -> Reply:
        vm = self.vms[item.key]
        if vm.phase != "deleting":
            vm.phase, vm.due, vm.operation = "deleting", time.monotonic() + self.delay, self._new_operation()
            item.properties["provisioningState"] = "Deleting"
        return Reply(202, None, self._lro(item, vm.operation, base_url, deleting=True))

    def _drop_vm(self, vm: Vm) -> None:
        """The VM is gone: its guest stops, and what it was told to take along goes too."""
        vm.machine.halt()
        self.vms.pop(vm.item.key, None)
        self.items.pop(vm.item.key, None)
        for reference in vm.item.properties["networkProfile"]["networkInterfaces"]:
            nic = self._get(reference["id"])
            if nic is not None:
                nic.properties.pop("virtualMachine", None)
                if (reference.get("properties") or {}).get("deleteOption") == "Delete":
                    self._remove(nic)
        os_disk = vm.item.properties["storageProfile"]["osDisk"]
        disk = self._get(os_disk["managedDisk"]["id"])
        if disk is not None:
            disk.managed_by = None
            disk.properties["diskState"] = "Unattached"
            if os_disk.get("deleteOption") == "Delete":
                self._remove(disk)

    # --- time passing -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance what takes time: VMs boot or fail to, power off, are deleted; groups are deleted."""
        now = time.monotonic()
        with self.lock:
            for vm in list(self.vms.values()):
                if vm.phase == "creating" and now >= vm.due:
                    self._provision(vm)
                elif vm.phase == "running" and vm.machine.powered_off:
                    vm.machine.halt()
                    vm.phase = "stopped"
                elif vm.phase == "deleting" and now >= vm.due:
                    self._drop_vm(vm)
                    self.operations[vm.operation].finish()
            for name, (due, operation) in list(self.deleting_groups.items()):
                if now >= due:
                    for item in [item for item in self.items.values() if item.group.lower() == name]:
                        if item.key in self.vms:
                            self._drop_vm(self.vms[item.key])
                        self.items.pop(item.key, None)
                    self.groups.pop(name, None)
                    del self.deleting_groups[name]
                    self.operations[operation].finish()

    def _provision(self, vm: Vm) -> None:
        size = vm.item.properties["hardwareProfile"]["vmSize"]
        if size in self.exhausted:
            vm.phase, vm.failure = "failed", refusals.allocation_failed(size)
            vm.item.properties["provisioningState"] = "Failed"
            self.operations[vm.operation].finish(vm.failure)
            return
        vm.machine.boot()
        vm.phase = "running"
        vm.item.properties["provisioningState"] = "Succeeded"
        self.operations[vm.operation].finish()

    def stop(self) -> None:
        """Stop every guest (the stand-in is going away)."""
        with self.lock:
            for vm in self.vms.values():
                vm.machine.halt()
