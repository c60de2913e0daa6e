import shlex
import sys

import pytest


@pytest.fixture
def tcp_launch_cmd():
    """A manager command without the local socket: it connects over TCP, with CurveZMQ when the run is
    encrypted, as managers on other hosts do."""
    return (
        f"{shlex.quote(sys.executable)} -m parlay_executor_htex.manager --addresses {{address}} --port {{port}}"
        " --block-id {block_id} --logdir {logdir} --cert-dir {cert_dir} --max-workers-per-node 2"
        " --heartbeat-period 0.5 --heartbeat-threshold 2"
    )
