"""The dashboard's HTTP server (standard library only): a few JSON endpoints over `Queries`, the static page
and its scripts, and tasks' stdout/stderr files. Read-only; GET and HEAD only.

    /                                          the runs          (pages: one HTML file, drawn by app.js)
    /workflows/RUN[/tasks/ID|/blocks|/resources]
    /api/workflows?page=&per_page=             JSON
    /api/workflows/RUN[/states|/apps|/gantt|/tasks|/tasks/ID|/blocks|/resources]
    /files/RUN/ID/stdout|stderr[?tail=BYTES]   text, only the paths recorded for that task
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import re
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources as package_files
from typing import Any

from parlay_monitoring.dashboard import files
from parlay_monitoring.dashboard.queries import Queries

logger = logging.getLogger("parlay.dashboard")

STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGE_SECURITY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGES = re.compile(r"^/(?:workflows/[^/]+(?:/tasks/\d+|/blocks|/resources)?/?)?$")


def _static() -> dict[str, bytes]:
    folder = package_files.files("parlay_monitoring.dashboard") / "static"
    return {item.name: item.read_bytes() for item in folder.iterdir() if item.is_file()}


class Cache:
    """Answers kept for a while: a finished run's do not change, a live run's are shared by the browsers that
    poll it."""

    def __init__(self, size: int = 512):
        self.size = size
        self._items: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, key: str, value: bytes, ttl: float) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                now = time.monotonic()
                for k in [k for k, (expires, _) in self._items.items() if expires < now] or list(self._items)[:64]:
                    self._items.pop(k, None)
            self._items[key] = (time.monotonic() + ttl, value)


class DashboardServer(ThreadingHTTPServer):
    """Serves the dashboard of one monitoring database."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        queries: Queries,
        *,
        poll: float = 5.0,
        file_cap: int = files.CAP,
        verbose: bool = False,
    ):
        self.queries = queries
        self.poll = poll
        self.file_cap = file_cap
        self.verbose = verbose
        self.cache = Cache()
        self.static = _static()
        index = self.static["index.html"].decode()
        self.index = index.replace("{{poll}}", str(int(poll * 1000))).encode()
        super().__init__(address, Handler)
        host = self.server_address[0]
        self.loopback = _is_loopback(address[0])
        #: Host headers accepted when bound to loopback, so that a web page cannot reach the dashboard through a
        #: name of its own that resolves to 127.0.0.1 (DNS rebinding).
        self.hosts = {"localhost", "127.0.0.1", "::1", str(host), str(address[0])}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if ":" in str(host):
            host = f"[{host}]"
        elif host == "0.0.0.0":
            host = "127.0.0.1"
        return f"http://{host}:{port}/"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NotFound(Exception):
    pass


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return int(query.get(name, [default])[0])
    except ValueError:
        raise NotFound(f"{name} must be a number") from None


def _float(query: dict[str, list[str]], name: str) -> float | None:
    try:
        value = query.get(name, [None])[0]
        return None if value in (None, "") else float(value)
    except ValueError:
        raise NotFound(f"{name} must be a number") from None


def _text(query: dict[str, list[str]], name: str) -> str | None:
    return query.get(name, [None])[0] or None


class Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"
    server_version = "parlay-dashboard"
    sys_version = ""

    def do_GET(self) -> None:
        self._handle(send_body=True)

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    # --- dispatch ---------------------------------------------------------------------------------

    def _handle(self, send_body: bool) -> None:
        self.send_body = send_body
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        if self.server.loopback and host not in self.server.hosts:
            return self._error(HTTPStatus.FORBIDDEN, f"host {host!r} not allowed")
        parts = urllib.parse.urlsplit(self.path)
        path, query = parts.path, urllib.parse.parse_qs(parts.query)
        try:
            if path.startswith("/api/"):
                return self._api(path[len("/api/") :], query)
            if path.startswith("/files/"):
                return self._file(path[len("/files/") :], query)
            if path.startswith("/static/"):
                name = path[len("/static/") :]
                if name in self.server.static and name != "index.html":
                    suffix = name[name.rfind(".") :]
                    return self._send(200, self.server.static[name], STATIC_TYPES.get(suffix, "text/plain"))
                return self._error(HTTPStatus.NOT_FOUND, "no such file")
            if PAGES.match(path):
                return self._send(
                    200, self.server.index, STATIC_TYPES[".html"], {"Content-Security-Policy": PAGE_SECURITY}
                )
            return self._error(HTTPStatus.NOT_FOUND, "no such page")
        except NotFound as exc:
            return self._error(HTTPStatus.NOT_FOUND, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            return None
        except Exception as exc:
            logger.error("dashboard: %s failed:\n%s", self.path, traceback.format_exc())
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    def _api(self, path: str, query: dict[str, list[str]]) -> None:
        segments = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
        if segments[0] != "workflows":
            raise NotFound("no such endpoint")
        key = self.path
        cached = self.server.cache.get(key)
        if cached is not None:
            return self._send(200, cached, "application/json")
        q = self.server.queries
        if len(segments) == 1:
            answer = q.workflows(_int(query, "page", 1), _int(query, "per_page", 25))
            run_id = None
        else:
            run_id, rest = segments[1], segments[2:]
            answer = self._run_answer(q, run_id, rest, query)
        if answer is None:
            raise NotFound("no such run or task")
        body = json.dumps(answer, separators=(",", ":"), allow_nan=False, default=str).encode()
        ttl = 2.0 if run_id is None else q.ttl(run_id)
        self.server.cache.put(key, body, min(ttl, self.server.poll / 2) if ttl <= 2.0 else ttl)
        return self._send(200, body, "application/json")

    def _run_answer(self, q: Queries, run_id: str, rest: list[str], query: dict[str, list[str]]) -> Any:
        routes: dict[str, Callable[[], Any]] = {
            "": lambda: q.workflow(run_id),
            "states": lambda: q.states(run_id, _int(query, "buckets", 120)),
            "apps": lambda: q.apps(run_id),
            "gantt": lambda: q.gantt(run_id, _float(query, "start"), _float(query, "end"), _int(query, "buckets", 160)),
            "tasks": lambda: q.tasks(
                run_id, _text(query, "state"), _text(query, "app"), _int(query, "page", 1), _int(query, "per_page", 50)
            ),
            "blocks": lambda: q.blocks(run_id, _int(query, "page", 1), _int(query, "per_page", 50)),
            "resources": lambda: q.resources(run_id, _int(query, "page", 1), _int(query, "per_page", 20)),
        }
        if len(rest) == 2 and rest[0] == "tasks" and rest[1].isdigit():
            return self._task(q, run_id, int(rest[1]))
        if len(rest) > 1 or (rest and rest[0] not in routes):
            raise NotFound("no such endpoint")
        return routes[rest[0] if rest else ""]()

    @staticmethod
    def _task(q: Queries, run_id: str, task_id: int) -> Any:
        """A task, with whether its stdout and stderr files are here to be served."""
        answer = q.task(run_id, task_id)
        if answer is not None:
            answer["streams"] = {}
            for which in ("stdout", "stderr"):
                recorded = files.recorded_path(answer[which])
                found = files.locate(recorded, answer["rundir"]) if recorded else None
                answer["streams"][which] = {
                    "recorded": recorded,
                    "available": found is not None,
                    "size": found[1] if found else None,
                }
        return answer

    def _file(self, path: str, query: dict[str, list[str]]) -> None:
        segments = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
        if len(segments) != 3 or not segments[1].isdigit() or segments[2] not in ("stdout", "stderr"):
            raise NotFound("expected /files/RUN/TASK/stdout or stderr")
        run_id, task_id, which = segments[0], int(segments[1]), segments[2]
        found = self.server.queries.stream(run_id, task_id, which)
        if found is None:
            raise NotFound(f"no task {task_id} in run {run_id}")
        recorded, rundir = files.recorded_path(found[0]), found[1]
        if recorded is None:
            raise NotFound(f"task {task_id} recorded no {which}")
        tail = _int(query, "tail", self.server.file_cap) if "tail" in query else None
        excerpt = files.read(recorded, rundir, cap=self.server.file_cap, tail=tail)
        if excerpt is None:
            raise NotFound(f"{which} of task {task_id} was recorded as {recorded}, which is not a file on this machine")
        body = excerpt.data
        if excerpt.skipped:
            body = f"[... the first {excerpt.skipped:,} of {excerpt.size:,} bytes are not shown ...]\n".encode() + body
        headers = {
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "X-File-Size": str(excerpt.size),
            "X-File-Path": urllib.parse.quote(excerpt.path),
        }
        return self._send(200, body, "text/plain; charset=utf-8", headers)

    # --- responses --------------------------------------------------------------------------------

    def _error(self, code: HTTPStatus, message: str) -> None:
        body = json.dumps({"error": message, "status": int(code)}).encode()
        self._send(int(code), body, "application/json")

    def _send(self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.send_body:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)
