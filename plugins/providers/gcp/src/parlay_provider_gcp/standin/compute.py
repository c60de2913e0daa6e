"""The stand-in's Compute Engine: instances with their boot disks and machines, zone operations and image
families in one project, which move on a clock of their own (an instance is PROVISIONING, STAGING, then
RUNNING its startup script; one whose script powered it off goes STOPPING, then TERMINATED; a deleted one
goes STOPPING, then is gone with its auto-deleted disks). Failures come from realistic triggers: an unknown
image family, machine type or zone, a refused permission, a quota (`refuse_next`), a zone out of capacity."""

from __future__ import annotations

import datetime
import itertools
import re
import secrets
import signal
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parlay.testing.machines import LocalMachine

#: Seconds each step of an instance's life takes.
STEP = 0.05
#: Seconds a deleted instance's processes have between SIGTERM and SIGKILL.
SHUTDOWN_GRACE = 0.2
MACHINE_TYPES = frozenset({"e2-micro", "e2-small", "e2-medium", "e2-standard-2", "n1-standard-1", "n1-standard-2"})
ZONES = frozenset({"us-central1-a", "us-central1-b", "europe-west4-a"})
#: Public image families: (project, family) -> the newest image's name.
FAMILIES = {("debian-cloud", "debian-12"): "debian-12-bookworm-v20250610"}
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_KEY, _LABEL_VALUE = re.compile(r"[a-z][a-z0-9_-]{0,62}"), re.compile(r"[a-z0-9_-]{0,63}")
_FILTER_TOKENS = re.compile(r'\(|\)|"[^"]*"|!=|=|[^\s()=!"]+')


class ApiError(Exception):
    """An error the API answers with, in Google's JSON error shape."""

    def __init__(self, code: int, message: str, reason: str, domain: str = "global"):
        super().__init__(code, message)
        self.code, self.message, self.reason, self.domain = code, message, reason, domain

    def body(self) -> dict[str, Any]:
        detail = {"message": self.message, "domain": self.domain, "reason": self.reason}
        return {"error": {"code": self.code, "message": self.message, "errors": [detail]}}


def _timestamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


_ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)


@dataclass
class Operation:
    kind: str  # insert or delete
    target: str  # the instance's link
    user: str
    name: str = field(default_factory=lambda: f"operation-{int(time.time() * 1000)}-{secrets.token_hex(8)}")
    id: int = field(default_factory=lambda: next(_ids))
    status: str = "PENDING"
    errors: list[tuple[str, str]] = field(default_factory=list)
    http_error: tuple[int, str] | None = None
    due: float | None = None  # when an operation bound to fail fails
    inserted: str = field(default_factory=_timestamp)
    ended: str | None = None

    def finish(self) -> None:
        self.status, self.ended = "DONE", _timestamp()

    def json(self, zone_link: str) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "kind": "compute#operation",
            "id": str(self.id),
            "name": self.name,
            "zone": zone_link,
            "operationType": self.kind,
            "targetLink": self.target,
            "status": self.status,
            "user": self.user,
            "progress": 100 if self.status == "DONE" else 0,
            "insertTime": self.inserted,
            "startTime": self.inserted,
            "selfLink": f"{zone_link}/operations/{self.name}",
        }
        if self.ended:
            answer["endTime"] = self.ended
        if self.errors:
            answer["error"] = {"errors": [{"code": code, "message": message} for code, message in self.errors]}
            answer["httpErrorStatusCode"], answer["httpErrorMessage"] = self.http_error
        return answer


@dataclass
class Instance:
    body: dict[str, Any]
    zone: str
    machine: LocalMachine
    created: Operation
    id: int = field(default_factory=lambda: next(_ids))
    status: str = "PROVISIONING"
    since: float = field(default_factory=time.monotonic)
    deleted: Operation | None = None

    @property
    def name(self) -> str:
        return self.body["name"]

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.body.get("labels", {}))

    def move(self, status: str) -> None:
        self.status, self.since = status, time.monotonic()


@dataclass
class Refusal:
    message: str
    in_operation: bool
    after: int  # inserts that succeed first


