"""The executor's own local cluster: started at `load()`, shared by the executors of a run, stopped at cleanup
(leaving no process), started again by the next run in the same process. Options are checked when the executor
is made, and `ray` is imported only when an executor starts."""

import os
import subprocess
import sys

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import ConfigurationError
from parlay.testing import TIMEOUT
from parlay.testing import workflow_apps as apps
from parlay_executor_ray import RayExecutor


@python_app(executors=["b"])
def on_b(x):
    return x + 1


def own_cluster(label, ray_temp_dir, **options):
    return RayExecutor(label, num_cpus=2, init_kwargs={"_temp_dir": ray_temp_dir, "log_to_driver": False}, **options)


def test_local_cluster_is_started_shared_stopped_and_started_again(tmp_path, ray_temp_dir, processes):
    import ray

    assert not ray.is_initialized()
    others = processes.descendants(os.getpid())  # what other tests' fixtures may have started
    executors = [own_cluster("a", ray_temp_dir), own_cluster("b", ray_temp_dir)]
    with parlay.load(Config(executors=executors, run_dir=str(tmp_path / "runinfo"))):
        assert ray.cluster_resources()["CPU"] == 2
        assert apps.identity(1).result(TIMEOUT) + on_b(1).result(TIMEOUT) == 3
        cluster = processes.descendants(os.getpid()) - others
        assert cluster, "Ray's processes run under this one"
    assert not ray.is_initialized()
    assert not processes.wait_gone(cluster), "the cluster's processes outlived the run"

    with parlay.load(Config(executors=[own_cluster("a", ray_temp_dir)], run_dir=str(tmp_path / "runinfo"))):
        assert apps.identity("again").result(TIMEOUT) == "again"
        cluster = processes.descendants(os.getpid()) - others
    assert not ray.is_initialized()
    assert not processes.wait_gone(cluster)


def test_executors_that_want_different_clusters_are_refused(tmp_path, ray_temp_dir):
    import ray

    executors = [own_cluster("a", ray_temp_dir), own_cluster("b", ray_temp_dir, num_gpus=0)]
    with pytest.raises(ConfigurationError, match="one process joins one Ray cluster"):
        parlay.load(Config(executors=executors, run_dir=str(tmp_path / "runinfo")))
    assert not ray.is_initialized(), "the cluster the first executor started was stopped"


def test_options_are_checked():
    with pytest.raises(ConfigurationError, match=r"^RayExecutor\.num_cpus=2: only for a local cluster"):
        RayExecutor(address="auto", num_cpus=2)
    with pytest.raises(ConfigurationError, match=r"^RayExecutor\.address='': expected a Ray address"):
        RayExecutor(address="")
    with pytest.raises(ConfigurationError, match=r"^RayExecutor\.init_kwargs=\{'num_cpus': 2\}: expected a dict of"):
        RayExecutor(init_kwargs={"num_cpus": 2})
    with pytest.raises(ConfigurationError, match=r"^RayExecutor\.put_threshold=-1: expected an integer >= 0"):
        RayExecutor(put_threshold=-1)
    with pytest.raises(ConfigurationError, match=r"^RayExecutor\.resources=\{'widget': -1\}: expected a dict"):
        RayExecutor(resources={"widget": -1})
    executor = RayExecutor(num_cpus=4, resources={"widget": 1}, init_kwargs={"namespace": "mine"})
    assert executor.ray_init_kwargs() == {
        "address": "local",
        "include_dashboard": False,
        "_system_config": {"task_oom_retries": 0},
        "num_cpus": 4,
        "resources": {"widget": 1},
        "namespace": "mine",
    }
    assert RayExecutor(address="ray://head:10001").ray_init_kwargs() == {"address": "ray://head:10001"}


def test_ray_is_imported_only_when_an_executor_starts():
    code = "import sys, parlay; from parlay.executors import RayExecutor; RayExecutor(); print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True)
    assert out.stdout.strip() == "False"
