"""A real HTTP(S) server on 127.0.0.1, in threads of the test process: `http.server` serving a folder, plus
paths that answer errors, redirect, stall, stream without a length or want credentials. The HTTPS one has a
certificate from a CA the tests make."""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import hashlib
import ipaddress
import json
import os
import ssl
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

#: Credentials the `/private/` paths accept: a bearer token, or basic authentication.
TOKEN = "Bearer sesame"
BASIC = ("alice", "p@ss:word")
#: How long a stalling path waits before giving up (the test ends long before: only a bound on hangs).
STALL = 60


class Handler(SimpleHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, in the connection's thread, rather than in accept()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        super().send_error(code, None, explain or message)  # the standard reason phrase ("Not Found")

    def do_GET(self) -> None:
        self.answer()

    def do_HEAD(self) -> None:
        self.answer()

    def answer(self) -> None:
        self.etag = None
        self.server.requests.append((self.command, self.path))
        path = urlsplit(self.path).path
        head, _, rest = path.lstrip("/").partition("/")
        route = getattr(self, f"route_{head.replace('-', '_')}", None)
        if route is not None:
            route(rest)
            return
        file = self.translate_path(self.path)
        if os.path.isfile(file):
            stat = os.stat(file)
            self.etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        super().do_GET() if self.command == "GET" else super().do_HEAD()

    def end_headers(self) -> None:
        if self.etag:
            self.send_header("ETag", self.etag)
        super().end_headers()

    # --- special paths: /NAME/REST ------------------------------------------------------------------

    def route_forbidden(self, rest: str) -> None:
        self.send_error(403)

    def route_redirect(self, rest: str) -> None:
        self.send_response(302)
        self.send_header("Location", "/" + rest)
        self.end_headers()

    def route_redirect_away(self, rest: str) -> None:
        """To the same server under another origin (`localhost` instead of `127.0.0.1`)."""
        self.send_response(302)
        self.send_header("Location", f"{self.server.scheme}://localhost:{self.server.server_port}/{rest}")
        self.end_headers()

    def route_redirect_ftp(self, rest: str) -> None:
        self.send_response(302)
        self.send_header("Location", f"ftp://127.0.0.1/{rest}")
        self.end_headers()

    def route_loop(self, rest: str) -> None:
        self.route_redirect("loop/" + rest)

    def route_plain(self, rest: str) -> None:
        """A file without an ETag: only Content-Length and Last-Modified."""
        self.path = "/" + rest
        super().do_GET() if self.command == "GET" else super().do_HEAD()

    def route_slow(self, rest: str) -> None:
        """No answer at all until the server stops."""
        self.server.release.wait(STALL)

    def route_stall(self, rest: str) -> None:
        """Headers and 10 of 100 bytes, then nothing until the server stops."""
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"x" * 10)
        self.wfile.flush()
        self.server.release.wait(STALL)

    def route_stream(self, rest: str) -> None:
        """`rest` bytes without a Content-Length (the body ends when the connection closes)."""
        self.send_response(200)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(b"s" * int(rest))

    def route_short(self, rest: str) -> None:
        """A Content-Length of 100 and 10 bytes, then the connection closes."""
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"x" * 10)
        self.close_connection = True

    def route_no_head(self, rest: str) -> None:
        """Refuses HEAD, serves GET."""
        if self.command == "HEAD":
            self.send_error(405)
        else:
            self.path = "/" + rest
            super().do_GET()

    def route_echo(self, rest: str) -> None:
        """The request's headers, as JSON."""
        body = json.dumps(dict(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route_private(self, rest: str) -> None:
        basic = "Basic " + base64.b64encode(":".join(BASIC).encode()).decode()
        if self.headers.get("Authorization") not in (TOKEN, basic):
            self.send_error(401)
            return
        self.path = "/" + rest
        super().do_GET() if self.command == "GET" else super().do_HEAD()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: str, tls: ssl.SSLContext | None = None):
        self.root = root
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.release = threading.Event()
        self.requests: list[tuple[str, str]] = []
        super().__init__(("127.0.0.1", 0), functools.partial(Handler, directory=root))

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, address = super().get_request()
        sock.settimeout(STALL)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up (a timeout test, a refused certificate) are expected here

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_port}/{path.lstrip('/')}"

    def put(self, name: str, data: bytes) -> str:
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as stream:
            stream.write(data)
        return self.url(name)


@contextlib.contextmanager
def serving(root: str, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(root, tls)
    thread = threading.Thread(target=server.serve_forever, name=f"{server.scheme}-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(STALL)


def make_certificates(folder: str) -> tuple[str, str, str]:
    """A CA, and a certificate it signs for 127.0.0.1 (not localhost): (CA file, certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )

    usage = dict.fromkeys(
        ["content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only"], False
    )
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "parlay staging test CA")])
    ca = (
        build("parlay staging test CA", ca_key)
        .issuer_name(ca_name)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, decipher_only=False, **usage),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        build("127.0.0.1", key)
        .issuer_name(ca_name)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, decipher_only=False, **usage),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = [os.path.join(folder, name) for name in ("ca.pem", "server.pem", "server.key")]
    for path, data in zip(
        paths,
        [
            ca.public_bytes(serialization.Encoding.PEM),
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        ],
        strict=True,
    ):
        with open(path, "wb") as stream:
            stream.write(data)
    return paths[0], paths[1], paths[2]


@pytest.fixture(scope="session")
def site_root(tmp_path_factory) -> str:
    """The folder both servers serve, with a 30 MB file `large.bin` (its SHA-256 in `large.sha256`)."""
    root = str(tmp_path_factory.mktemp("site"))
    data = os.urandom(30 * 1024 * 1024)
    with open(os.path.join(root, "large.bin"), "wb") as stream:
        stream.write(data)
    with open(os.path.join(root, "large.sha256"), "w") as stream:
        stream.write(hashlib.sha256(data).hexdigest())
    return root


@pytest.fixture(scope="session")
def http_site(site_root) -> Iterator[Server]:
    with serving(site_root) as server:
        yield server


@pytest.fixture(scope="session")
def certificates(tmp_path_factory) -> tuple[str, str, str]:
    return make_certificates(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="session")
def https_site(site_root, certificates) -> Iterator[Server]:
    _, cert, key = certificates
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with serving(site_root, tls) as server:
        yield server
