"""The cloud provider conformance suite, against the stand-in API server."""

import pytest

from parlay.testing import CloudProviderConformance
from parlay_provider_kubernetes import KubernetesProvider


class TestKubernetesProvider(CloudProviderConformance):
    @pytest.fixture
    def stand_in(self, cluster):
        return cluster

    def make_provider(self, stand_in, **options):
        return KubernetesProvider("python:3.11-slim", status_polling_interval=0.2, **options)
