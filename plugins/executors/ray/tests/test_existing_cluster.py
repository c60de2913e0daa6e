"""A cluster that runs before the workflow and after it: `ray start --head` in a process of its own. Executors
connect by address (the GCS's, or Ray Client's `ray://`), disconnect at shutdown and never stop the cluster."""

import os
import signal
import time

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import WorkerLost
from parlay.testing import TIMEOUT, ExecutorConformance
from parlay.testing import workflow_apps as apps
from parlay_executor_ray import RayExecutor


class TestRayExecutorOnExistingCluster(ExecutorConformance):
    @pytest.fixture(autouse=True)
    def head(self, ray_head):
        self.address = ray_head.gcs_address
        yield ray_head
        import ray

        assert not ray.is_initialized(), "the executor disconnected at shutdown"
        assert ray_head.process.poll() is None, "the cluster outlived the run"

    def make_executor(self):
        return RayExecutor(address=self.address, init_kwargs={"log_to_driver": False})


@python_app
def hang_until_killed(pid_file):
    with open(pid_file, "w") as stream:
        stream.write(str(os.getpid()))
    time.sleep(300)


def test_worker_killed_on_an_existing_cluster(ray_head, tmp_path):
    pid_file = tmp_path / "pid"
    config = Config(executors=[RayExecutor(address=ray_head.gcs_address)], run_dir=str(tmp_path / "runinfo"))
    with parlay.load(config):
        future = hang_until_killed(str(pid_file))
        deadline = time.monotonic() + TIMEOUT
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        with pytest.raises(WorkerLost, match=f"Ray cluster at {ray_head.gcs_address}.*WorkerCrashedError"):
            future.result(TIMEOUT)
        assert apps.identity("still working").result(TIMEOUT) == "still working"


def test_auto_joins_the_cluster_ray_address_names(ray_head, tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", ray_head.gcs_address)
    config = Config(executors=[RayExecutor(address="auto")], run_dir=str(tmp_path / "runinfo"))
    with parlay.load(config):
        assert apps.identity("found").result(TIMEOUT) == "found"


def test_ray_client(ray_head, tmp_path):
    """Ray Client (`ray://`): results, exceptions, bash apps, large arguments, lost workers and retries."""
    executor = RayExecutor(address=ray_head.client_address)
    config = Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), retries=1)
    with parlay.load(config) as dfk:
        assert apps.add(apps.identity(1), 2).result(TIMEOUT) == 3
        with pytest.raises(KeyError, match="missing"):
            apps.fail("missing", KeyError).result(TIMEOUT)
        out = tmp_path / "out.txt"
        assert apps.echo("over the client", stdout=str(out)).result(TIMEOUT) == 0
        assert out.read_text() == "over the client\n"
        big = b"x" * (20 * 2**20)
        assert apps.record(big).result(TIMEOUT)["n"] == len(big)
        assert apps.die_first_time(str(tmp_path / "marker")).result(TIMEOUT) == "survived"
        assert dfk.executors["ray"].running
