"""KubernetesProvider's options, the pods it creates (as the stand-in stores them), where its credentials
come from, and its calls: one list call per status poll, and no SDK import before it is used."""

import json
import os
import subprocess
import sys

import pytest

from parlay.errors import ConfigurationError, SubmitException
from parlay.providers.base import JobState, read_journal
from parlay.testing.providers import wait_for
from parlay_provider_kubernetes import KubernetesProvider
from parlay_provider_kubernetes import api as k8s_api

KEYS = "keys-that-only-the-pods-may-read"


@pytest.fixture
def make(cluster, tmp_path):
    """Build providers of a run, as the kernel would; whatever they started is deleted afterwards."""
    made = []

    def make(**options):
        provider = KubernetesProvider("registry.example/team/worker:2.1", label="options", **options)
        provider.script_dir = str(tmp_path / "runinfo" / "000" / "submit_scripts")
        provider.run_id = "options-run-7"
        provider.secret_environment = {"PARLAY_HTEX_KEYS": KEYS}
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.cancel(list(provider.job_names))
        provider.release()


# --- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"max_mem": "lots"}, "KubernetesProvider.max_mem='lots': expected a Kubernetes quantity"),
        ({"init_cpu": -1}, "KubernetesProvider.init_cpu=-1: expected a Kubernetes quantity"),
        ({"namespace": "Team_A"}, "KubernetesProvider.namespace='Team_A': expected a DNS label"),
        (
            {"restart_policy": "Always"},
            "KubernetesProvider.restart_policy='Always': expected one of 'Never', 'OnFailure'",
        ),
        ({"persistent_volumes": ["data"]}, "expected a list of (claim name, mount path) pairs"),
        ({"extra_limits": {"nvidia.com/gpu": "many"}}, "expected a dict of resource names to quantities"),
        ({"user_id": -5}, "KubernetesProvider.user_id=-5: expected an integer >= 0 (or its digits"),
        ({"init_mem": "1Gi"}, "KubernetesProvider.init_mem='1Gi' must not exceed max_mem='500Mi'"),
        ({"min_blocks": 11}, "min_blocks=11 must not exceed max_blocks=10"),
    ],
)
def test_wrong_options_are_refused_naming_the_option(options, expected):
    with pytest.raises(ConfigurationError) as info:
        KubernetesProvider("python:3.11", **options)
    assert expected in str(info.value)


def test_parsl_names_and_defaults():
    provider = KubernetesProvider("python:3.11")
    assert provider.namespace == "default" and KubernetesProvider("python:3.11", "team-a").namespace == "team-a"
    assert (provider.nodes_per_block, provider.init_blocks, provider.min_blocks, provider.max_blocks) == (1, 4, 0, 10)
    assert (provider.max_cpu, provider.max_mem, provider.init_cpu, provider.init_mem) == (2, "500Mi", 1, "250Mi")
    assert (provider.parallelism, provider.worker_init, provider.pod_name, provider.secret) == (1, "", None, None)
    assert (provider.user_id, provider.group_id, provider.run_as_non_root) == (None, None, False)
    assert provider.persistent_volumes == [] and provider.annotations == {} and provider.service_account_name is None


# --- what the pods get --------------------------------------------------------------------------


def test_pods_carry_the_options_and_the_keys_only_by_reference(make, cluster):
    provider = make(
        nodes_per_block=2, max_cpu="1500m", max_mem="2Gi", init_cpu=0.5, init_mem="1Gi",
        extra_requests={"example.com/fpga": 1}, pod_name="genomes", user_id=1000, group_id="2000",
        run_as_non_root=True, secret="registry-login", persistent_volumes=[("reference-data", "/data")],
        service_account_name="workers", annotations={"team": "genomics"}, worker_init="source /opt/env/bin/activate",
    )  # fmt: skip
    job_id = provider.submit("start-the-workers", 1, "parlay.options.block-0")
    assert job_id.startswith("genomes-")
    pods = [cluster.pod(f"{job_id}-{index}") for index in (0, 1)]
    labels = {"parlay-run": "options-run-7", "parlay-provider": "options", "parlay-block": "parlay-options-block-0",
              "parlay-job": job_id}  # fmt: skip
    [secret] = [name for kind, name, tags in cluster.resources() if kind == "secret"]
    for pod in pods:
        assert KEYS not in json.dumps(pod), "the keys are in the Secret, never in the pod spec"
        assert pod["metadata"]["labels"] == labels and pod["metadata"]["annotations"] == {"team": "genomics"}
        spec = pod["spec"]
        assert spec["restartPolicy"] == "Never" and spec["serviceAccountName"] == "workers"
        assert spec["imagePullSecrets"] == [{"name": "registry-login"}]
        assert spec["volumes"] == [{"name": "reference-data", "persistentVolumeClaim": {"claimName": "reference-data"}}]
        [container] = spec["containers"]
        assert container["image"] == "registry.example/team/worker:2.1"
        assert container["command"][:2] == ["/bin/bash", "-c"]
        script = provider.job_script("start-the-workers", 1, "parlay.options.block-0", nodes=1)
        assert container["command"][2] == script, "each pod starts the workers of its one node"
        assert script != provider.job_script("start-the-workers", 1, "parlay.options.block-0", nodes=2)
        assert "source /opt/env/bin/activate" in script and "start-the-workers" in script
        assert container["resources"] == {
            "requests": {"cpu": "0.5", "memory": "1Gi", "example.com/fpga": "1"},
            "limits": {"cpu": "1500m", "memory": "2Gi"},
        }
        assert container["securityContext"] == {"runAsUser": 1000, "runAsGroup": 2000, "runAsNonRoot": True}
        assert container["volumeMounts"] == [{"name": "reference-data", "mountPath": "/data"}]
        assert container["env"] == [
            {"name": "PARLAY_CORES", "value": "1.5"},
            {"name": "PARLAY_MEMORY_GB", "value": "2"},
        ]
        assert container["envFrom"] == [{"secretRef": {"name": secret}}]
    assert cluster.cluster.secret_values("default", secret) == {"PARLAY_HTEX_KEYS": KEYS}
    journal = read_journal(os.path.dirname(provider.journal_path))
    assert journal["options", f"secret/{secret}"]["event"] == "created", "the secret is journaled as it is made"


