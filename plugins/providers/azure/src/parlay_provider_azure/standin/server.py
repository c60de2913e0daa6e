"""A small HTTPS server of JSON: each request goes to one handler, which answers with a `Reply`."""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from parlay_provider_azure.standin.tls import HOST


class Request(NamedTuple):
    method: str
    target: str  # the path and query, as sent
    parts: list[str]  # the path's segments, unquoted
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


class Reply(NamedTuple):
    status: int
    body: Any = None  # JSON, or nothing
    headers: dict[str, str] = {}


Handler = Callable[[Request], Reply]


class HttpsServer:
    """Serves `handler` on https://127.0.0.1:PORT with the given certificate, each request in a thread."""

    def __init__(self, handler: Handler, cert: Path, key: Path):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = ThreadingHTTPServer((HOST, 0), _handler_class(handler))
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._server.serve_forever, name="azure-stand-in", daemon=True)

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler_class(handler: Handler) -> type[BaseHTTPRequestHandler]:
    class JsonHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            self.request.do_handshake()  # in this request's thread, not in the accepting one
            super().setup()

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command,
                self.path,
                [unquote(part) for part in split.path.strip("/").split("/") if part],
                dict(parse_qsl(split.query)),
                {name.lower(): value for name, value in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            reply = handler(request)
            payload = b"" if reply.body is None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("x-ms-request-id", str(uuid.uuid4()))
            if reply.body is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests read the replies
            pass

    return JsonHandler
