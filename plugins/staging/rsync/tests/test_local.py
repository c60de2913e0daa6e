"""The staging conformance suite with a local copy (hostname None): the real rsync between two folders."""

import pytest

from parlay.testing import StagingConformance
from parlay_staging_rsync import RSyncStaging


@pytest.fixture(scope="module")
def staging_server(tmp_path_factory):
    return tmp_path_factory.mktemp("rsync-remote")


class TestLocalRSync(StagingConformance):
    modes = ("in_task",)

    def make_staging(self, mode):
        return RSyncStaging(None)

    def put(self, name, data):
        (self.server / name).write_bytes(data)
        return str(self.server / name)

    def get(self, url):
        with open(url, "rb") as stream:
            return stream.read()

    def target(self, name):
        return str(self.server / name)

    def missing(self):
        return str(self.server / "not-there.txt")
