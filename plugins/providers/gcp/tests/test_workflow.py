"""A workflow on HighThroughputExecutor whose blocks are Compute Engine instances (the stand-in's): the
instances' managers connect back over TCP with CurveZMQ, with the keys from their startup script; everything
the run created is deleted when it ends."""

import shlex
from pathlib import Path

import pytest

import parlay
from parlay import Config, python_app
from parlay.providers.cloud import RUN_TAG, tag_value
from parlay.testing import TIMEOUT
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_gcp import GoogleCloudProvider

from .conftest import ZONE

#: Where this test module is importable from: on the instances, as the user's image holds the user's code.
CODE = Path(__file__).resolve().parents[4]


@python_app
def square(x):
    import os

    return x * x, os.environ.get("PARLAY_HTEX_KEYS")


@pytest.mark.filterwarnings("ignore::parlay.errors.AddressWarning")  # loopback works: the instances are here
def test_a_hundred_tasks_on_instances_then_nothing_left(stand_in, key_file, tmp_path):
    provider = GoogleCloudProvider(
        stand_in.project,
        key_file,
        ZONE,
        "debian-cloud",
        "debian-12",
        nodes_per_block=2,
        max_blocks=1,
        status_polling_interval=1,
        worker_init=f"export PYTHONPATH={shlex.quote(str(CODE))}",
    )
    executor = HighThroughputExecutor(address="127.0.0.1", max_workers_per_node=2, provider=provider)
    with parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"))) as dfk:
        results = [future.result(TIMEOUT) for future in [square(x) for x in range(100)]]
        run = tag_value(dfk.run_id)
        instances = [r for r in stand_in.resources() if r[0] == "instance" and r[2][RUN_TAG] == run]
        assert len(instances) == 2, "one instance per node of the block"
        [job_id] = provider.job_names
        script = next(i["value"] for i in stand_in.instance(instances[0][1])["metadata"]["items"])
        assert "export PARLAY_HTEX_KEYS=" in script, "the keys travel in the instance's metadata"
        assert all(value.isascii() and "secret" not in value for _, _, labels in instances for value in labels.values())
        keys = provider.secret_environment["PARLAY_HTEX_KEYS"]
        written = [Path(dfk.run_dir) / "jobs.jsonl", *Path(provider.script_dir).iterdir()]
    assert [value for value, _ in results] == [x * x for x in range(100)]
    assert {keys for _, keys in results} == {None}, "workers do not inherit the keys"
    assert stand_in.resources() == [], "cleanup() deletes every instance and disk of the run"
    assert sorted(job_id.split(",")) == sorted(name for _, name, _ in instances)
    assert any(path.suffix == ".submit" for path in written), "the block's script is there to read"
    for path in written:
        assert keys not in path.read_text(errors="replace"), f"{path} holds the keys"
