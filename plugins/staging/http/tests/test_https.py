"""HTTPS with a certificate from a CA the tests make: trusted through `ca_bundle`, refused without it."""

from __future__ import annotations

import os

import pytest

from parlay import File
from parlay.errors import StagingError
from parlay.staging.transfer import fetch
from parlay.testing import StageInConformance
from parlay_staging_http import HTTPInTaskStaging, HTTPSeparateTaskStaging


@pytest.fixture(scope="module")
def staging_server(https_site, certificates):
    return https_site, certificates[0]


class TestHTTPSStaging(StageInConformance):
    """The stage-in round trips over https, on the thread executor."""

    modes = ("separate", "in_task")
    executor_kinds = ("threads",)

    def make_staging(self, mode):
        ca = self.server[1]
        cls = HTTPSeparateTaskStaging if mode == "separate" else HTTPInTaskStaging
        return cls(ca_bundle=ca, timeout=30)

    def put(self, name, data):
        return self.server[0].put(name, data)

    def missing(self):
        return self.server[0].url("secure/not-there.txt")


def fetch_bytes(staging, url, folder) -> bytes:
    fetch(staging, File(url), str(folder / "got"))
    return (folder / "got").read_bytes()


def test_trusted_through_ca_bundle(https_site, certificates, tmp_path):
    url = https_site.put("secure/hello.txt", b"over TLS\n")
    assert fetch_bytes(HTTPSeparateTaskStaging(ca_bundle=certificates[0]), url, tmp_path) == b"over TLS\n"
    assert HTTPInTaskStaging(ca_bundle=certificates[0]).version(File(url)).startswith("etag")


def test_refused_without_it(https_site, tmp_path):
    url = https_site.put("secure/refused.txt", b"x")
    with pytest.raises(StagingError) as info:
        fetch(HTTPSeparateTaskStaging(), File(url), str(tmp_path / "got"))
    message = str(info.value)
    assert url in message
    assert "TLS certificate verification failed: unable to get local issuer certificate" in message
    assert "ca_bundle=" in message
    assert os.listdir(tmp_path) == []


def test_a_certificate_for_another_name(https_site, certificates, tmp_path):
    """The certificate names 127.0.0.1 only: `localhost`, the same host by another name, is refused."""
    url = https_site.put("secure/name.txt", b"x").replace("127.0.0.1", "localhost")
    with pytest.raises(StagingError, match=r"TLS certificate verification failed: .*(mismatch|match)"):
        fetch(HTTPSeparateTaskStaging(ca_bundle=certificates[0]), File(url), str(tmp_path / "got"))


def test_verify_false_skips_the_checks(https_site, tmp_path):
    url = https_site.put("secure/unchecked.txt", b"unchecked\n")
    assert fetch_bytes(HTTPSeparateTaskStaging(verify=False), url, tmp_path) == b"unchecked\n"


def test_an_unreadable_ca_bundle(https_site, tmp_path):
    url = https_site.put("secure/nobundle.txt", b"x")
    missing = str(tmp_path / "no-such-ca.pem")
    with pytest.raises(StagingError, match=r"ca_bundle='.*no-such-ca.pem': cannot load it"):
        fetch(HTTPSeparateTaskStaging(ca_bundle=missing), File(url), str(tmp_path / "got"))
