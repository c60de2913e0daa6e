"""The Azure stand-in for every test here: its variables are set with monkeypatch, so that a `parlay cleanup`
child process reaches it too."""

import pytest

from parlay_provider_azure.standin import AzureStandIn


@pytest.fixture
def azure(tmp_path, monkeypatch):
    with AzureStandIn(tmp_path / "azure") as stand_in:
        for name, value in stand_in.environment().items():
            monkeypatch.setenv(name, value)
        yield stand_in
