import os
import select
import shlex
import socket
import sys
import threading

import pytest
from hypothesis import HealthCheck, settings

from parlay.serialize import pack_result
from parlay.testing import TIMEOUT
from parlay_executor_htex import protocol as p
from parlay_executor_htex.interchange import Interchange, local_address
from parlay_executor_htex.stream import Stream

#: What the in-process interchange's manager registers as: one worker, room for 11 tasks.
_MANAGER = {"id": "ab" * 8, "block_id": "0", "workers": 1, "prefetch": 10, "python": p.python_version(), "parlay": "t"}


def _receive(stream: Stream, count: int = 1) -> list[list[bytes]]:
    messages: list[list[bytes]] = []
    while len(messages) < count:
        ready, _, _ = select.select([stream.sock], [], [], TIMEOUT)
        assert ready, f"timed out with {messages}"
        messages += stream.receive()
    return messages


@pytest.fixture
def in_process_interchange(tmp_path):
    """An interchange running in a thread of this process: (interchange, its client, a registered manager on
    its Unix socket). The manager sends no heartbeats, so the threshold is a day."""
    ours, theirs = socket.socketpair()
    server = Interchange(
        {
            "client_fd": theirs.detach(),
            "ipc_dir": str(tmp_path),
            "worker_address": "127.0.0.1",
            "worker_port_range": [54000, 55000],
            "cert_dir": None,
            "heartbeat_period": 30,
            "heartbeat_threshold": 24 * 3600,
            "parent_pid": os.getppid(),
            "python": _MANAGER["python"],
            "parlay": _MANAGER["parlay"],
        }
    )
    loop = threading.Thread(target=server.run, daemon=True)
    loop.start()
    client = Stream(ours)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(local_address(str(tmp_path)))
    manager = Stream(sock)
    manager.send(p.pack_json(p.REGISTER, _MANAGER))
    assert p.unpack_json(_receive(manager)[0])["accepted"]
    yield server, client, manager
    client.send(p.pack_json(p.COMMAND, {"op": "shutdown"}))
    loop.join(TIMEOUT)
    assert not loop.is_alive()
    server.close()
    manager.close()


#: The fuzz tests' settings (`test_fuzz_protocol.py`): a bounded number of examples per property, so CI stays
#: quick; `PARLAY_FUZZ_EXAMPLES=100000` runs a long search locally. End-to-end properties run a tenth as many.
settings.register_profile(
    "htex-fuzz",
    max_examples=int(os.environ.get("PARLAY_FUZZ_EXAMPLES", "200")),
    deadline=None,  # a busy machine must not fail a property by its timing
    database=None,  # no example database: a failure prints the blob that reproduces it
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture
def tcp_launch_cmd():
    """A manager command without the local socket: it connects over TCP, with CurveZMQ when the run is
    encrypted, as managers on other hosts do."""
    return (
        f"{shlex.quote(sys.executable)} -m parlay_executor_htex.manager --addresses {{address}} --port {{port}}"
        " --block-id {block_id} --logdir {logdir} --cert-dir {cert_dir} --max-workers-per-node 2"
        " --heartbeat-period 0.5 --heartbeat-threshold 2"
    )


class _MakeDirectory:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


class Canary:
    """A packed task result that, once unpickled by any process of this host, leaves a folder behind: sent
    by a peer, it proves whether what that peer sent was ever unpickled."""

    def __init__(self, folder: str):
        self.marker = os.path.join(folder, "unpickled")
        self.payload = pack_result(_MakeDirectory(self.marker))

    @property
    def sung(self) -> bool:
        return os.path.exists(self.marker)


@pytest.fixture
def canary(tmp_path):
    return Canary(str(tmp_path))
