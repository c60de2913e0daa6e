"""A real FTP server on 127.0.0.1 (pyftpdlib), in a thread of the test process: an anonymous read-only area
(`public/`) and a user with a password who may write everywhere under the root."""

from __future__ import annotations

import logging
import os
import socket
import threading
import warnings
from collections.abc import Iterator
from urllib.parse import quote

import pytest

with warnings.catch_warnings():  # pyftpdlib imports asyncore and asynchat, deprecated in Python 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

#: The user with write permission; the password has characters a URL must percent-encode.
USER, PASSWORD = "writer", "p@ss:w/rd"
#: How long the server thread may take to stop (only a bound on hangs).
STOP = 30


class Site:
    """The running server: its folders, the URLs of its files, and what it received."""

    def __init__(self, root: str, port: int, received: list[str]):
        self.root = root
        self.port = port
        self.received = received  # the paths the server finished storing, in order
        self.user, self.password = USER, PASSWORD

    def url(self, path: str, user: str | None = USER, password: str | None = PASSWORD) -> str:
        login = ""
        if user is not None:
            login = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "") + "@"
        return f"ftp://{login}127.0.0.1:{self.port}/{path}"

    def write(self, path: str, data: bytes) -> None:
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as stream:
            stream.write(data)

    def read(self, path: str) -> bytes:
        with open(os.path.join(self.root, path), "rb") as stream:
            return stream.read()


@pytest.fixture(scope="session")
def ftp_site(tmp_path_factory) -> Iterator[Site]:
    root = str(tmp_path_factory.mktemp("ftp-root"))
    os.makedirs(os.path.join(root, "public"))
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, root, perm="elradfmwMT")
    authorizer.add_anonymous(os.path.join(root, "public"))  # read-only: "elr"
    received: list[str] = []

    class Handler(FTPHandler):
        auth_failed_timeout = 0  # pyftpdlib delays a 530 by 3 s to slow guessing; not here

        def on_file_received(self, file: str) -> None:
            received.append(os.path.relpath(file, root))

    Handler.authorizer = authorizer
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    server = FTPServer(("127.0.0.1", 0), Handler)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve, name="ftp-server", daemon=True)
    thread.start()
    try:
        yield Site(root, server.address[1], received)
    finally:
        stop.set()
        thread.join(STOP)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) but never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]
