"""The stand-in API server every test of this plugin talks to through the official client."""

import pytest

from parlay_provider_kubernetes.standin import KubernetesStandIn


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """A running stand-in; KUBECONFIG points at it, for this process and the `parlay cleanup` it starts."""
    with KubernetesStandIn(tmp_path / "k8s") as standin:
        monkeypatch.setenv("KUBECONFIG", str(standin.kubeconfig))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield standin
