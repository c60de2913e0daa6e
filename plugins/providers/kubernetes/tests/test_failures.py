"""Blocks that cannot start, and API calls that are refused: each fails at once (a FAILED block at the first
poll, or a SubmitException) quoting the API's own message and the pod's last log lines, and says what to
check; a refusal that retrying cannot cure is permanent."""

import json

import pytest

from parlay.errors import ExecutionProviderException, SubmitException
from parlay.providers.base import JobState
from parlay.testing.providers import run_cleanup, wait_for
from parlay_provider_kubernetes import KubernetesProvider
from parlay_provider_kubernetes.manifests import JOB_LABEL

RUN = "failures-run-1"


@pytest.fixture
def make(cluster, tmp_path):
    """Build providers of the run, as the kernel would; whatever they started is deleted afterwards."""
    made = []

    def make(image="python:3.11-slim", **options):
        provider = KubernetesProvider(image, label="failures", status_polling_interval=0.2, **options)
        provider.script_dir = str(tmp_path / "runinfo" / "000" / "submit_scripts")
        provider.run_id = RUN
        provider.secret_environment = {"PARLAY_TEST_KEYS": "keys-of-the-run"}
        made.append(provider)
        return provider

    yield make
    for provider in made:
        try:
            provider.cancel(list(provider.job_names))
            provider.release()
        except ExecutionProviderException:
            pass  # the refusals these tests inject


def ended(provider, job_id):
    def final():
        [status] = provider.status([job_id])
        return status if status.terminal else None

    return wait_for(final, f"block {job_id} to end")


def pods_of(cluster, job_id):
    return [name for kind, name, labels in cluster.resources() if kind == "pod" and labels.get(JOB_LABEL) == job_id]


# --- pods that cannot start ---------------------------------------------------------------------


def test_an_image_that_cannot_be_pulled_fails_its_block(make, cluster):
    provider = make("registry.example/does-not-exist/worker:1")
    job_id = provider.submit("sleep 300", 1, "parlay.failures.block-0")
    status = ended(provider, job_id)
    assert status.state is JobState.FAILED
    assert "ErrImagePull" in status.message or "ImagePullBackOff" in status.message
    assert 'failed to pull and unpack image "registry.example/does-not-exist/worker:1"' in status.message
    assert "KubernetesProvider.image='registry.example/does-not-exist/worker:1'" in status.message
    assert pods_of(cluster, job_id) == [], "a failed block's pods are deleted: they hold what they requested"
    assert provider.status([job_id])[0].state is JobState.FAILED, "and its status is remembered"


def test_a_pod_no_node_can_hold_fails_its_block(make):
    provider = make(init_cpu=8, max_cpu=8)  # the stand-in's node has 4 CPUs
    job_id = provider.submit("sleep 300", 1, "parlay.failures.block-0")
    status = ended(provider, job_id)
    assert status.state is JobState.FAILED
    assert "cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu." in status.message
    assert "requests cpu=8, memory=250Mi" in status.message and "unschedulable_timeout" in status.message


def test_an_unschedulable_pod_may_wait_for_a_node_where_the_cluster_adds_them(make):
    provider = make(extra_requests={"nvidia.com/gpu": 1}, extra_limits={"nvidia.com/gpu": 1}, unschedulable_timeout=600)
    job_id = provider.submit("sleep 300", 1, "parlay.failures.block-0")

    def unschedulable():
        [status] = provider.status([job_id])
        return status if "Insufficient nvidia.com/gpu" in (status.message or "") else None

    assert wait_for(unschedulable, "the pod to be unschedulable").state is JobState.PENDING


def test_an_oom_killed_pod_fails_its_block_with_its_log(make):
    provider = make(max_mem="100Mi", init_mem="50Mi")
    command = "echo filling memory; python3 -c 'x = b\"1\" * (300 << 20); import time; time.sleep(300)'"
    job_id = provider.submit(command, 1, "parlay.failures.block-0")
    status = ended(provider, job_id)
    assert status.state is JobState.FAILED and status.exit_code == 137
    assert "exited with code 137 (OOMKilled)" in status.message
    assert "memory limit (100Mi)" in status.message and "max_mem" in status.message
    assert status.message.endswith("the last lines of its log:\nfilling memory")


def test_a_crash_loop_fails_its_block_with_its_log(make):
    provider = make(restart_policy="OnFailure")
    command = "echo starting; echo 'ModuleNotFoundError: No module named parlay_executor_htex' >&2; exit 3"
    job_id = provider.submit(command, 1, "parlay.failures.block-0")
    status = ended(provider, job_id)
    assert status.state is JobState.FAILED and status.exit_code == 3
    assert (
        "CrashLoopBackOff: back-off" in status.message and "the last ending with exit code 3 (Error)" in status.message
    )
    assert (
        "the last lines of its log:\nstarting\nModuleNotFoundError: No module named parlay_executor_htex"
        in status.message
    )