class Compute:
    """The API's resources in one project, served by `ComputeStandIn`; every method takes the calling account
    and the request's path parameters, query and body, and answers JSON or raises `ApiError`."""

    def __init__(self, folder: Path, base: str, project: str):
        self.folder, self.base, self.project = folder, base, project
        self.instances: dict[tuple[str, str], Instance] = {}
        self.disks: dict[tuple[str, str], dict[str, Any]] = {}
        self.operations: dict[tuple[str, str], Operation] = {}
        self.refusals: list[Refusal] = []
        self.exhausted: set[str] = set()
        self.denied: set[str] = set()
        self._changed = threading.Condition()
        self._running = True
        self._clock = threading.Thread(target=self._run_clock, name="gcp-stand-in-clock", daemon=True)
        self._clock.start()

    # --- links ------------------------------------------------------------------------------------

    def _link(self, *path: str) -> str:
        return "/".join([self.base, "compute/v1/projects", self.project, *path])

    def _instance_link(self, zone: str, name: str) -> str:
        return self._link("zones", zone, "instances", name)

    # --- checks -----------------------------------------------------------------------------------

    def _where(self, project: str, zone: str | None = None) -> None:
        if project != self.project:
            raise ApiError(404, f"The resource 'projects/{project}' was not found", "notFound")
        if zone is not None and zone not in ZONES:
            raise ApiError(404, f"The resource 'projects/{project}/zones/{zone}' was not found", "notFound")

    def _permitted(self, permission: str, resource: str) -> None:
        if permission in self.denied:
            raise ApiError(403, f"Required '{permission}' permission for '{resource}'", "forbidden")

    def _instance(self, zone: str, name: str) -> Instance:
        found = self.instances.get((zone, name))
        if found is None:
            raise ApiError(
                404, f"The resource 'projects/{self.project}/zones/{zone}/instances/{name}' was not found", "notFound"
            )
        return found

    def _check_insert(self, zone: str, body: dict[str, Any]) -> None:
        name = str(body.get("name", ""))
        if not _NAME.fullmatch(name):
            pattern = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
            raise ApiError(
                400,
                f"Invalid value for field 'resource.name': '{name}'. Must be a match of regex '{pattern}'",
                "invalid",
            )
        if (zone, name) in self.instances:
            raise ApiError(
                409,
                f"The resource 'projects/{self.project}/zones/{zone}/instances/{name}' already exists",
                "alreadyExists",
            )
        machine_type = str(body.get("machineType", ""))
        type_name = machine_type.rpartition("/")[2]
        if f"zones/{zone}/machineTypes/" not in machine_type or type_name not in MACHINE_TYPES:
            raise ApiError(
                400,
                f"Invalid value for field 'resource.machineType': '{machine_type}'. Machine type with name "
                f"'{type_name}' does not exist in zone '{zone}'.",
                "invalid",
            )
        boot = [disk for disk in body.get("disks", []) if disk.get("boot")]
        image = boot[0].get("initializeParams", {}).get("sourceImage", "") if len(boot) == 1 else ""
        if not image:
            raise ApiError(400, "Invalid value for field 'resource.disks': ''. Boot disk must be specified.", "invalid")
        known = {f"projects/{project}/global/images/{name}" for (project, _), name in FAMILIES.items()}
        if image.partition("/compute/v1/")[2] not in known and image not in known:
            raise ApiError(404, f"The resource '{image}' was not found", "notFound")
        for where, labels in (
            ("resource.labels", body.get("labels", {})),
            ("resource.disks[0].initializeParams.labels", boot[0]["initializeParams"].get("labels", {})),
        ):
            for key, value in labels.items():
                if not (_LABEL_KEY.fullmatch(key) and _LABEL_VALUE.fullmatch(value)):
                    raise ApiError(
                        400,
                        f"Invalid value for field '{where}': '{key}={value}'. Label keys and values must "
                        "be lower case letters, digits, '-' or '_', at most 63 characters.",
                        "invalid",
                    )

    # --- the API ----------------------------------------------------------------------------------

    def insert(self, account: str, query: dict, body: dict, project: str, zone: str) -> dict[str, Any]:
        self._where(project, zone)
        name = str(body.get("name", ""))
        self._permitted("compute.instances.create", f"projects/{project}/zones/{zone}/instances/{name}")
        with self._changed:
            self._check_insert(zone, body)
            refusal = self.refusals[0] if self.refusals else None
            if refusal is not None and refusal.after:
                refusal.after, refusal = refusal.after - 1, None
            elif refusal is not None:
                self.refusals.pop(0)
            if refusal is not None and not refusal.in_operation:
                raise ApiError(403, refusal.message, "quotaExceeded", "usageLimits")
            link = self._instance_link(zone, name)
            operation = Operation("insert", link, account)
            self.operations[zone, operation.name] = operation
            if refusal is not None:
                operation.errors = [("QUOTA_EXCEEDED", refusal.message)]
                operation.http_error = (403, "FORBIDDEN")
            elif zone in self.exhausted:
                message = (
                    f"The zone 'projects/{project}/zones/{zone}' does not have enough resources available to fulfill "
                    "the request.  Try a different zone, or try again later."
                )
                operation.errors = [("ZONE_RESOURCE_POOL_EXHAUSTED", message)]
                operation.http_error = (503, "SERVICE UNAVAILABLE")
            if operation.errors:
                operation.due = time.monotonic() + 2 * STEP
                return operation.json(self._link("zones", zone))
            items = {item["key"]: item.get("value", "") for item in body.get("metadata", {}).get("items", [])}
            machine = LocalMachine(
                self.folder / f"{name}-{secrets.token_hex(3)}",
                items.get("startup-script", ""),
                script_name="startup-script",
                console_name="serial-port-1",
            )
            found = Instance(body, zone, machine, operation)
            self.instances[zone, name] = found
            boot = next(disk for disk in body["disks"] if disk.get("boot"))
            labels = boot["initializeParams"].get("labels", {})
            self.disks[zone, name] = {"name": name, "labels": labels, "autoDelete": bool(boot.get("autoDelete"))}
            self._changed.notify_all()
            return operation.json(self._link("zones", zone))

    def get(self, account: str, query: dict, body: dict, project: str, zone: str, name: str) -> dict[str, Any]:
        self._where(project, zone)
        self._permitted("compute.instances.get", f"projects/{project}/zones/{zone}/instances/{name}")
        with self._changed:
            return self._instance_json(self._instance(zone, name))

    def list(self, account: str, query: dict, body: dict, project: str, zone: str) -> dict[str, Any]:
        self._where(project, zone)
        self._permitted("compute.instances.list", f"projects/{project}/zones/{zone}")
        wanted = list_filter(query.get("filter", ""))
        size = int(query.get("maxResults", 500))
        start = int(query.get("pageToken") or 0)
        with self._changed:
            found = [self._instance_json(i) for (z, _), i in sorted(self.instances.items()) if z == zone]
        found = [item for item in found if wanted(item)]
        answer: dict[str, Any] = {"kind": "compute#instanceList", "id": f"projects/{project}/zones/{zone}/instances"}
        answer["selfLink"] = self._link("zones", zone, "instances")
        if found[start : start + size]:
            answer["items"] = found[start : start + size]
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        return answer

    def delete(self, account: str, query: dict, body: dict, project: str, zone: str, name: str) -> dict[str, Any]:
        self._where(project, zone)
        self._permitted("compute.instances.delete", f"projects/{project}/zones/{zone}/instances/{name}")
        with self._changed:
            found = self._instance(zone, name)
            if found.status in ("PROVISIONING", "STAGING") or found.deleted is not None:
                link = f"projects/{project}/zones/{zone}/instances/{name}"
                raise ApiError(400, f"The resource '{link}' is not ready", "resourceNotReady")
            operation = Operation("delete", self._instance_link(zone, name), account)
            self.operations[zone, operation.name] = operation
            found.deleted = operation
            found.move("STOPPING")
            found.machine.signal(signal.SIGTERM)
            self._changed.notify_all()
            return operation.json(self._link("zones", zone))

    def serial_port(self, account: str, query: dict, body: dict, project: str, zone: str, name: str) -> dict[str, Any]:
        self._where(project, zone)
        self._permitted("compute.instances.getSerialPortOutput", f"projects/{project}/zones/{zone}/instances/{name}")
        with self._changed:
            found = self._instance(zone, name)
        contents = found.machine.console_text() if query.get("port", "1") == "1" else ""
        start = min(int(query.get("start") or 0), len(contents))
        return {
            "kind": "compute#serialPortOutput",
            "contents": contents[start:],
            "start": str(start),
            "next": str(len(contents)),
            "selfLink": self._instance_link(zone, name) + "/serialPort",
        }

    def operation(
        self, account: str, query: dict, body: dict, project: str, zone: str, operation: str
    ) -> dict[str, Any]:
        self._where(project, zone)
        self._permitted("compute.zoneOperations.get", f"projects/{project}/zones/{zone}/operations/{operation}")
        with self._changed:
            found = self.operations.get((zone, operation))
            if found is None:
                raise ApiError(
                    404,
                    f"The resource 'projects/{project}/zones/{zone}/operations/{operation}' was not found",
                    "notFound",
                )
            return found.json(self._link("zones", zone))

    def image_from_family(self, account: str, query: dict, body: dict, project: str, family: str) -> dict[str, Any]:
        self._permitted("compute.images.getFromFamily", f"projects/{project}/global/images/family/{family}")
        name = FAMILIES.get((project, family))
        if name is None:
            raise ApiError(
                404, f"The resource 'projects/{project}/global/images/family/{family}' was not found", "notFound"
            )
        return {
            "kind": "compute#image",
            "id": str(zlib.crc32(name.encode())),
            "name": name,
            "family": family,
            "status": "READY",
            "diskSizeGb": "10",
            "architecture": "X86_64",
            "selfLink": f"{self.base}/compute/v1/projects/{project}/global/images/{name}",
        }

    # --- the clock --------------------------------------------------------------------------------

    def _run_clock(self) -> None:
        while self._running:
            with self._changed:
                self._advance(time.monotonic())
                self._changed.wait(STEP / 4)

    def _advance(self, now: float) -> None:
        for operation in self.operations.values():
            if operation.status == "PENDING":
                operation.status = "RUNNING"
            elif operation.due is not None and operation.status == "RUNNING" and now >= operation.due:
                operation.finish()
        for key, found in list(self.instances.items()):
            if now - found.since < STEP:
                continue
            if found.deleted is not None and now - found.since >= SHUTDOWN_GRACE:
                found.machine.halt()
                del self.instances[key]
                if self.disks.get(key, {}).get("autoDelete"):
                    del self.disks[key]
                found.deleted.finish()
            elif found.status == "PROVISIONING":
                found.move("STAGING")
            elif found.status == "STAGING":
                found.move("RUNNING")
                found.machine.boot()
                found.created.finish()
            elif found.status == "RUNNING" and found.machine.script_ended and found.machine.powered_off:
                found.move("STOPPING")
            elif found.status == "STOPPING" and found.deleted is None:
                found.move("TERMINATED")
                found.machine.halt()

    def close(self) -> None:
        """Stop the clock and kill every instance's processes."""
        with self._changed:
            self._running = False
            for found in self.instances.values():
                found.machine.halt()
            self._changed.notify_all()
        self._clock.join()

    # --- what the tests look at -------------------------------------------------------------------

    def resources(self) -> list[tuple[str, str, dict[str, str]]]:
        with self._changed:
            instances = [("instance", i.name, i.labels) for i in self.instances.values()]
            disks = [("disk", disk["name"], dict(disk["labels"])) for disk in self.disks.values()]
        return instances + disks

    def _instance_json(self, found: Instance) -> dict[str, Any]:
        zone, name, body = found.zone, found.name, found.body
        number = found.id % 250 + 2
        disk = body["disks"][0]
        return {
            "kind": "compute#instance",
            "id": str(found.id),
            "creationTimestamp": found.created.inserted,
            "name": name,
            "description": body.get("description", ""),
            "machineType": self._link("zones", zone, "machineTypes", body["machineType"].rpartition("/")[2]),
            "status": found.status,
            "zone": self._link("zones", zone),
            "networkInterfaces": [
                {
                    "kind": "compute#networkInterface",
                    "network": self._link("global", "networks", "default"),
                    "networkIP": f"10.128.0.{number}",
                    "name": "nic0",
                    "accessConfigs": [
                        {**config, "kind": "compute#accessConfig", "natIP": f"192.0.2.{number}"}
                        for config in body.get("networkInterfaces", [{}])[0].get("accessConfigs", [])
                    ],
                }
            ],
            "disks": [
                {
                    "kind": "compute#attachedDisk",
                    "type": "PERSISTENT",
                    "mode": "READ_WRITE",
                    "source": self._link("zones", zone, "disks", name),
                    "deviceName": "persistent-disk-0",
                    "index": 0,
                    "boot": True,
                    "autoDelete": bool(disk.get("autoDelete")),
                    "interface": "SCSI",
                    "diskSizeGb": "10",
                }
            ],
            "metadata": {"kind": "compute#metadata", "items": body.get("metadata", {}).get("items", [])},
            "labels": found.labels,
            "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": True, "preemptible": False},
            "selfLink": self._instance_link(zone, name),
        }


def list_filter(text: str) -> Any:
    """A predicate on instances' JSON for a list filter of comparisons (`labels.KEY = "VALUE"`, `status != X`),
    each optionally in parentheses, joined by AND or juxtaposed; OR is refused as unsupported here."""
    tokens = [token for token in _FILTER_TOKENS.findall(text) if token not in ("(", ")", "AND")]
    if len(tokens) % 3 or any(op not in ("=", "!=") for op in tokens[1::3]):
        raise ApiError(400, f"Invalid list filter expression '{text}'.", "invalid")
    comparisons = [(tokens[n], tokens[n + 1], tokens[n + 2].strip('"')) for n in range(0, len(tokens), 3)]

    def value(item: dict[str, Any], path: str) -> Any:
        for part in path.split("."):
            item = item.get(part) if isinstance(item, dict) else None
        return item

    def wanted(item: dict[str, Any]) -> bool:
        return all((value(item, path) == expected) == (op == "=") for path, op, expected in comparisons)

    return wanted
