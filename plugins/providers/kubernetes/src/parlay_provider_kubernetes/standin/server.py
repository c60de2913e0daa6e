"""`KubernetesStandIn`: an HTTP server on 127.0.0.1 that answers the core/v1 REST paths the official client
calls for pods, pod logs, secrets and namespaces, with bearer-token authentication and `Status` errors, over
the stand-in cluster (which really runs each pod's command as local processes)."""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from parlay_provider_kubernetes.standin.cluster import ApiError, Cluster

USER = "standin-user"
_OBJECTS = re.compile(r"/api/v1/namespaces/([^/]+)/(pods|secrets)(?:/([^/]+))?(/log)?")
_NAMESPACES = re.compile(r"/api/v1/namespaces(?:/([^/]+))?")


class KubernetesStandIn:
    """A Kubernetes API server stand-in with one node, for tests; a context manager.

    `url` and `token` reach it, and `kubeconfig` is a kubeconfig file naming both (point KUBECONFIG at it).
    Pods really run (see `kubelet`). Failures come from realistic triggers: an image whose name contains
    `does-not-exist` (or is in `missing_images`) cannot be pulled; requests beyond the node's `capacity`
    leave a pod Unschedulable (each pod is judged alone: the node never fills up); a container over its
    memory limit is OOMKilled; a container that keeps failing under `restartPolicy` Always or OnFailure
    crash-loops; `pod_quota` limits the pods of a namespace as a ResourceQuota does, `refuse_next` makes a
    creation fail as a used-up quota does, and `forbid` denies a verb as RBAC does. `calls` counts requests
    by verb and resource ("list pods", "create secrets", "get pods/log", ...).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        namespaces: tuple[str, ...] = ("default",),
        capacity: dict[str, str] | None = None,
        pull_delay: float = 0.3,
        crash_backoff: float = 0.2,
    ):
        self.root = Path(root)
        self.token = secrets.token_hex(16)
        self.calls: Counter[str] = Counter()
        self._settings = (namespaces, capacity or {"cpu": "4", "memory": "8Gi", "pods": "110"}, pull_delay,
                          crash_backoff)  # fmt: skip
        self._refusals: list[tuple[str | None, str]] = []
        #: A ResourceQuota on the number of pods in a namespace that are not over, if any.
        self.pod_quota: int | None = None
        self._forbidden: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.url = ""

    def __enter__(self) -> KubernetesStandIn:
        self.root.mkdir(parents=True, exist_ok=True)
        self.cluster = Cluster(self.root / "pods", *self._settings)
        standin = self

        class Handler(_Handler):
            server_standin = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin-api", daemon=True)
        self._thread.start()
        self.kubeconfig = self.write_kubeconfig(self.root / "kubeconfig")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.cluster.close()

    # --- for tests --------------------------------------------------------------------------------

    def write_kubeconfig(self, path: str | os.PathLike[str], token: str | None = None) -> Path:
        """Write a kubeconfig reaching this server with `token` (this server's own by default) to `path`."""
        user = {"name": USER, "user": {"token": token or self.token}}
        context = {"name": "standin", "context": {"cluster": "standin", "user": USER}}
        cluster = {"name": "standin", "cluster": {"server": self.url}}
        config = {"apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [user], "contexts": [context],
                  "current-context": "standin"}  # fmt: skip
        path = Path(path)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            json.dump(config, stream)  # JSON is YAML
        return path

    def resources(self) -> list[tuple[str, str, dict[str, str]]]:
        """Every pod and secret: (kind, name, labels)."""
        return self.cluster.alive()

    def refuse_next(self, message: str, resource: str | None = None) -> None:
        """The next creation (of `resource`, "pods" or "secrets", else of anything) fails as a used-up
        ResourceQuota makes it fail: 403 Forbidden, with `message` in the Status."""
        with self._lock:
            self._refusals.append((resource, message))

    def forbid(self, verb: str, resource: str) -> None:
        """Deny `verb` ("create", "list", "get", "delete", "deletecollection") on `resource` ("pods", "pods/log",
        "secrets") as RBAC denies it: 403 Forbidden."""
        self._forbidden.add((verb, resource))

    @property
    def missing_images(self) -> set[str]:
        """Images that cannot be pulled, besides those whose name contains `does-not-exist`."""
        return self.cluster.missing_images

    def pod(self, name: str, namespace: str = "default") -> dict[str, Any]:
        """The stored pod, as the API returns it."""
        return self.cluster.read("pods", namespace, name)

    # --- the API ----------------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        """The status code and body (an object, or log text) for one authenticated request."""
        if match := _NAMESPACES.fullmatch(path):
            name = match.group(1)
            if method != "GET":
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            self._authorize("get" if name else "list", "namespaces", None)
            return 200, self.cluster.read_namespace(name) if name else self.cluster.list_namespaces()
        match = _OBJECTS.fullmatch(path)
        if match is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace, resource, name, log = match.groups()
        if log:
            if method != "GET" or resource != "pods":
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            self._authorize("get", "pods/log", namespace, name)
            tail = int(query["tailLines"]) if "tailLines" in query else None
            previous = query.get("previous", "false") == "true"
            return 200, self.cluster.log(namespace, name, query.get("container"), tail, previous)
        grace = query.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
        grace = None if grace is None else float(grace)
        selector = query.get("labelSelector", "")
        if method == "GET":
            self._authorize("get" if name else "list", resource, namespace, name)
            return 200, self.cluster.read(resource, namespace, name) if name else self.cluster.list(
                resource, namespace, selector
            )
        if method == "POST" and not name:
            self._authorize("create", resource, namespace, body.get("metadata", {}).get("name"))
            self._refuse(resource, body.get("metadata", {}).get("name", ""))
            if resource == "pods":
                self._within_quota(namespace, body.get("metadata", {}).get("name", ""))
            return 201, self.cluster.create(resource, namespace, body)
        if method == "DELETE":
            self._authorize("delete" if name else "deletecollection", resource, namespace, name)
            if name:
                return 200, self.cluster.delete(resource, namespace, name, grace)
            return 200, self.cluster.delete_collection(resource, namespace, selector, grace)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _authorize(self, verb: str, resource: str, namespace: str | None, name: str | None = None) -> None:
        with self._lock:
            self.calls[f"{verb} {resource}"] += 1
        if (verb, resource) in self._forbidden:
            what = f'{resource} "{name}"' if name else resource
            where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
            message = f'{what} is forbidden: User "{USER}" cannot {verb} resource "{resource}" in API group ""{where}'
            raise ApiError(403, "Forbidden", message, name, resource)

    def _refuse(self, resource: str, name: str) -> None:
        with self._lock:
            chosen = next((r for r in self._refusals if r[0] in (None, resource)), None)
            if chosen is None:
                return
            self._refusals.remove(chosen)
        raise ApiError(403, "Forbidden", f'{resource} "{name}" is forbidden: {chosen[1]}', name, resource)

    def _within_quota(self, namespace: str, name: str) -> None:
        if self.pod_quota is None:
            return
        pods = self.cluster.list("pods", namespace, "")["items"]
        used = sum(pod["status"]["phase"] not in ("Succeeded", "Failed") for pod in pods)
        if used >= self.pod_quota:
            quota = f"requested: pods=1, used: pods={used}, limited: pods={self.pod_quota}"
            raise ApiError(403, "Forbidden", f'pods "{name}" is forbidden: exceeded quota: pods, {quota}', name, "pods")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    server_standin: KubernetesStandIn

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a test's output is no place for an access log

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        standin = self.server_standin
        try:
            if self.headers.get("Authorization") != f"Bearer {standin.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            try:
                body = json.loads(raw) if raw else {}
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"the request body is not JSON: {exc}") from None
            code, answer = standin.answer(method, url.path, query, body)
        except ApiError as exc:
            code, answer = exc.code, exc.status()
        if isinstance(answer, str):
            self._send(code, answer.encode(), "text/plain")
        else:
            self._send(code, json.dumps(answer).encode(), "application/json")

    def _send(self, code: int, payload: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
