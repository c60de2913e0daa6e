import os
import shlex
import sys

import pytest
from hypothesis import HealthCheck, settings

from parlay.serialize import pack_result

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
