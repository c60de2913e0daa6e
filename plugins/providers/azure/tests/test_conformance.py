"""AzureProvider against the Azure stand-in: the cloud provider conformance suite, through the official clients."""

import pytest

from parlay.testing import CloudProviderConformance
from parlay_provider_azure import AzureProvider


class TestAzureProvider(CloudProviderConformance):
    @pytest.fixture
    def stand_in(self, azure):
        return azure

    def make_provider(self, stand_in, **options):
        return AzureProvider(stand_in.vm_reference(), status_polling_interval=1, **options)
