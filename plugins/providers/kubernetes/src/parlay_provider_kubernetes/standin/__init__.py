"""A stand-in Kubernetes API server for tests, which no real API server can run beside: it speaks the REST
API the official client calls for pods, pod logs, secrets and namespaces, and runs each pod's command as
local processes. Other plugins' tests may use it too::

    from parlay_provider_kubernetes.standin import KubernetesStandIn

    with KubernetesStandIn(tmp_path / "k8s") as cluster:
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
        ...
"""

from parlay_provider_kubernetes.standin.server import KubernetesStandIn

__all__ = ["KubernetesStandIn"]
