"""The staging conformance suite against a real rsync daemon on loopback, whose module serves a folder
(`module_path`): Files are paths under that folder."""

import pytest

from parlay.testing import StagingConformance
from parlay_staging_rsync import RSyncStaging


@pytest.fixture(scope="module")
def staging_server(rsync_daemon):
    return rsync_daemon


class TestDaemonRSync(StagingConformance):
    modes = ("in_task",)

    def make_staging(self, mode):
        return RSyncStaging(self.server.url, module_path=str(self.server.share))

    def put(self, name, data):
        (self.server.share / name).write_bytes(data)
        return str(self.server.share / name)

    def get(self, url):
        with open(url, "rb") as stream:
            return stream.read()

    def target(self, name):
        return str(self.server.share / name)

    def missing(self):
        return str(self.server.share / "not-there.txt")
