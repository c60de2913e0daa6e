"""An rsync daemon on loopback (the real program), and a stand-in remote shell that runs the remote rsync here."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Seconds the daemon has to start listening (only a hang reaches it).
START_TIMEOUT = 30


@dataclass
class Daemon:
    """A running `rsync --daemon`: module `share` serves `share` (read-write, no login), module `locked`
    serves `locked` to user `alice` with password `secret`."""

    port: int
    share: Path
    locked: Path
    log: Path

    @property
    def url(self) -> str:
        return f"rsync://127.0.0.1:{self.port}/share"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(process: subprocess.Popen, port: int) -> bool:
    """Wait until the daemon accepts connections on `port` (False if it exited: the port was taken)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)  # polling for readiness, bounded by the deadline
    raise TimeoutError(f"rsync --daemon did not listen on port {port} within {START_TIMEOUT} s")


@pytest.fixture(scope="session")
def rsync_daemon(tmp_path_factory):
    root = tmp_path_factory.mktemp("rsyncd")
    share, locked = root / "share", root / "locked"
    share.mkdir()
    locked.mkdir()
    secrets = root / "secrets"
    secrets.write_text("alice:secret\n")
    secrets.chmod(0o600)  # rsync refuses a secrets file others may read
    config = root / "rsyncd.conf"
    config.write_text(
        f"use chroot = no\nuid = {os.getuid()}\ngid = {os.getgid()}\nlog file = {root / 'rsyncd.log'}\n"
        f"[share]\n    path = {share}\n    read only = false\n"
        f"[locked]\n    path = {locked}\n    read only = false\n    auth users = alice\n"
        f"    secrets file = {secrets}\n"
    )
    process = None
    for _ in range(5):  # another program may take the free port first
        port = _free_port()
        process = subprocess.Popen(
            ["rsync", "--daemon", "--no-detach", f"--config={config}", f"--port={port}", "--address=127.0.0.1"],
            stdin=subprocess.DEVNULL,
        )
        if _listening(process, port):
            break
    else:
        raise RuntimeError(f"rsync --daemon could not start: see {root / 'rsyncd.log'}")
    try:
        yield Daemon(port, share, locked, root / "rsyncd.log")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def fake_ssh(tmp_path_factory):
    """A remote shell for `rsh=`: it logs the host (and `-l user`) rsync gives it, then runs the remote command
    here, as ssh would run it on the host."""
    folder = tmp_path_factory.mktemp("fake-ssh")
    log = folder / "hosts.log"
    script = folder / "fake-ssh"
    script.write_text(
        "#!/bin/sh\n"
        'user=""\n'
        'if [ "$1" = "-l" ]; then user="$2"; shift 2; fi\n'
        f'echo "$user $1" >> "{log}"\n'
        "shift\n"
        'exec "$@"\n'
    )
    script.chmod(0o755)
    return script, log