def test_a_block_sees_the_keys_and_its_size(make, tmp_path):
    marker = tmp_path / "seen"
    job_id = make(max_cpu=3, init_cpu=1).submit(
        f'echo "$PARLAY_HTEX_KEYS $PARLAY_CORES $PARLAY_MEMORY_GB" > {marker}.part; mv {marker}.part {marker}; '
        "sleep 300", 1, "parlay.options.block-0",
    )  # fmt: skip
    assert wait_for(marker.exists, "the block to write what it sees", interval=0.05)
    assert marker.read_text() == f"{KEYS} 3 0.4883\n", job_id


def test_one_list_call_reads_every_block(make, cluster, tmp_path):
    provider = make(nodes_per_block=2)
    ids = [provider.submit("sleep 300", 1, f"parlay.options.block-{n}") for n in range(3)]
    wait_for(lambda: all(s.state is JobState.RUNNING for s in provider.status(ids)), "the blocks to run")
    cluster.calls.clear()
    assert [s.state for s in provider.status(ids)] == [JobState.RUNNING] * 3
    assert dict(cluster.calls) == {"list pods": 1}, "one list call per poll, whatever the number of pods"


def test_a_new_secret_when_what_the_pods_need_changes(make, cluster):
    provider = make()
    provider.submit("sleep 300", 1, "parlay.options.block-0")
    provider.submit("sleep 300", 1, "parlay.options.block-1")
    assert cluster.calls["create secrets"] == 1, "one secret serves every block of the run"
    provider.secret_environment = {"PARLAY_HTEX_KEYS": "other keys"}
    provider.submit("sleep 300", 1, "parlay.options.block-2")
    assert cluster.calls["create secrets"] == 2
    provider.release()
    assert cluster.resources() == [], "release() deletes both secrets, and the pods"


# --- credentials ----------------------------------------------------------------------------------


def test_where_credentials_come_from(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", "/etc/site/kubeconfig")
    monkeypatch.setattr(k8s_api, "in_a_pod", lambda: False)
    assert k8s_api.kubeconfig_path(None, None, None) == "/etc/site/kubeconfig"
    assert k8s_api.kubeconfig_path("mine.yaml", None, None) == "mine.yaml"
    assert k8s_api.kubeconfig_path(None, None, True) is None, "the pod's service account, as asked"
    monkeypatch.setattr(k8s_api, "in_a_pod", lambda: True)
    assert k8s_api.kubeconfig_path(None, None, None) is None, "inside a pod: its service account"
    assert k8s_api.kubeconfig_path(None, "ci", None) == "/etc/site/kubeconfig", "a context names a kubeconfig's"
    assert k8s_api.kubeconfig_path(None, None, False) == "/etc/site/kubeconfig"
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert k8s_api.kubeconfig_path(None, None, False) == str(tmp_path / ".kube" / "config")


def test_the_service_account_outside_a_pod_is_refused_for_good(make):
    with pytest.raises(SubmitException) as info:
        make(incluster_config=True).submit("sleep 300", 1, "parlay.options.block-0")
    assert info.value.permanent and "no usable Kubernetes credentials in the service account" in str(info.value)


def test_a_kubeconfig_context_is_chosen(make, cluster, tmp_path):
    config = json.loads(cluster.kubeconfig.read_text())
    config["users"].append({"name": "expired", "user": {"token": "expired-token"}})
    config["contexts"].append({"name": "stale", "context": {"cluster": "standin", "user": "expired"}})
    config["current-context"] = "stale"
    kubeconfig = tmp_path / "two-contexts"
    kubeconfig.write_text(json.dumps(config))
    with pytest.raises(SubmitException, match="401 Unauthorized"):
        make(kubeconfig=str(kubeconfig)).submit("sleep 300", 1, "parlay.options.block-0")
    assert make(kubeconfig=str(kubeconfig), context="standin").submit("sleep 300", 1, "parlay.options.block-1")


def test_cleanup_options_rebuild_the_provider_from_anywhere(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    provider = KubernetesProvider("python:3.11", "team-a", kubeconfig="kube.yaml", context="ci", label="k")
    options = provider.cleanup_options()
    kubeconfig = str(tmp_path / "kube.yaml")
    assert options == {"label": "k", "image": "python:3.11", "namespace": "team-a", "kubeconfig": kubeconfig,
                       "context": "ci", "incluster_config": None}  # fmt: skip
    assert KubernetesProvider(**options).cleanup_options() == options


def test_the_sdk_is_imported_only_when_the_provider_is_used():
    code = (
        "import sys; from parlay.providers import KubernetesProvider; "
        "import parlay_provider_kubernetes.standin; print('kubernetes' in sys.modules)"
    )
    assert subprocess.check_output([sys.executable, "-c", code], text=True) == "False\n"
