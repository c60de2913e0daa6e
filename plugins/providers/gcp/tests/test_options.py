"""Parsl's options, checked when the provider is built; what goes into each instance (its startup script for one
node, its labels from the insert on); the journaled options; the client imported only when used."""

import json
import subprocess
import sys

import pytest

from parlay.errors import ConfigurationError
from parlay.providers.cloud import BLOCK_TAG, PROVIDER_TAG, RUN_TAG
from parlay_provider_gcp import GoogleCloudProvider
from parlay_provider_gcp.provider import ENDPOINT_VARIABLE, EXIT_LINE

from .conftest import ZONE


def test_parsls_positional_options_and_defaults(key_file):
    provider = GoogleCloudProvider("my-project", key_file, ZONE, "debian-cloud", "debian-12")
    assert (provider.project_id, provider.key_file, provider.region) == ("my-project", key_file, ZONE)
    assert (provider.os_project, provider.os_family, provider.google_version) == ("debian-cloud", "debian-12", "v1")
    assert provider.instance_type == "n1-standard-1"
    assert (provider.init_blocks, provider.min_blocks, provider.max_blocks, provider.nodes_per_block) == (1, 0, 10, 1)
    assert (provider.parallelism, provider.worker_init) == (1, "")
    assert GoogleCloudProvider("p", None, ZONE, "debian-cloud", "debian-12").key_file is None, "ADC"


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("region", "us-central1", "expected a zone such as 'us-central1-a'"),
        ("key_file", "/nonexistent/key.json", "expected the path of an existing JSON key file, or None"),
        ("google_version", "beta", "expected 'v1'"),
        ("project_id", "my project", "expected a name without spaces"),
        ("instance_type", "", "expected a name without spaces"),
        ("delete_timeout", 0, "expected seconds > 0"),
    ],
)
def test_wrong_options_name_the_option_and_what_is_allowed(key_file, option, value, expected):
    options = {"project_id": "p", "key_file": key_file, "region": ZONE, "os_project": "o", "os_family": "f"}
    with pytest.raises(ConfigurationError) as info:
        GoogleCloudProvider(**{**options, option: value})
    assert f"GoogleCloudProvider.{option}={value!r}: {expected}" in str(info.value)


def test_each_instance_runs_one_nodes_script_with_the_secrets_and_its_labels(stand_in, key_file, tmp_path):
    provider = GoogleCloudProvider(
        stand_in.project, key_file, ZONE, "debian-cloud", "debian-12", nodes_per_block=3, label="batch"
    )
    provider.script_dir, provider.run_id = str(tmp_path / "scripts"), "Run-7"
    provider.secret_environment = {"PARLAY_TEST_SECRET": "s3cret value"}
    job_id = provider.submit("sleep 300", 1, "parlay.htex.block-4")
    try:
        names = job_id.split(",")
        assert len(names) == 3
        for name in names:
            instance = stand_in.instance(name)  # as inserted: labelled from the start
            labels = {RUN_TAG: "run-7", BLOCK_TAG: "parlay-htex-block-4", PROVIDER_TAG: "batch"}
            assert instance["labels"] == labels
            assert instance["disks"][0]["autoDelete"] is True
            [item] = instance["metadata"]["items"]
            script = item["value"]
            assert item["key"] == "startup-script"
            assert "export PARLAY_TEST_SECRET='s3cret value'" in script
            assert "export PARLAY_COPIES=1" in script, "each instance is one node: its launcher starts one copy"
            assert EXIT_LINE in script.splitlines()[1] and "shutdown -h now" in script.splitlines()[1]
        written = (tmp_path / "scripts" / "parlay.htex.block-4.submit").read_text()
        assert "sleep 300" in written and "s3cret" not in written
        disks = [labels for kind, _, labels in stand_in.resources() if kind == "disk"]
        assert disks == [labels] * 3
    finally:
        provider.cancel([job_id])


def test_cleanup_options_rebuild_the_provider_without_the_key(key_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    provider = GoogleCloudProvider("p", "service-account.json", ZONE, "debian-cloud", "debian-12", label="g")
    options = provider.cleanup_options()
    assert options == {
        "label": "g",
        "project_id": "p",
        "key_file": key_file,
        "region": ZONE,
        "os_project": "debian-cloud",
        "os_family": "debian-12",
        "endpoint": None,
    }, "an absolute key_file, for `parlay cleanup` from anywhere"
    assert GoogleCloudProvider(**options).cleanup_options() == options
    assert "PRIVATE KEY" not in json.dumps(options)


def test_the_endpoint_option_reaches_the_api(stand_in, key_file, tmp_path, monkeypatch):
    monkeypatch.delenv(ENDPOINT_VARIABLE)
    provider = GoogleCloudProvider("parlay-test", key_file, ZONE, "debian-cloud", "debian-12", endpoint=stand_in.url)
    provider.script_dir, provider.run_id = str(tmp_path / "scripts"), "run-8"
    job_id = provider.submit("sleep 300", 1, "parlay.htex.block-0")
    assert provider.cancel([job_id]) == [True]
    assert stand_in.resources() == []


def test_the_client_is_imported_only_when_the_provider_calls_the_api():
    code = "import sys, parlay_provider_gcp; print(sorted(m for m in sys.modules if m.startswith('google')))"
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "[]"