def test_a_worker_command_that_fails_ends_its_block_with_its_log(make):
    provider = make()
    job_id = provider.submit("echo 'worker_init failed' >&2; exit 4", 1, "parlay.failures.block-0")
    status = ended(provider, job_id)
    assert status.state is JobState.FAILED and status.exit_code == 4
    assert "exited with code 4 (Error)" in status.message and "worker_init" in status.message
    assert status.message.endswith("the last lines of its log:\nworker_init failed")


# --- refusals ------------------------------------------------------------------------------------


def refused(provider):
    return refused_block(provider, "parlay.failures.block-0")


def refused_block(provider, job_name):
    submitted = dict(provider.job_names)
    with pytest.raises(SubmitException) as info:
        provider.submit("sleep 300", 1, job_name)
    assert provider.job_names == submitted, "a refused block is not recorded as submitted"
    return info.value


def test_wrong_credentials_are_refused_for_good(make, cluster, tmp_path):
    kubeconfig = cluster.write_kubeconfig(tmp_path / "wrong-token", token="not-the-token")
    error = refused(make(kubeconfig=str(kubeconfig)))
    assert error.permanent
    assert "401 Unauthorized: Unauthorized" in str(error)
    assert f"the credentials of the kubeconfig {kubeconfig} were not accepted" in str(error)


def test_missing_credentials_are_refused_for_good(make, tmp_path):
    error = refused(make(kubeconfig=str(tmp_path / "no-such-kubeconfig")))
    assert error.permanent and "no usable Kubernetes credentials" in str(error)


def test_an_unknown_namespace_is_refused_for_good(make):
    error = refused(make(namespace="no-such-namespace"))
    assert error.permanent
    assert 'namespaces "no-such-namespace" not found' in str(error)
    assert "kubectl create namespace no-such-namespace" in str(error)


def test_a_used_up_quota_is_refused_for_now_and_leaves_no_pod(make, cluster):
    quota = "exceeded quota: compute, requested: limits.cpu=2, used: limits.cpu=3, limited: limits.cpu=4"
    cluster.refuse_next(quota, "pods")
    provider = make(nodes_per_block=1)
    error = refused(provider)
    assert not error.permanent, "other pods may end and make room"
    assert '403 Forbidden: pods "parlay-failures-block-0-' in str(error) and quota in str(error)
    assert [kind for kind, _, _ in cluster.resources()] == ["secret"], "the run's secret stays, for the next block"


def test_a_block_larger_than_the_quota_is_refused_for_good(make, cluster):
    cluster.refuse_next("exceeded quota: compute, requested: limits.cpu=8, used: limits.cpu=0, limited: limits.cpu=4")
    error = refused(make())
    assert error.permanent and "one pod alone asks for more than the namespace's quota" in str(error)


def test_a_refused_second_pod_leaves_no_half_block(make, cluster):
    cluster.pod_quota = 3
    provider = make(nodes_per_block=2)
    provider.submit("sleep 300", 1, "parlay.failures.block-0")
    error = refused_block(provider, "parlay.failures.block-1")
    assert "exceeded quota: pods, requested: pods=1, used: pods=3, limited: pods=3" in str(error)
    assert not error.permanent
    assert cluster.calls["create pods"] == 4, "the second block's first pod was created, then deleted"
    blocks = {labels["parlay-block"] for kind, _, labels in cluster.resources() if kind == "pod"}
    assert blocks == {"parlay-failures-block-0"}


def test_missing_permissions_are_refused_for_good_naming_the_rbac_needed(make, cluster):
    cluster.forbid("create", "secrets")
    error = refused(make())
    assert error.permanent
    assert 'cannot create resource "secrets" in API group "" in the namespace "default"' in str(error)
    assert "the account needs create, get, list, delete and deletecollection on pods" in str(error)


def test_an_unreachable_api_server_may_come_back(make, cluster, tmp_path):
    config = json.loads(cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:9"  # the discard port: nobody listens
    kubeconfig = tmp_path / "unreachable"
    kubeconfig.write_text(json.dumps(config))
    error = refused(make(kubeconfig=str(kubeconfig)))
    assert not error.permanent and "cannot reach the API server" in str(error)


def test_parlay_cleanup_deletes_the_pods_of_blocks_that_ended_before_a_crash(make, cluster, tmp_path):
    provider = make()
    failed = provider.submit("exit 3", 1, "parlay.failures.block-0")
    running = provider.submit("sleep 300", 1, "parlay.failures.block-1")
    wait_for(lambda: cluster.pod(f"{failed}-0")["status"]["phase"] == "Failed", "the first block to fail")
    provider.job_names.clear()  # the run is gone before it polled: its journal and the labels are left
    answer = run_cleanup(tmp_path / "runinfo" / "000")
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert f"job {failed} (parlay.failures.block-0): FAILED, already ended" in answer.stdout
    assert f"job {running} (parlay.failures.block-1): RUNNING, cancelled" in answer.stdout
    assert f"pod {failed}-0 (block parlay-failures-block-0, Failed): deleted" in answer.stdout
    assert cluster.resources() == []
