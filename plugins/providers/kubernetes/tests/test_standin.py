"""The stand-in answers the official client as the API server does: Status errors, label selectors,
graceful deletion, logs of a container's runs."""

import pytest
from kubernetes import client, config

from parlay.testing.providers import wait_for
from parlay_provider_kubernetes.standin.selectors import parse


@pytest.fixture
def api(cluster):
    return client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))


def pod(name, command, labels=None, **spec):
    container = {"name": "main", "image": "python:3.11-slim", "command": ["/bin/bash", "-c", command]}
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"containers": [container], **spec}}


def phase(api, name):
    return api.read_namespaced_pod(name, "default").status.phase


@pytest.mark.parametrize(
    "selector, selected",
    [
        ("", True),
        ("run=a", True),
        ("run==b", False),
        ("run!=b", True),
        ("run=a,job in (x, y)", True),
        ("job notin (x,y)", False),
        ("job", True),
        ("!job", False),
        ("run=a,!gone", True),
    ],
)
def test_label_selectors(selector, selected):
    assert parse(selector)({"run": "a", "job": "x"}) is selected


def test_a_bad_selector_is_a_bad_request(api):
    with pytest.raises(client.ApiException) as info:
        api.list_namespaced_pod("default", label_selector="job in (x")
    assert info.value.status == 400 and "unable to parse requirement" in info.value.body


def test_errors_are_status_objects(api, cluster, tmp_path):
    api.create_namespaced_pod("default", pod("twice", "sleep 300"))
    with pytest.raises(client.ApiException) as info:
        api.create_namespaced_pod("default", pod("twice", "sleep 300"))
    assert info.value.status == 409 and 'pods \\"twice\\" already exists' in info.value.body
    with pytest.raises(client.ApiException) as info:
        api.create_namespaced_pod("default", pod("Bad_Name", "true"))
    assert info.value.status == 422 and "a lowercase RFC 1123 subdomain" in info.value.body
    limits = {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}
    body = pod("greedy", "true")
    body["spec"]["containers"][0].update(limits)
    with pytest.raises(client.ApiException) as info:
        api.create_namespaced_pod("default", body)
    assert info.value.status == 422 and "must be less than or equal to cpu limit of 1" in info.value.body
    with pytest.raises(client.ApiException) as info:
        api.read_namespaced_secret("absent", "default")
    assert info.value.status == 404
    assert api.read_namespace("default").status.phase == "Active"
    with pytest.raises(client.ApiException) as info:
        api.read_namespace("elsewhere")
    assert info.value.status == 404 and 'namespaces \\"elsewhere\\" not found' in info.value.body
    stranger = client.CoreV1Api(config.new_client_from_config(str(cluster.write_kubeconfig(tmp_path / "k", "x"))))
    with pytest.raises(client.ApiException) as info:
        stranger.list_namespaced_pod("default")
    assert info.value.status == 401


def test_a_graceful_delete_lists_the_pod_until_it_has_stopped(api, cluster):
    api.create_namespaced_pod("default", pod("graceful", "trap 'sleep 0.5; exit 0' TERM; sleep 300 & wait"))
    wait_for(lambda: phase(api, "graceful") == "Running", "the pod to run")
    deleted = api.delete_namespaced_pod("graceful", "default", grace_period_seconds=30)
    assert deleted.metadata.deletion_timestamp is not None
    assert [name for _, name, _ in cluster.resources()] == ["graceful"], "terminating, still listed"
    wait_for(lambda: not cluster.resources(), "the pod to stop and go")


def test_logs_of_each_run_of_a_container(api, cluster):
    api.create_namespaced_pod("default", pod("flaky", 'echo "run at $(date +%N)"; exit 1', restartPolicy="OnFailure"))

    def backing_off():
        [status] = api.read_namespaced_pod("flaky", "default").status.container_statuses
        return status if status.state.waiting and status.state.waiting.reason == "CrashLoopBackOff" else None

    status = wait_for(backing_off, "a crash loop", interval=0.02)
    assert status.restart_count >= 1 and status.last_state.terminated.exit_code == 1
    log = api.read_namespaced_pod_log("flaky", "default", previous=True, _preload_content=False).data.decode()
    assert log.startswith("run at ")
    cluster.missing_images.add("registry.example/private:1")
    unpulled = pod("unpulled", "true")
    unpulled["spec"]["containers"][0]["image"] = "registry.example/private:1"
    api.create_namespaced_pod("default", unpulled)
    wait_for(lambda: phase(api, "unpulled") == "Pending" and backing_off_pull(api), "the image pull to fail")
    with pytest.raises(client.ApiException) as info:
        api.read_namespaced_pod_log("unpulled", "default")
    assert info.value.status == 400
    assert 'container \\"main\\" in pod \\"unpulled\\" is waiting to start' in info.value.body


def backing_off_pull(api):
    [status] = api.read_namespaced_pod("unpulled", "default").status.container_statuses
    return status.state.waiting.reason in ("ErrImagePull", "ImagePullBackOff")
