"""The stand-in's cluster: namespaces, pods and secrets as the API server stores, validates, lists and
deletes them (objects shaped as the real API returns them), a kubelet for each pod, and a memory watch
that OOM-kills containers over their memory limit."""

from __future__ import annotations

import base64
import binascii
import copy
import itertools
import re
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from parlay_provider_kubernetes.standin import selectors
from parlay_provider_kubernetes.standin.kubelet import Kubelet
from parlay_provider_kubernetes.standin.processes import process_table

#: resource (as in paths) -> kind
KINDS = {"pods": "Pod", "secrets": "Secret"}
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]"
                         r"([-A-Za-z0-9_.]*[A-Za-z0-9])?$")  # fmt: skip
_POLICIES = ("Always", "OnFailure", "Never")


class ApiError(Exception):
    """An error the API answers with a `Status` object."""

    def __init__(self, code: int, reason: str, message: str, name: str | None = None, kind: str | None = None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = {"name": name, "kind": kind} if name else {}

    def status(self) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "details": self.details, "code": self.code}  # fmt: skip


def not_found(resource: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource} "{name}" not found', name, resource)


class Cluster:
    """What the stand-in API server serves, with one node of `capacity`."""

    def __init__(
        self,
        root: Path,
        namespaces: Iterable[str],
        capacity: dict[str, str],
        pull_delay: float,
        crash_backoff: float,
    ):
        self.root = root
        self.capacity = capacity
        self.pull_delay = pull_delay
        self.crash_backoff = crash_backoff
        self.missing_images: set[str] = set()
        self.lock = threading.RLock()
        self._versions = itertools.count(1)
        self.namespaces = {name: self._namespace(name) for name in namespaces}
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {resource: {} for resource in KINDS}
        self.kubelets: dict[tuple[str, str], Kubelet] = {}
        self._closed = threading.Event()
        self._watch = threading.Thread(target=self._watch_memory, name="standin-memory-watch", daemon=True)
        self._watch.start()

    def close(self) -> None:
        """Stop every pod's processes at once."""
        self._closed.set()
        with self.lock:
            kubelets = list(self.kubelets.values())
            self.kubelets.clear()
        for kubelet in kubelets:
            kubelet.stop(0)
        self._watch.join(timeout=5)

    # --- helpers for the kubelets -----------------------------------------------------------------

    @staticmethod
    def now() -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def touch(self, obj: dict[str, Any]) -> None:
        obj["metadata"]["resourceVersion"] = str(next(self._versions))

    def image_missing(self, image: str) -> bool:
        return "does-not-exist" in image or image in self.missing_images

    def lacking(self, pod: dict[str, Any]) -> list[str]:
        """The resources the node has too little of for the pod's requests (a limit stands for a missing
        request, as the API server defaults it)."""
        from kubernetes.utils.quantity import parse_quantity

        wanted: dict[str, Any] = {}
        for container in pod["spec"]["containers"]:
            resources = container.get("resources", {})
            for name, amount in {**resources.get("limits", {}), **resources.get("requests", {})}.items():
                wanted[name] = wanted.get(name, 0) + parse_quantity(amount)
        return sorted(name for name, amount in wanted.items() if amount > parse_quantity(self.capacity.get(name, 0)))

    def secret_values(self, namespace: str, name: str) -> dict[str, str] | None:
        with self.lock:
            secret = self.objects["secrets"].get((namespace, name))
            data = dict(secret.get("data", {})) if secret else None
        return None if data is None else {key: base64.b64decode(value).decode() for key, value in data.items()}

    def alive(self) -> list[tuple[str, str, dict[str, str]]]:
        """Every pod and secret: (kind, name, labels)."""
        with self.lock:
            return [
                (KINDS[resource].lower(), name, dict(obj["metadata"].get("labels", {})))
                for resource, objects in self.objects.items()
                for (_, name), obj in objects.items()
            ]

    # --- the API ----------------------------------------------------------------------------------

    def read_namespace(self, name: str) -> dict[str, Any]:
        with self.lock:
            if name not in self.namespaces:
                raise not_found("namespaces", name)
            return copy.deepcopy(self.namespaces[name])

    def list_namespaces(self) -> dict[str, Any]:
        with self.lock:
            return self._list("Namespace", list(self.namespaces.values()))

    def create(self, resource: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        metadata = obj.setdefault("metadata", {})
        name = metadata.get("name") or ""
        problems = _validate_pod(obj) if resource == "pods" else _validate_secret(obj)
        if problems:
            shown = problems[0] if len(problems) == 1 else f"[{', '.join(problems)}]"
            raise ApiError(422, "Invalid", f'{KINDS[resource]} "{name}" is invalid: {shown}', name, resource)
        with self.lock:
            if namespace not in self.namespaces:
                raise not_found("namespaces", namespace)
            if (namespace, name) in self.objects[resource]:
                raise ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists', name, resource)
            metadata.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=self.now())
            metadata.setdefault("labels", {})
            obj.update(kind=KINDS[resource], apiVersion="v1")
            self.touch(obj)
            if resource == "secrets":
                self._store_secret(obj)
            else:
                self._store_pod(obj)
            return copy.deepcopy(obj)

    def read(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            if (namespace, name) not in self.objects[resource]:
                raise not_found(resource, name)
            return copy.deepcopy(self.objects[resource][namespace, name])

    def list(self, resource: str, namespace: str, selector: str) -> dict[str, Any]:
        with self.lock:
            return self._list(KINDS[resource], self._select(resource, namespace, selector))

    def delete(self, resource: str, namespace: str, name: str, grace: float | None) -> dict[str, Any]:
        with self.lock:
            if (namespace, name) not in self.objects[resource]:
                raise not_found(resource, name)
            obj = self._delete(resource, namespace, name, grace)
        if resource == "pods":
            return obj
        details = {"name": name, "kind": resource, "uid": obj["metadata"]["uid"]}
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def delete_collection(self, resource: str, namespace: str, selector: str, grace: float | None) -> dict[str, Any]:
        with self.lock:
            chosen = self._select(resource, namespace, selector)
            deleted = [self._delete(resource, namespace, obj["metadata"]["name"], grace) for obj in chosen]
            return self._list(KINDS[resource], deleted)

    def log(self, namespace: str, name: str, container: str | None, tail: int | None, previous: bool) -> str:
        with self.lock:
            kubelet = self.kubelets.get((namespace, name))
            if kubelet is None:
                raise not_found("pods", name)
        try:
            return kubelet.log(container, tail, previous)
        except LookupError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from None

    # --- inside -----------------------------------------------------------------------------------

    def _namespace(self, name: str) -> dict[str, Any]:
        metadata = {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": self.now(),
                    "resourceVersion": str(next(self._versions)),
                    "labels": {"kubernetes.io/metadata.name": name}}  # fmt: skip
        return {"kind": "Namespace", "apiVersion": "v1", "metadata": metadata,
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}  # fmt: skip

    def _list(self, kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        metadata = {"resourceVersion": str(next(self._versions))}
        return {"kind": f"{kind}List", "apiVersion": "v1", "metadata": metadata, "items": copy.deepcopy(items)}

    def _select(self, resource: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        try:
            test = selectors.parse(selector)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {exc}") from None
        objects = self.objects[resource]
        return [obj for (ns, _), obj in objects.items() if ns == namespace and test(obj["metadata"]["labels"])]

    def _store_secret(self, secret: dict[str, Any]) -> None:
        plain = secret.pop("stringData", None) or {}
        secret["data"] = {
            **secret.get("data", {}),
            **{k: base64.b64encode(v.encode()).decode() for k, v in plain.items()},
        }
        secret.setdefault("type", "Opaque")
        metadata = secret["metadata"]
        self.objects["secrets"][metadata["namespace"], metadata["name"]] = secret

    def _store_pod(self, pod: dict[str, Any]) -> None:
        spec = pod["spec"]
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        creating = {"waiting": {"reason": "ContainerCreating"}}
        statuses = [{"name": c["name"], "image": c["image"], "imageID": "", "ready": False, "started": False,
                     "restartCount": 0, "state": creating, "lastState": {}} for c in spec["containers"]]  # fmt: skip
        pod["status"] = {"phase": "Pending", "qosClass": "Burstable", "containerStatuses": statuses}
        metadata = pod["metadata"]
        key = (metadata["namespace"], metadata["name"])
        self.objects["pods"][key] = pod
        workdir = self.root / f"{key[0]}-{key[1]}-{metadata['uid'][:8]}"
        workdir.mkdir(parents=True)
        self.kubelets[key] = kubelet = Kubelet(self, pod, workdir)
        kubelet.start()

    def _delete(self, resource: str, namespace: str, name: str, grace: float | None) -> dict[str, Any]:
        """Delete an object (the lock held); a running pod is stopped first, given `grace` seconds (its spec's
        `terminationGracePeriodSeconds` by default) while it is listed with its `deletionTimestamp`."""
        obj = self.objects[resource][namespace, name]
        if resource == "secrets":
            return self.objects[resource].pop((namespace, name))
        kubelet = self.kubelets[namespace, name]
        grace = obj["spec"]["terminationGracePeriodSeconds"] if grace is None else grace
        if obj["status"]["phase"] in ("Succeeded", "Failed") or "nodeName" not in obj["spec"]:
            grace = 0
        if grace == 0:
            kubelet.stop(0)
            self._forget_pod(namespace, name)
            return copy.deepcopy(obj)
        obj["metadata"].update(deletionTimestamp=self.now(), deletionGracePeriodSeconds=int(grace))
        self.touch(obj)

        def stop() -> None:
            kubelet.stop(grace)
            with self.lock:
                self._forget_pod(namespace, name)

        threading.Thread(target=stop, name=f"delete-{name}", daemon=True).start()
        return copy.deepcopy(obj)

    def _forget_pod(self, namespace: str, name: str) -> None:
        self.objects["pods"].pop((namespace, name), None)
        self.kubelets.pop((namespace, name), None)

    def _watch_memory(self) -> None:
        while not self._closed.wait(0.2):
            with self.lock:
                kubelets = list(self.kubelets.values())
            if any(c.memory_limit and c.process for k in kubelets for c in k.containers):
                table = process_table()
                for kubelet in kubelets:
                    kubelet.enforce_memory_limits(table)


def _validate_pod(pod: dict[str, Any]) -> list[str]:
    from kubernetes.utils.quantity import parse_quantity

    problems = _validate_metadata(pod["metadata"])
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        problems.append("spec.containers: Required value")
    for index, container in enumerate(containers):
        where = f"spec.containers[{index}]"
        problems += [f"{where}.{key}: Required value" for key in ("name", "image") if not container.get(key)]
        resources = container.get("resources") or {}
        amounts: dict[str, dict[str, Any]] = {}
        for kind in ("requests", "limits"):
            for name, amount in (resources.get(kind) or {}).items():
                try:
                    amounts.setdefault(kind, {})[name] = parse_quantity(amount)
                except ValueError:
                    problems.append(f'{where}.resources.{kind}[{name}]: Invalid value: "{amount}": must match the '
                                    "regex ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")  # fmt: skip
        for name, request in amounts.get("requests", {}).items():
            limit = amounts.get("limits", {}).get(name)
            if limit is not None and request > limit:
                problems.append(f'{where}.resources.requests: Invalid value: "{resources["requests"][name]}": must be '
                                f"less than or equal to {name} limit of {resources['limits'][name]}")  # fmt: skip
    policy = spec.get("restartPolicy", "Always")
    if policy not in _POLICIES:
        supported = ", ".join(f'"{p}"' for p in _POLICIES)
        problems.append(f'spec.restartPolicy: Unsupported value: "{policy}": supported values: {supported}')
    return problems


def _validate_secret(secret: dict[str, Any]) -> list[str]:
    problems = _validate_metadata(secret["metadata"])
    for key, value in (secret.get("data") or {}).items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError):
            problems.append(f"data[{key}]: Invalid value: illegal base64 data")
    return problems


def _validate_metadata(metadata: dict[str, Any]) -> list[str]:
    name = metadata.get("name") or ""
    problems = []
    if not name:
        problems.append("metadata.name: Required value: name or generateName is required")
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        problems.append(f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                        "lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                        "character")  # fmt: skip
    for key, value in (metadata.get("labels") or {}).items():
        if not _LABEL_NAME.match(key) or len(key.rpartition("/")[2]) > 63:
            problems.append(f'metadata.labels: Invalid value: "{key}": name part must be no more than 63 characters')
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            problems.append(f'metadata.labels: Invalid value: "{value}": a valid label must be an empty string or '
                            "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                            "alphanumeric character")  # fmt: skip
    return problems
