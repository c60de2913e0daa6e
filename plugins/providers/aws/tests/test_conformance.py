"""The conformance suite every cloud provider passes, against the EC2 stand-in (moto's server, with instances
that run their user-data)."""

import pytest

from parlay.testing import CloudProviderConformance
from parlay_provider_aws import AWSProvider


class TestAWSProvider(CloudProviderConformance):
    @pytest.fixture
    def stand_in(self, ec2):
        return ec2

    def make_provider(self, stand_in, **options):
        return AWSProvider(stand_in.image_id, **options)
