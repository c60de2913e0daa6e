"""CurveZMQ for htex: per-run keys, readable by the user only, and the sockets that use them.

The interchange is the server; the submitting executor and every manager hold the run's client key
pair. The interchange accepts only connections that authenticate with an authorized client key, so a
process without the keys can neither submit tasks nor receive them.
"""

from __future__ import annotations

import json
import os
import tempfile

import zmq
import zmq.auth

SERVER, CLIENT = "server", "client"


def authorized_dir(cert_dir: str) -> str:
    """The folder of client public keys the interchange accepts."""
    return os.path.join(cert_dir, "authorized")


def create_keys(cert_dir: str) -> str:
    """Generate the run's server and client key pairs under `cert_dir` (mode 0700); return it."""
    os.makedirs(cert_dir, mode=0o700, exist_ok=True)
    os.chmod(cert_dir, 0o700)
    os.makedirs(authorized_dir(cert_dir), mode=0o700, exist_ok=True)
    zmq.auth.create_certificates(cert_dir, SERVER)
    client_public, _ = zmq.auth.create_certificates(cert_dir, CLIENT)
    os.replace(client_public, os.path.join(authorized_dir(cert_dir), os.path.basename(client_public)))
    for name in os.listdir(cert_dir):
        path = os.path.join(cert_dir, name)
        if os.path.isfile(path):
            os.chmod(path, 0o600)
    return cert_dir


def client_keys_text(cert_dir: str) -> str:
    """What a manager on a host without the run's files needs of `cert_dir` (the client key pair and the
    server's public key), as text for a provider to deliver privately (`ExecutionProvider.secret_environment`)."""
    names = (f"{CLIENT}.key_secret", f"{SERVER}.key")
    files = {}
    for name in names:
        with open(os.path.join(cert_dir, name)) as stream:
            files[name] = stream.read()
    return json.dumps(files)


def keys_from_text(text: str) -> str:
    """Write the keys of `client_keys_text` into a new private folder; return it, for `client_socket`."""
    cert_dir = tempfile.mkdtemp(prefix="parlay-htex-keys-")  # mode 0700
    for name, content in json.loads(text).items():
        if name not in (f"{CLIENT}.key_secret", f"{SERVER}.key"):
            raise ValueError(f"unexpected key file {name!r}")
        descriptor = os.open(os.path.join(cert_dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(content)
    return cert_dir


def _keys(cert_dir: str, name: str) -> tuple[bytes, bytes]:
    public, secret = zmq.auth.load_certificate(os.path.join(cert_dir, f"{name}.key_secret"))
    assert secret is not None
    return public, secret


def server_socket(context: zmq.Context, kind: int, cert_dir: str | None) -> zmq.Socket:
    """A socket that binds; with `cert_dir`, a CurveZMQ server."""
    sock = context.socket(kind)
    if cert_dir:
        sock.curve_publickey, sock.curve_secretkey = _keys(cert_dir, SERVER)
        sock.curve_server = True
    return sock


def client_socket(context: zmq.Context, kind: int, cert_dir: str | None) -> zmq.Socket:
    """A socket that connects; with `cert_dir`, a CurveZMQ client holding the run's client keys."""
    sock = context.socket(kind)
    if cert_dir:
        sock.curve_publickey, sock.curve_secretkey = _keys(cert_dir, CLIENT)
        server_public, _ = zmq.auth.load_certificate(os.path.join(cert_dir, f"{SERVER}.key"))
        sock.curve_serverkey = server_public
    return sock
