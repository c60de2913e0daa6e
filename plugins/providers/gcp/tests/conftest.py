"""The stand-in for Compute Engine, reached through `PARLAY_GCP_ENDPOINT` (so a `parlay cleanup` child process
reaches it too), and a service-account key file it accepts."""

import pytest

from parlay_provider_gcp.provider import ENDPOINT_VARIABLE
from parlay_provider_gcp.standin import ComputeStandIn

ZONE = "us-central1-a"


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    with ComputeStandIn(tmp_path / "cloud") as server:
        monkeypatch.setenv(ENDPOINT_VARIABLE, server.url)
        yield server


@pytest.fixture
def key_file(stand_in, tmp_path):
    return str(stand_in.key_file(tmp_path / "service-account.json"))
