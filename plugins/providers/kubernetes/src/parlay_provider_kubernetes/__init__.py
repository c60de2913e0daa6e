"""parlay provider: blocks as Kubernetes pods."""

from parlay_provider_kubernetes.provider import KubernetesProvider

__all__ = ["KubernetesProvider"]
