"""Workflows on `HighThroughputExecutor(address="127.0.0.1", provider=KubernetesProvider(...))` through the
stand-in: the pods' managers get the run's keys from the Secret and connect over TCP with CurveZMQ; a block
that cannot start fails the waiting tasks at once with the API's message; nothing of the run is left after
`cleanup()`, SIGTERM or Ctrl-C, nor after `parlay cleanup` of a SIGKILLed run."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import BadStateException, ScalingWarning
from parlay.testing import TIMEOUT
from parlay.testing.providers import run_cleanup, wait_for
from parlay_executor_htex import HighThroughputExecutor
from parlay_executor_htex.executor import KEYS_VARIABLE
from parlay_provider_kubernetes import KubernetesProvider

# the stand-in's pods run on this host, so the loopback address that htex warns about does reach them
pytestmark = pytest.mark.filterwarnings("ignore:executor .* a loopback address")


def square_app():
    """An app defined in a local scope, so that it travels by value: the pods' image has parlay, not these tests."""

    @python_app
    def square(x):
        import os

        return x * x, os.environ["HOSTNAME"]  # the pod's name, as in a real pod

    return square


def config(tmp_path, provider, **options):
    executor = HighThroughputExecutor(
        address="127.0.0.1", max_workers_per_node=2, heartbeat_period=1, heartbeat_threshold=5, provider=provider,
        **options,
    )  # fmt: skip
    return Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=0.1)


def test_a_hundred_tasks_run_in_pods_and_nothing_is_left(cluster, tmp_path):
    provider = KubernetesProvider("python:3.11-slim", init_blocks=1, max_blocks=2, status_polling_interval=0.5)
    square = square_app()
    with parlay.load(config(tmp_path, provider)) as dfk:
        results = [future.result(TIMEOUT) for future in [square(i) for i in range(100)]]
        pods = {name: labels for kind, name, labels in cluster.resources() if kind == "pod"}
        secrets = [name for kind, name, _ in cluster.resources() if kind == "secret"]
        keys = provider.secret_environment[KEYS_VARIABLE]
        for name in pods:
            assert keys not in str(cluster.pod(name)), "the keys travel in the Secret, never in the pod spec"
        run = dfk.run_id
    assert [value for value, _ in results] == [i * i for i in range(100)]
    assert {host for _, host in results} <= set(pods), "the tasks ran in the pods"
    assert all(labels["parlay-run"] == run for labels in pods.values())
    assert len(secrets) == 1, "one secret for the run"
    assert cluster.resources() == [], "cleanup() deletes every pod and the secret"


# --- blocks that cannot start fail the waiting tasks ----------------------------------------------------


def fails_the_task(tmp_path, provider, expected, refused=False):
    """A task waiting for `provider`'s block fails, quoting `expected` (which a refused submission also warns
    about); the message is returned."""
    provider.status_polling_interval = 0.2
    # one block that fails to start is enough here: its status is what is checked
    with warned(refused, expected), parlay.load(config(tmp_path, provider, block_error_threshold=1)):
        future = square_app()(3)
        with pytest.raises(BadStateException) as info:
            future.result(TIMEOUT)
    assert expected in str(info.value), str(info.value)
    return str(info.value)


def warned(refused, expected):
    return pytest.warns(ScalingWarning, match=re.escape(expected)) if refused else contextlib.nullcontext()


OOM = "echo 'loading the reference genome'; python3 -c 'x = b\"1\" * (300 << 20); import time; time.sleep(60)'"
#: case -> the provider's options, what the task's error quotes, the log line it quotes
CANNOT_START = {
    "image pull": ({"image": "registry.example/does-not-exist:1"}, 'failed to pull and unpack image "registry', None),
    "unschedulable": ({"init_cpu": 16, "max_cpu": 16}, "0/1 nodes are available: 1 Insufficient cpu.", None),
    "oom killed": ({"max_mem": "100Mi", "init_mem": "50Mi", "worker_init": OOM}, "(OOMKilled)",
                   "loading the reference genome"),
    "crash loop": ({"restart_policy": "OnFailure", "worker_init": "echo 'no conda here' >&2; exit 9"},
                   "CrashLoopBackOff", "no conda here"),
}  # fmt: skip


