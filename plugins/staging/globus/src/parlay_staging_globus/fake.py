"""`FakeTransferService`: a stand-in for the Globus Transfer API, for tests. It serves, over HTTP on 127.0.0.1,
the calls `GlobusStaging` makes through globus_sdk (submission id, submit a transfer, get a task, its event
list, cancel it), checks the bearer token, and really copies files between local folders, one per endpoint
UUID. A task copies in a thread of its own only once its status has been read (so a client must poll), and
fails as Globus reports it: a missing source gives status FAILED, nice_status FILE_NOT_FOUND and an error
event. Standard library only.

    with FakeTransferService({SOURCE: "/tmp/a", DESTINATION: "/tmp/b"}, token="secret") as service:
        os.environ.update(service.environment())   # GLOBUS_SDK_SERVICE_URL_TRANSFER
        ...
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API = "/v0.10"


class Task:
    """One transfer task, as the service keeps it."""

    def __init__(self, document: dict[str, Any]):
        self.id = str(uuid.uuid4())
        self.document = document
        self.status = "ACTIVE"
        self.nice_status: str | None = "Queued"
        self.events: list[dict[str, Any]] = []
        self.polled = threading.Event()  # the copy starts once a client has seen the task active
        self.ended = threading.Event()
        self.lock = threading.Lock()
        self.files_transferred = 0

    def event(self, code: str, description: str, details: str = "", is_error: bool = False) -> None:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        entry = {"DATA_TYPE": "event", "code": code, "description": description, "details": details,
                 "is_error": is_error, "time": now}  # fmt: skip
        self.events.insert(0, entry)  # newest first, as Globus lists them

    def end(self, status: str, nice_status: str | None = None) -> None:
        self.status, self.nice_status = status, nice_status
        self.ended.set()

    def view(self) -> dict[str, Any]:
        data = self.document
        return {
            "DATA_TYPE": "task", "task_id": self.id, "type": "TRANSFER", "status": self.status,
            "nice_status": self.nice_status, "label": data.get("label"),
            "source_endpoint_id": data["source_endpoint"], "destination_endpoint_id": data["destination_endpoint"],
            "files": len(data["DATA"]), "files_transferred": self.files_transferred,
            "faults": sum(e["is_error"] for e in self.events), "deadline": data.get("deadline"),
        }  # fmt: skip


class FakeTransferService:
    """The fake Transfer API: `endpoints` maps endpoint UUIDs to the local folders they show at '/'; requests must
    carry `Authorization: Bearer <token>`. `stall(path)` keeps transfers from `path` ACTIVE, `pause(path)` makes
    them INACTIVE, until cancelled. `tasks` holds every task; `requests` every call (method, path)."""

    def __init__(self, endpoints: Mapping[str, str | os.PathLike[str]], token: str = "fake-transfer-token"):
        self.endpoints = {str(uuid.UUID(str(k))): os.fspath(v) for k, v in endpoints.items()}
        self.token = token
        self.tasks: dict[str, Task] = {}
        self.requests: list[tuple[str, str]] = []
        self.stalled: set[str] = set()
        self.paused: set[str] = set()
        self._server: ThreadingHTTPServer | None = None

    # --- running -----------------------------------------------------------------------------------

    def start(self) -> FakeTransferService:
        service = self

        class Handler(_Handler):
            fake = service

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-globus-transfer", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for task in self.tasks.values():  # let copy threads finish
            task.polled.set()

    def __enter__(self) -> FakeTransferService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the service first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def environment(self) -> dict[str, str]:
        """The environment variables that point globus_sdk's TransferClient at this service."""
        return {"GLOBUS_SDK_SERVICE_URL_TRANSFER": self.url}

    def stall(self, path: str) -> None:
        """Transfers whose source path is `path` stay ACTIVE (with a fault event) until cancelled."""
        self.stalled.add(path)

    def pause(self, path: str) -> None:
        """Transfers whose source path is `path` become INACTIVE (credentials expired) until cancelled."""
        self.paused.add(path)

    # --- the API -----------------------------------------------------------------------------------

    def local(self, endpoint: str, path: str) -> str:
        """The local file behind `path` on `endpoint`; ValueError for one outside its folder."""
        root = self.endpoints[endpoint]
        inner = os.path.normpath("/" + path).lstrip("/")
        return os.path.join(root, inner) if inner not in ("", ".") else root

    def submit(self, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if document.get("DATA_TYPE") != "transfer" or not document.get("DATA"):
            return 400, _error("ClientError.BadRequest", "expected a transfer document with at least one item")
        for side in ("source_endpoint", "destination_endpoint"):
            endpoint = str(document.get(side))
            if endpoint not in self.endpoints:
                return 404, _error("EndpointNotFound", f"No such endpoint or collection '{endpoint}'")
        task = Task(document)
        self.tasks[task.id] = task
        sources = {item.get("source_path") for item in document["DATA"]}
        if sources & self.stalled:  # from the start, so that any poll sees it; until cancelled
            task.event("CONNECTION_RETRY", "connection retry", "the source endpoint is not responding", True)
            task.nice_status = "CONNECTION_FAILED"
        elif sources & self.paused:
            task.event("PAUSED_CREDENTIALS_EXPIRED", "paused", "the source's credentials expired", True)
            task.status, task.nice_status = "INACTIVE", "PAUSED_CREDENTIALS_EXPIRED"
        else:
            name = f"fake-globus-task-{task.id[:8]}"
            threading.Thread(target=self._copy, args=(task,), name=name, daemon=True).start()
        return 202, {
            "DATA_TYPE": "transfer_result", "code": "Accepted", "task_id": task.id,
            "submission_id": document.get("submission_id"), "request_id": _request_id(),
            "message": "The transfer has been accepted and a task has been created and queued for execution",
            "resource": "/transfer",
        }  # fmt: skip

    def _copy(self, task: Task) -> None:
        task.polled.wait()
        data = task.document
        source_endpoint, destination_endpoint = data["source_endpoint"], data["destination_endpoint"]
        with task.lock:
            if task.ended.is_set():  # cancelled before it started
                return
            task.nice_status = "OK"
        for item in data["DATA"]:
            source = self.local(source_endpoint, item["source_path"])
            destination = self.local(destination_endpoint, item["destination_path"])
            try:
                if not os.path.isfile(source):
                    raise FileNotFoundError(2, "No such file or directory", item["source_path"])
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                shutil.copyfile(source, destination)
            except OSError as exc:
                code = "FILE_NOT_FOUND" if isinstance(exc, FileNotFoundError) else "PERMISSION_DENIED"
                with task.lock:
                    if not task.ended.is_set():
                        task.event(
                            code, code.lower().replace("_", " "), f"Error ({exc.strerror}): {exc.filename}", True
                        )
                        task.end("FAILED", code)
                return
            task.files_transferred += 1
        with task.lock:
            if not task.ended.is_set():
                task.event("SUCCEEDED", "succeeded", f"{len(data['DATA'])} file(s) transferred")
                task.end("SUCCEEDED")

    def cancel(self, task: Task) -> dict[str, Any]:
        with task.lock:
            if task.ended.is_set():
                return _result("TaskComplete", "The task completed before it could be cancelled")
            task.event("CANCELED", "canceled", "The task was cancelled by the user", True)
            task.end("FAILED")
        task.polled.set()
        return _result("Canceled", "The task has been cancelled successfully.")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTransferService
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        self.fake.requests.append((method, path))
        if self.headers.get("Authorization") != f"Bearer {self.fake.token}":
            return self._reply(401, _error("AuthenticationFailed", "Token is not active"))
        try:
            status, answer = self._route(method, path, json.loads(body) if body else None)
        except ValueError as exc:
            status, answer = 400, _error("ClientError.BadRequest", str(exc))
        self._reply(status, answer)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        fake = self.fake
        if (method, path) == ("GET", f"{API}/submission_id"):
            return 200, {"DATA_TYPE": "submission_id", "value": str(uuid.uuid4())}
        if (method, path) == ("POST", f"{API}/transfer"):
            return fake.submit(body or {})
        match = re.fullmatch(rf"{API}/task/([0-9a-f-]+)(/event_list|/cancel)?", path)
        task = fake.tasks.get(match.group(1)) if match else None
        if match and task is None:
            return 404, _error("TaskNotFound", f"Task {match.group(1)} not found")
        if task is not None and method == "GET" and match.group(2) is None:
            with task.lock:
                view = task.view()
            task.polled.set()
            return 200, view
        if task is not None and method == "GET" and match.group(2) == "/event_list":
            return 200, {"DATA_TYPE": "event_list", "DATA": list(task.events), "limit": 50, "offset": 0,
                         "total": len(task.events)}  # fmt: skip
        if task is not None and method == "POST" and match.group(2) == "/cancel":
            return 200, fake.cancel(task)
        return 404, _error("ClientError.NotFound", f"{method} {path} is not part of this fake")

    def _reply(self, status: int, answer: dict[str, Any]) -> None:
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _request_id() -> str:
    return uuid.uuid4().hex[:9]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": _request_id(), "resource": "fake"}


def _result(code: str, message: str) -> dict[str, Any]:
    return {"DATA_TYPE": "result", "code": code, "message": message, "request_id": _request_id(), "resource": "fake"}
