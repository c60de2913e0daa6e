"""The staging conformance suite through the SDK and the fake Transfer service: each stage-in and stage-out a
task of its own, which submits a Globus transfer task between the remote endpoint and the executors' one."""

import pytest

from parlay.testing import StagingConformance
from parlay_staging_globus import GlobusStaging

from .conftest import CLUSTER, REMOTE


@pytest.fixture(scope="module")
def staging_server(transfer_service):
    return transfer_service


class TestGlobusStaging(StagingConformance):
    modes = ("separate",)

    def make_staging(self, mode):
        return GlobusStaging(
            CLUSTER,
            f"/{self.server.base.name}",
            str(self.server.base),
            transfer_token=self.server.token,
            polling_interval=0.05,
            timeout=60,
        )

    def put(self, name, data):
        (self.server.remote / name).write_bytes(data)
        return f"globus://{REMOTE}/{name}"

    def get(self, url):
        return (self.server.remote / url.rpartition("/")[2]).read_bytes()

    def target(self, name):
        return f"globus://{REMOTE}/{name}"

    def missing(self):
        return f"globus://{REMOTE}/not-there.txt"
