"""The cloud providers' shared suite, through Google's client against the stand-in."""

import pytest

from parlay.testing.cloud import CloudProviderConformance
from parlay_provider_gcp import GoogleCloudProvider

from .conftest import ZONE


class TestGoogleCloudProvider(CloudProviderConformance):
    @pytest.fixture
    def stand_in(self, stand_in, key_file):
        self.key_file = key_file
        return stand_in

    def make_provider(self, stand_in, **options):
        return GoogleCloudProvider(stand_in.project, self.key_file, ZONE, "debian-cloud", "debian-12", **options)
