"""`ComputeStandIn`: a local HTTP server that speaks the Compute Engine REST API calls `GoogleCloudProvider`
makes through Google's official client: the client really signs its bearer tokens with the test's service-account
key and really calls the API over HTTP; each instance's startup script runs as a local process group.

Its paths (under http://127.0.0.1:PORT):

- `POST|GET /compute/v1/projects/P/zones/Z/instances`: insert, list (`filter`, `maxResults`, `pageToken`);
- `GET|DELETE /compute/v1/projects/P/zones/Z/instances/N`, `GET .../instances/N/serialPort`;
- `GET /compute/v1/projects/P/zones/Z/operations/O`;
- `GET /compute/v1/projects/P/global/images/family/F`.

Every call needs a bearer token signed by a key the stand-in made (else 401, in Google's error shape).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from parlay_provider_gcp.standin.accounts import Accounts
from parlay_provider_gcp.standin.compute import ApiError, Compute, Refusal

_ZONE = r"/compute/v1/projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)"
_ROUTES = [
    ("POST", _ZONE + "/instances", "insert"),
    ("GET", _ZONE + "/instances", "list"),
    ("GET", _ZONE + "/instances/(?P<name>[^/]+)", "get"),
    ("DELETE", _ZONE + "/instances/(?P<name>[^/]+)", "delete"),
    ("GET", _ZONE + "/instances/(?P<name>[^/]+)/serialPort", "serial_port"),
    ("GET", _ZONE + "/operations/(?P<operation>[^/]+)", "operation"),
    ("GET", r"/compute/v1/projects/(?P<project>[^/]+)/global/images/family/(?P<family>[^/]+)", "image_from_family"),
]
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid "
    "authentication credential."
)


class ComputeStandIn:
    """The stand-in, as a context manager: `url` is its address (the provider's endpoint), `key_file` writes
    a service account's key that its token endpoint accepts. `resources()`, `refuse_next()`, `exhaust()` and
    `deny()` are what tests look at and inject."""

    def __init__(self, folder: Path, project: str = "parlay-test"):
        self.folder, self.project = Path(folder), project
        self.accounts = Accounts()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.compute: Compute | None = None

    def __enter__(self) -> ComputeStandIn:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.compute = Compute(self.folder, self.url, self.project)
        threading.Thread(target=self._server.serve_forever, name="gcp-stand-in", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._api.close()

    @property
    def _api(self) -> Compute:
        if self.compute is None:
            raise RuntimeError("the stand-in is not started: use it as a context manager")
        return self.compute

    # --- for tests --------------------------------------------------------------------------------

    def key_file(self, path: Path, registered: bool = True) -> Path:
        """A service account's JSON key file for this stand-in's project; a wrong key unless `registered`."""
        # the client signs its own tokens: were it to ask for one, the stand-in's 404 would refuse it
        return self.accounts.key_file(Path(path), self.project, self.url + "/token", registered)

    def resources(self) -> list[tuple[str, str, dict[str, str]]]:
        """Every instance (whatever its state) and disk, as (kind, name, labels)."""
        return self._api.resources()

    def refuse_next(self, message: str, in_operation: bool = False, after: int = 0) -> None:
        """The next insert (after `after` that succeed) fails for a quota, quoting `message`: at once with a 403
        `quotaExceeded`, or if `in_operation` in its operation (`QUOTA_EXCEEDED`)."""
        self._api.refusals.append(Refusal(message, in_operation, after))

    def exhaust(self, zone: str) -> None:
        """Inserts in `zone` fail in their operation with `ZONE_RESOURCE_POOL_EXHAUSTED`."""
        self._api.exhausted.add(zone)

    def deny(self, permission: str) -> None:
        """Calls that need `permission` (such as 'compute.instances.create') get a 403 `forbidden`."""
        self._api.denied.add(permission)

    def instance(self, name: str) -> dict[str, Any]:
        """The instance's JSON, as `instances.get` answers it."""
        zone = next(zone for zone, other in self._api.instances if other == name)
        return self._api.get("", {}, {}, self.project, zone, name)

    # --- HTTP -------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                stand_in._serve(self, "GET")

            def do_POST(self) -> None:
                stand_in._serve(self, "POST")

            def do_DELETE(self) -> None:
                stand_in._serve(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read failures, not traffic
                pass

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        account = self.accounts.bearer(request.headers.get("Authorization"))
        try:
            if account is None:
                raise ApiError(401, _UNAUTHENTICATED, "authError")
            for verb, pattern, call in _ROUTES:
                match = re.fullmatch(pattern, url.path)
                if verb == method and match:
                    body = json.loads(raw) if raw else {}
                    answer = getattr(self._api, call)(account, dict(parse_qsl(url.query)), body, **match.groupdict())
                    self._answer(request, 200, answer)
                    return
            raise ApiError(404, f"The requested URL {url.path} was not found on this server.", "notFound")
        except ApiError as error:
            self._answer(request, error.code, error.body())

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        request.send_response(code)
        request.send_header("Content-Type", "application/json; charset=UTF-8")
        request.send_header("Content-Length", str(len(data)))
        if code == 401:
            request.send_header("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')
        request.end_headers()
        request.wfile.write(data)
