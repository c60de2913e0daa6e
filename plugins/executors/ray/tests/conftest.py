"""Real Ray clusters for the tests, each shared by one test module, and proof that none outlives its module.

Ray's temporary folders are made short (`/tmp/parlay-ray-XXXX`): the Unix socket paths Ray makes inside
them must stay under 108 bytes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from parlay.testing import processes as system  # the fixture below is named `processes`

#: Only a hang should ever reach these (seconds).
START_TIMEOUT = 120
STOP_TIMEOUT = 60


def wait_gone(pids: set[int], timeout: float = STOP_TIMEOUT) -> set[int]:
    """Wait until `pids` have exited; those still alive after `timeout`."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if system.alive(pid)}
        if alive:
            time.sleep(0.2)
    return alive


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def processes():
    """`descendants` and `wait_gone`, for tests that watch Ray's processes."""
    return SimpleNamespace(descendants=system.descendants, wait_gone=wait_gone)


@pytest.fixture(scope="module")
def ray_temp_dir():
    path = tempfile.mkdtemp(prefix="parlay-ray-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def user_ray(ray_temp_dir):
    """A local cluster of two CPUs (and one custom `widget`), started with `ray.init` as a user would before the
    run: executors share it and must leave it running."""
    import ray

    others = system.descendants(os.getpid())  # what other tests' fixtures may have started
    ray.init(
        address="local",
        num_cpus=2,
        resources={"widget": 1},
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=ray_temp_dir,
    )
    yield
    cluster = system.descendants(os.getpid()) - others
    ray.shutdown()
    assert not wait_gone(cluster), "Ray processes outlived ray.shutdown()"


@dataclass
class Head:
    """A Ray head node started with `ray start`, as a site would run one."""

    gcs_address: str
    client_address: str
    process: subprocess.Popen


@pytest.fixture(scope="module")
def ray_head(ray_temp_dir):
    """`ray start --head --num-cpus 2` as a process of its own, on free ports; stopped (and any process of it
    that lingers, killed) when the module is done."""
    import ray

    assert not ray.is_initialized()
    port, client_port = free_port(), free_port()
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    command = [
        ray_cli, "start", "--head", "--block", "--num-cpus", "2", "--node-ip-address", "127.0.0.1",
        "--port", str(port), "--ray-client-server-port", str(client_port),
        "--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port", str(free_port()),
        "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", ray_temp_dir,
    ]  # fmt: skip
    # loopback only, for the length of a test module: no token to manage
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    log = open(os.path.join(ray_temp_dir, "ray-start.log"), "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait_for_port(port, process, log.name)
        _wait_for_port(client_port, process, log.name)
        yield Head(f"127.0.0.1:{port}", f"ray://127.0.0.1:{client_port}", process)
    finally:
        family = system.descendants(process.pid) | {process.pid}
        process.send_signal(signal.SIGTERM)  # `ray start --block` stops its node, then exits
        lingering = wait_gone(family)
        for pid in lingering:
            os.kill(pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)
        log.close()
        assert not lingering, f"Ray processes {sorted(lingering)} outlived `ray start --block`; they were killed"


def _wait_for_port(port: int, process: subprocess.Popen, log: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`ray start` exited with {process.returncode}:\n{open(log).read()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"`ray start` did not listen on port {port} within {START_TIMEOUT} s")
