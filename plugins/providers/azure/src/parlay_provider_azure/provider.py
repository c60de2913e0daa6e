"""`AzureProvider`: each block is `nodes_per_block` Azure virtual machines, started with custom data.

Cloud-init runs the custom data as a script at first boot: the job script with the executor's keys exported,
then (unless `linger`) a power-off, after which the provider deletes the VM. Everything created carries the
run's and the block's tags and is journaled the moment Azure accepts it; the VM's network interface, public IP
address and OS disk go with it (`deleteOption: Delete`). `sweep` deletes what a run left, found by the journal
and by the tags, in dependency order.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from parlay.errors import ConfigurationError, ExecutionProviderException, SubmitException
from parlay.options import REQUIRED, amount, declare, flag, invalid, name, option, optional, state, text
from parlay.providers.base import JobStatus
from parlay.providers.cloud import RUN_TAG, CloudProvider, tag_value
from parlay_provider_azure import bodies, naming, removal, states
from parlay_provider_azure.failures import AzureRefused, Failure, calling
from parlay_provider_azure.naming import ResourceId
from parlay_provider_azure.removal import Resource
from parlay_provider_azure.session import AUTHORITY_VARIABLE, ENDPOINT_VARIABLE, AzureSession, read_key_file

logger = logging.getLogger(__name__)

#: vm_reference's keys: the image and size (required), then the rest, with their types.
IMAGE_KEYS = ("publisher", "offer", "sku", "version", "vm_size")
OTHER_KEYS: dict[str, type] = {"admin_username": str, "password": str, "ssh_public_key": str, "disk_size_gb": int}
#: Azure's limit on custom data, base64-encoded.
CUSTOM_DATA_LIMIT = 87380
#: What a VM's deletion takes along (`deleteOption: Delete`).
GO_WITH_VM = ("nic", "public-ip", "disk")
POWER_OFF = "shutdown -h now  # linger=False: the VM powers off when its workers end, and parlay deletes it\n"


class VMReference(dict):
    """`vm_reference`, shown without its password."""

    def __repr__(self) -> str:
        return repr({key: "***" if key == "password" else value for key, value in self.items()})


def vm_reference_problem(value: Any) -> str | None:
    """What is wrong with a `vm_reference`, or None."""
    keys = f"{', '.join(IMAGE_KEYS)} (strings), and optionally {', '.join(OTHER_KEYS)}"
    if not isinstance(value, Mapping):
        return f"expected a dict of {keys}"
    missing = [key for key in IMAGE_KEYS if not (isinstance(value.get(key), str) and value[key])]
    if missing:
        return f"missing or empty: {', '.join(missing)}; expected {keys}"
    unknown = sorted(set(value) - set(IMAGE_KEYS) - set(OTHER_KEYS))
    if unknown:
        return f"unknown key(s) {', '.join(map(repr, unknown))}; expected {keys}"
    for key, kind in OTHER_KEYS.items():
        if key in value and (not isinstance(value[key], kind) or isinstance(value[key], bool)):
            return f"{key} must be {'an integer' if kind is int else 'a string'}"
    if value.get("disk_size_gb", 30) < 1:
        return "disk_size_gb must be >= 1"
    return None


def _check_vm_reference(instance: Any, attribute: Any, value: Any) -> None:
    problem = vm_reference_problem(value)
    if problem is not None:
        raise invalid(instance, attribute.name, VMReference(value) if isinstance(value, Mapping) else value, problem)


@declare(
    defaults={"label": "azure", "max_blocks": 10},
    help={
        "nodes_per_block": "virtual machines in each block, one per node",
        "cores_per_node": "cores of each VM (of its vm_size); executors may size their workers by it",
        "mem_per_node": "gigabytes of memory of each VM (of its vm_size); executors may size their workers by it",
    },
)
class AzureProvider(CloudProvider):
    """Blocks as Azure VMs, with Parsl's options and defaults; see the README for what it creates."""

    kind: ClassVar[str] = "azure"

    vm_reference: dict[str, Any] = option(
        REQUIRED,
        "the VMs: image `publisher`, `offer`, `sku`, `version` and `vm_size`; optionally `admin_username` "
        "('parlay'), `password`, `ssh_public_key`, `disk_size_gb` (of the OS disk)",
        _check_vm_reference,
        positional=True,
    )
    location: str = option("westus", "the Azure region of the VMs and of what parlay creates for them", name)
    group_name: str | None = option(
        None,
        "an existing resource group to work in (parlay never creates nor deletes it); None: parlay creates "
        "`parlay-RUN_ID` for the run and deletes it at the end",
        optional(name),
    )
    vnet_name: str | None = option(
        None,
        "an existing virtual network of `group_name` for the VMs; None: parlay creates one for the run "
        f"({bodies.VNET_PREFIX}) and deletes it at the end",
        optional(name),
    )
    subnet_name: str | None = option(None, "with `vnet_name`: the subnet for the VMs; None: its first", optional(name))
    public_ip: bool = option(
        False,
        "give each VM a public IP address (Standard SKU), deleted with it: for outbound access where the subnet "
        "has none, and for SSH",
        flag,
    )
    key_name: str | None = option(
        None,
        "an SSH public key kept in Azure (`az sshkey create`), `NAME` in `group_name` or `GROUP/NAME`, "
        "installed for the admin user",
        optional(name),
    )
    key_file: str | None = option(
        None,
        "a JSON file of AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID and AZURE_SUBSCRIPTION_ID; "
        "None: the environment",
        optional(text),
    )
    linger: bool = option(
        False,
        "False: a VM powers off when its workers end and parlay deletes it; True: it stays up until its block "
        "is cancelled or the run ends",
        flag,
    )
    subscription_id: str | None = option(
        None, "the subscription; None: `key_file`'s, else AZURE_SUBSCRIPTION_ID", optional(name)
    )
    base_url: str | None = option(
        None,
        f"the Resource Manager endpoint; None: {ENDPOINT_VARIABLE}, else the cloud's (AZURE_CLOUD, public by default)",
        optional(name),
    )
    authority: str | None = option(
        None,
        f"the Entra ID authority of the client-secret sign-in; None: {AUTHORITY_VARIABLE}, else the cloud's",
        optional(name),
    )
    delete_timeout: float = option(
        600,
        "seconds to wait for Azure to delete a block's VMs, or the run's network and group, before saying what is left",
        amount("seconds"),
    )

    _subscription: str = state("")
    _session: AzureSession | None = state()
    _lock: threading.Lock = state(factory=threading.Lock)
    _subnet: str | None = state()  # the subnet id of the VMs' network interfaces, once set up
    _ssh_keys: list[str] | None = state()  # the public key of `key_name`, once read
    _records: dict[str, Resource] = state(factory=dict)  # key -> journaled resource not known to be deleted
    _uncertain: bool = state(False)  # a creating call got no answer: it may have created something all the same
    _own: set[str] = state(factory=set)  # blocks this process submitted
    _ended: set[str] = state(factory=set)  # of those, the ones whose deletion started when they ended

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not isinstance(self.vm_reference, VMReference):
            self.vm_reference = VMReference(self.vm_reference)
        needs = {
            "vnet_name": (self.vnet_name, self.group_name, "group_name, the resource group holding that network"),
            "subnet_name": (self.subnet_name, self.vnet_name, "vnet_name, the network holding that subnet"),
            "key_name": (
                self.key_name and "/" not in self.key_name,
                self.group_name,
                "group_name, the group holding that key (or give it as 'GROUP/NAME')",
            ),
        }
        for option_name, (given, needed, what) in needs.items():
            if given and not needed:
                value = getattr(self, option_name)
                raise ConfigurationError(f"AzureProvider.{option_name}={value!r}: needs {what}")
        keys = read_key_file(self.key_file) if self.key_file else {}
        self._subscription = (
            self.subscription_id or keys.get("AZURE_SUBSCRIPTION_ID") or os.environ.get("AZURE_SUBSCRIPTION_ID", "")
        )
        if not self._subscription:
            raise ConfigurationError(
                "AzureProvider.subscription_id=None: no subscription; give subscription_id, set "
                "AZURE_SUBSCRIPTION_ID, or name it in key_file"
            )

    def cleanup_options(self) -> dict[str, Any]:
        options = {
            **super().cleanup_options(),
            "vm_reference": {key: self.vm_reference[key] for key in IMAGE_KEYS},
            "location": self.location,
            "subscription_id": self._subscription,
        }
        reach = {
            "group_name": self.group_name,
            "key_file": self.key_file,
            "base_url": self._base_url(),
            "authority": self._authority(),
        }
        return {**options, **{key: value for key, value in reach.items() if value}}

    # --- blocks -----------------------------------------------------------------------------------

    def _submit(self, command: str, tasks_per_node: int, job_name: str) -> str:
        script = self.startup_script(command, tasks_per_node, job_name)
        if not self.linger:
            script += POWER_OFF
        custom_data = base64.b64encode(script.encode()).decode()
        if len(custom_data) > CUSTOM_DATA_LIMIT:
            message = (
                f"the block's startup script is {len(script)} bytes: over Azure's custom data limit "
                f"({CUSTOM_DATA_LIMIT} characters of base64); shorten worker_init"
            )
            raise SubmitException(job_name, message, permanent=True)
        if self.script_dir is not None:
            os.makedirs(self.script_dir, exist_ok=True)  # the journal goes beside it, from the first resource on
        block = naming.new_block()
        made: list[Resource] = []
        try:
            subnet = self._network()
            ssh_keys = self._keys()
            for vm in naming.vm_names(block, self.nodes_per_block):
                self._create_vm(vm, subnet, ssh_keys, custom_data, job_name, made)
        except BaseException as exc:
            self._undo(made)  # nothing half-made is left, whatever stopped the submission
            if isinstance(exc, AzureRefused):
                raise SubmitException(job_name, str(exc), permanent=exc.failure.permanent) from exc
            raise
        job = naming.job_id(self._group(), block)
        self._own.add(job)
        return job

    def _create_vm(
        self, vm: str, subnet: str, ssh_keys: list[str], custom_data: str, job_name: str, made: list[Resource]
    ) -> None:
        session, group, tags = self._azure(), self._group(), self.tags(job_name)
        network, compute = session.network, session.compute
        ip = None
        if self.public_ip:
            address = Resource.of("public-ip", self._subscription, group, naming.ip_name(vm))
            body = bodies.public_ip(self.location, tags)
            start = network.public_ip_addresses.begin_create_or_update
            self._finish(self._create(address, made, lambda: start(group, address.id.name, body)), address)
            ip = str(address.id)
        nic = Resource.of("nic", self._subscription, group, naming.nic_name(vm))
        body = bodies.network_interface(self.location, tags, subnet, ip)
        start = network.network_interfaces.begin_create_or_update
        self._finish(self._create(nic, made, lambda: start(group, nic.id.name, body)), nic)
        disk = Resource.of("disk", self._subscription, group, naming.disk_name(vm))
        machine = Resource.of("vm", self._subscription, group, vm)
        body = bodies.virtual_machine(
            self.location, tags, self.vm_reference, vm, str(nic.id), disk.id.name, custom_data, ssh_keys
        )
        # not waited for: the VM's provisioning, and how it failed, show in its instance view (`_status`)
        start = compute.virtual_machines.begin_create_or_update
        self._create(machine, made, lambda: start(group, vm, body, polling=False))
        self._remember(disk)  # made by the VM, named by parlay
        made.append(disk)

    def _create(self, resource: Resource, made: list[Resource], start: Callable[[], Any]) -> Any:
        """Start creating `resource` and journal it the moment Azure accepts it; what `start` answered."""
        try:
            with calling(f"create {resource.describe()}"):
                answer = start()
        except AzureRefused as exc:
            self._uncertain |= not exc.answered
            raise
        made.append(resource)
        if resource.kind != "vm":  # the VM is the job, which `submit` journals
            self._remember(resource)
        return answer

    def _finish(self, poller: Any, resource: Resource) -> Any:
        """The result of the operation creating `resource`, waited for at most `api_timeout` seconds."""
        action = f"create {resource.describe()}"
        with calling(action):
            poller.wait(self.api_timeout)
            if poller.done():
                return poller.result()
        failure = Failure("Timeout", f"not finished after {self.api_timeout:g} s (api_timeout)", False, "")
        raise AzureRefused(action, failure)

    def _undo(self, made: list[Resource]) -> None:
        if not made:
            return
        try:
            _, problems = removal.delete(self._azure(), made, self.delete_timeout, self._gone)
        except Exception as exc:  # the submission's own error matters more; sweep retries at the end of the run
            problems = [(made[0], str(exc))]
        for resource, why in problems:
            logger.warning("%s: could not delete %s of a refused block: %s", self.label, resource.describe(), why)

    def _status(self, job_ids: list[str]) -> list[JobStatus]:
        listed: dict[str, list[Any]] = {}
        answers = []
        for job in job_ids:
            group, block = naming.parse_job_id(job)
            if group not in listed:
                listed[group] = self._vms(group)
            vms = [vm for vm in listed[group] if naming.in_block(vm.name, block)]
            status = states.block_status(vms)
            if status.terminal and job in self._own and job not in self._ended:
                self._ended.add(job)
                self._delete_ended(group, vms)
            answers.append(status)
        return answers

    def _vms(self, group: str) -> list[Any]:
        """The VMs of a group, with their instance views (none if the group is gone)."""
        from azure.core.exceptions import ResourceNotFoundError

        with calling(f"list the virtual machines of group {group}"):
            try:
                return list(self._azure().compute.virtual_machines.list(group, expand="instanceView"))
            except ResourceNotFoundError as exc:
                if getattr(exc.error, "code", None) == "ResourceGroupNotFound":
                    return []
                raise

    def _delete_ended(self, group: str, vms: Sequence[Any]) -> None:
        """Start deleting the VMs of a block that ended (their network interfaces and disks go with them)."""
        compute = self._azure().compute
        for vm in vms:
            try:
                with calling(f"delete virtual machine {vm.name} in group {group}"):
                    compute.virtual_machines.begin_delete(group, vm.name, polling=False)
            except AzureRefused as exc:  # the end of the run deletes it
                logger.warning("%s: %s", self.label, exc)

    def _cancel(self, job_ids: list[str]) -> list[bool]:
        listed: dict[str, list[Any]] = {}
        targets: dict[str, list[Resource]] = {}
        for job in job_ids:
            group, block = naming.parse_job_id(job)
            if group not in listed:
                listed[group] = self._vms(group)
            names = [vm.name for vm in listed[group] if naming.in_block(vm.name, block)]
            targets[job] = [Resource.of("vm", self._subscription, group, vm) for vm in names]
        every = [resource for resources in targets.values() for resource in resources]
        _, problems = removal.delete(self._azure(), every, self.delete_timeout, self._gone)
        for resource, why in problems:
            logger.error("%s: could not delete %s: %s", self.label, resource.describe(), why)
        left = {resource.key for resource, _ in problems}
        return [not any(resource.key in left for resource in targets[job]) for job in job_ids]

    # --- what the run created beyond its VMs --------------------------------------------------------

    def sweep(self, run_id: str, recorded: Sequence[dict[str, Any]] = (), dry_run: bool = False) -> list[str]:
        for entry in recorded:
            resource = Resource(entry["resource"], ResourceId.parse(entry["resource_id"]))
            self._records.setdefault(resource.key, resource)
        if run_id == self.run_id and not self._records and not self._uncertain:
            return []  # this run created nothing here: all it creates is journaled (and remembered) at once
        session = self._azure()
        found = {resource.key: resource for resource in self._tagged(run_id)}
        lines = []
        for key, resource in list(self._records.items()):
            if key in found:
                continue
            if removal.exists(session, resource):
                found[key] = resource
            elif not dry_run:
                how = "with its virtual machine" if resource.kind in GO_WITH_VM else "already"
                lines.append(f"{resource.describe()} was deleted {how}")
                self._gone(resource)
        if dry_run:
            return [f"would delete {resource.describe()}" for resource in removal.ordered(found.values())]
        deleted, problems = removal.delete(session, found.values(), self.delete_timeout, self._gone)
        lines += [f"deleted {resource.describe()}" for resource in deleted]
        if problems:
            done = f" (deleted: {'; '.join(lines)})" if lines else ""
            left = "; ".join(why for _, why in problems)
            raise ExecutionProviderException(f"{self.label}: run {run_id} left resources in Azure: {left}{done}")
        return lines

    def _tagged(self, run_id: str) -> list[Resource]:
        """The resource groups and resources that carry run `run_id`'s tag."""
        query = f"tagName eq '{RUN_TAG}' and tagValue eq '{tag_value(run_id)}'"
        client = self._azure().resources
        with calling(f"list what carries the tag {RUN_TAG}={tag_value(run_id)}"):
            groups = [group.name for group in client.resource_groups.list(filter=query)]
            others = [(removal.kind_of(item.type), item.id) for item in client.resources.list(filter=query)]
        tagged = [Resource.of("group", self._subscription, group, group) for group in groups]
        return tagged + [Resource(kind, ResourceId.parse(ident)) for kind, ident in others if kind is not None]

    def _remember(self, resource: Resource) -> None:
        self._records[resource.key] = resource
        self.record(resource.kind, str(resource.id))

    def _gone(self, resource: Resource) -> None:
        if self._records.pop(resource.key, None) is not None:
            self.forget(resource.kind, str(resource.id))

    # --- the group, the network, the keys -----------------------------------------------------------

    def _group(self) -> str:
        return self.group_name or naming.run_group(self.run_id)

    def _network(self) -> str:
        """The subnet id for the VMs' network interfaces: the run's group and network are set up once."""
        with self._lock:
            if self._subnet is None:
                made: list[Resource] = []  # left, if the set-up fails half-way, for the end of the run to delete
                self._set_up_group(made)
                self._subnet = self._find_subnet() if self.vnet_name else self._create_network(made)
            return self._subnet

    def _set_up_group(self, made: list[Resource]) -> None:
        group, groups = self._group(), self._azure().resources.resource_groups
        if self.group_name:
            with calling(f"find resource group {group}"):
                groups.get(group)
        else:
            body = bodies.resource_group(self.location, self.tags())
            resource = Resource.of("group", self._subscription, group, group)
            self._create(resource, made, lambda: groups.create_or_update(group, body))

    def _create_network(self, made: list[Resource]) -> str:
        group, networks = self._group(), self._azure().network.virtual_networks
        vnet = Resource.of("vnet", self._subscription, group, naming.run_vnet(self.run_id))
        body = bodies.virtual_network(self.location, self.tags())
        self._finish(self._create(vnet, made, lambda: networks.begin_create_or_update(group, vnet.id.name, body)), vnet)
        return f"{vnet.id}/subnets/{naming.SUBNET}"

    def _find_subnet(self) -> str:
        group, action = self._group(), f"use virtual network {self.vnet_name} in group {self._group()}"
        with calling(action):
            vnet = self._azure().network.virtual_networks.get(group, self.vnet_name)
        subnets = [s for s in (vnet.properties.subnets or []) if self.subnet_name in (None, s.name)]
        if not subnets:
            what = f"no subnet {self.subnet_name!r}" if self.subnet_name else "no subnet"
            advice = "add one, or name one of its subnets with subnet_name"
            raise AzureRefused(action, Failure("SubnetNotFound", f"it has {what}", True, advice))
        return subnets[0].id

    def _keys(self) -> list[str]:
        """The public key of `key_name`, read once."""
        with self._lock:
            if self._ssh_keys is None and self.key_name:
                group, _, key = self.key_name.rpartition("/")
                group = group or self._group()
                with calling(f"read SSH public key {key} in group {group}"):
                    found = self._azure().compute.ssh_public_keys.get(group, key)
                self._ssh_keys = [found.properties.public_key]
            return self._ssh_keys or []

    # --- reaching Azure ------------------------------------------------------------------------------

    def _base_url(self) -> str | None:
        return self.base_url or os.environ.get(ENDPOINT_VARIABLE) or None

    def _authority(self) -> str | None:
        return self.authority or os.environ.get(AUTHORITY_VARIABLE) or None

    def _azure(self) -> AzureSession:
        """The session, made on first use (it loads the SDK only when a client is first asked for)."""
        if self._session is None:
            self._session = AzureSession(
                self._subscription, self._base_url(), self._authority(), self.key_file, self.api_timeout
            )
        return self._session