@pytest.mark.parametrize("case", CANNOT_START)
def test_a_block_that_cannot_start_fails_the_waiting_task(cluster, tmp_path, case):
    options, expected, logged = CANNOT_START[case]
    provider = KubernetesProvider(**{"image": "python:3.11-slim", "init_blocks": 1, "max_blocks": 1, **options})
    message = fails_the_task(tmp_path, provider, expected)
    if logged:
        assert f"the last lines of its log:\n{logged}" in message
    assert cluster.resources() == []


def test_wrong_credentials_fail_the_waiting_task(cluster, tmp_path):
    kubeconfig = cluster.write_kubeconfig(tmp_path / "wrong", token="wrong-token")
    provider = KubernetesProvider("python:3.11-slim", init_blocks=1, kubeconfig=str(kubeconfig))
    fails_the_task(tmp_path, provider, "401 Unauthorized", refused=True)


def test_an_unknown_namespace_fails_the_waiting_task(cluster, tmp_path):
    provider = KubernetesProvider("python:3.11-slim", "nowhere", init_blocks=1)
    fails_the_task(tmp_path, provider, 'namespaces "nowhere" not found', refused=True)


def test_a_used_up_quota_fails_the_waiting_task(cluster, tmp_path):
    cluster.pod_quota = 0
    provider = KubernetesProvider("python:3.11-slim", init_blocks=1, max_blocks=1)
    quota = "exceeded quota: pods, requested: pods=1, used: pods=0, limited: pods=0"
    fails_the_task(tmp_path, provider, quota, refused=True)
    assert cluster.resources() == []


# --- a run killed with SIGKILL --------------------------------------------------------------------------

SUBMITTER = """
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whoever started the tests
    import parlay
    from parlay import Config, python_app
    from parlay_executor_htex import HighThroughputExecutor
    from parlay_provider_kubernetes import KubernetesProvider

    @python_app
    def hello():
        return "hello"

    provider = KubernetesProvider("python:3.11-slim", init_blocks=2, min_blocks=2, max_blocks=2)
    executor = HighThroughputExecutor(address="127.0.0.1", max_workers_per_node=1, provider=provider)
    parlay.load(Config(executors=[executor], run_dir=sys.argv[1], strategy_period=0.1))
    print(hello().result(timeout=90), flush=True)
    time.sleep(600)
"""


def start_submitter(tmp_path, cluster):
    """A workflow in a child Python (a process group of its own) whose two blocks' pods run; its runinfo."""
    script = tmp_path / "submitter.py"
    script.write_text(textwrap.dedent(SUBMITTER))
    runinfo = tmp_path / "runinfo"
    submitter = subprocess.Popen(
        [sys.executable, str(script), str(runinfo)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert submitter.stdout.readline() == "hello\n", "the run's pods ran a task"
        wait_for(lambda: sum(kind == "pod" for kind, _, _ in cluster.resources()) == 2, "both blocks' pods")
    except BaseException:
        os.killpg(submitter.pid, signal.SIGKILL)
        raise
    return submitter, runinfo


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_run_stopped_by_a_signal_deletes_what_it_created(cluster, tmp_path, signum):
    submitter, runinfo = start_submitter(tmp_path, cluster)
    if signum == signal.SIGINT:
        os.killpg(submitter.pid, signum)  # as a terminal's Ctrl-C
    else:
        submitter.send_signal(signum)
    try:
        submitter.wait(TIMEOUT)
    finally:
        if submitter.poll() is None:  # it hung: leave nothing running, and fail
            os.killpg(submitter.pid, signal.SIGKILL)
    assert cluster.resources() == []
    assert "nothing to cancel" in run_cleanup(runinfo / "000").stdout


def test_parlay_cleanup_deletes_what_a_killed_run_left(cluster, tmp_path):
    submitter, runinfo = start_submitter(tmp_path, cluster)
    os.killpg(submitter.pid, signal.SIGKILL)  # the submitter and its interchange: no cleanup of their own
    submitter.wait()
    left = cluster.resources()
    assert sorted(kind for kind, _, _ in left) == ["pod", "pod", "secret"]
    answer = run_cleanup(runinfo / "000")
    assert answer.returncode == 0, answer.stdout + answer.stderr
    for kind, name, _ in left:
        if kind == "pod":
            job = name.rpartition("-")[0]
            assert re.search(rf"job {job} \(parlay\.htex\.block-\d\): RUNNING, cancelled", answer.stdout)
        else:
            assert f"secret {name}: deleted" in answer.stdout
    assert cluster.resources() == [], answer.stdout
    assert "nothing to cancel" in run_cleanup(runinfo / "000").stdout
