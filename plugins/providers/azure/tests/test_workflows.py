"""Whole runs on the Azure stand-in's VMs: htex workers on the VMs reach the interchange over TCP with CurveZMQ
(their keys only in the custom data), the results are right, and the end of the run, by `cleanup()` or by
SIGTERM, leaves nothing it created but what the user owned before. A run SIGKILLed mid-way is cleaned up by
`parlay cleanup RUN_DIR`."""

import json
import re
import signal
import subprocess
import sys
import textwrap

import pytest

import parlay
from parlay import Config, python_app
from parlay.execution import kill_group
from parlay.testing import TIMEOUT
from parlay.testing.providers import run_cleanup, wait_for
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_azure import AzureProvider

pytestmark = pytest.mark.filterwarnings("ignore:.*a loopback address:UserWarning")  # the "other hosts" are here


def squares():
    """An app defined here, so that it travels by value: the VMs do not have the tests' modules."""

    @python_app
    def square(x):
        import os

        return x * x, os.environ["HOME"], "PARLAY_HTEX_KEYS" in os.environ

    return square


def run(azure, tmp_path, tasks, **options):
    """Run `tasks` squares on AzureProvider(**options); the results, and what Azure held half-way."""
    provider = AzureProvider(azure.vm_reference(), status_polling_interval=1, **options)
    executor = HighThroughputExecutor(address="127.0.0.1", provider=provider, max_workers_per_node=2)
    config = Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=0.5)
    square = squares()
    with parlay.load(config):
        futures = [square(n) for n in range(tasks)]
        results = [future.result(TIMEOUT) for future in futures]
        during = azure.resources()
    return results, during


def of_type(resources, kind):
    return [ident for type_, ident, _ in resources if type_ == kind]


def test_a_workflow_runs_on_vms_and_its_end_deletes_everything(azure, tmp_path):
    results, during = run(azure, tmp_path, 100, nodes_per_block=2, init_blocks=1, max_blocks=2)
    assert [value for value, _, _ in results] == [n * n for n in range(100)]
    machines = str(azure.directory / "machines")
    assert all(home.startswith(machines) for _, home, _ in results), "every task ran inside a stand-in VM"
    assert not any(keys for _, _, keys in results), "the tasks do not see the executor's keys"
    assert len(of_type(during, "Microsoft.Compute/virtualMachines")) >= 2, "a block is nodes_per_block VMs"
    assert of_type(during, "Microsoft.Resources/resourceGroups"), "parlay made a group for the run"
    assert azure.resources() == [], "no VM, network interface, disk, network or group of the run is left"
    journal = (tmp_path / "runinfo" / "000" / "jobs.jsonl").read_text()
    assert "PARLAY_HTEX_KEYS" not in journal and "secret-key" not in journal


def test_a_group_and_network_of_the_users_are_used_and_left_in_place(azure, tmp_path):
    owned = [azure.add_group("research"), azure.add_network("research", "lab", subnets=("front", "workers"))]
    results, during = run(
        azure, tmp_path, 20, group_name="research", vnet_name="lab", subnet_name="workers", public_ip=True, max_blocks=1
    )
    assert [value for value, _, _ in results] == [n * n for n in range(20)]
    assert of_type(during, "Microsoft.Network/publicIPAddresses"), "public_ip=True gives each VM an address"
    nics = of_type(during, "Microsoft.Network/networkInterfaces")
    assert nics and all("/resourceGroups/research/" in nic for nic in nics)
    assert sorted(ident for _, ident, _ in azure.resources()) == sorted(owned), "the user's own are left"


CHILD = textwrap.dedent(
    """
    import json, sys, time
    import parlay
    from parlay import Config, python_app
    from parlay_executor_htex import HighThroughputExecutor
    from parlay_provider_azure import AzureProvider

    @python_app
    def home():
        import os
        return os.environ["HOME"]

    provider = AzureProvider(json.loads(sys.argv[2]), init_blocks=2, max_blocks=2, status_polling_interval=1)
    executor = HighThroughputExecutor(address="127.0.0.1", provider=provider)
    parlay.load(Config(executors=[executor], run_dir=sys.argv[1], strategy_period=0.5))
    print("ran on", home().result(), flush=True)
    time.sleep(600)
    """
)


def start_child(azure, tmp_path):
    """A run in a child Python of its own session, once its two blocks' VMs exist and one ran a task."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    output = tmp_path / "child.out"
    with open(output, "w") as stream:
        child = subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "runinfo"), json.dumps(azure.vm_reference())],
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "ran on" in output.read_text() or child.poll() is not None, "the child's first task")
        assert child.poll() is None, output.read_text()
        wait_for(lambda: len(vms(azure)) == 2, "both blocks' VMs")
    except BaseException:
        kill_group(child.pid)
        child.wait()
        raise
    return child, output


def test_a_sigterm_ends_the_run_and_its_end_deletes_everything(azure, tmp_path):
    child, output = start_child(azure, tmp_path)
    child.send_signal(signal.SIGTERM)
    try:
        assert child.wait(TIMEOUT) == 128 + signal.SIGTERM, output.read_text()
    finally:
        kill_group(child.pid)  # whatever is left of it
    assert azure.resources() == [], output.read_text()


def test_parlay_cleanup_deletes_what_a_sigkilled_run_left(azure, tmp_path):
    child, _ = start_child(azure, tmp_path)
    kill_group(child.pid)  # the submitter and its interchange, SIGKILLed as a lost machine would be
    child.wait()
    runinfo = tmp_path / "runinfo"
    left = azure.resources()
    answer = run_cleanup(runinfo)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    journal = [json.loads(line) for line in (runinfo / "000" / "jobs.jsonl").read_text().splitlines()]
    jobs = {entry["job_id"] for entry in journal if entry["event"] == "submitted"}
    assert len(jobs) == 2
    for job in jobs:
        assert re.search(rf"{re.escape(job)}\b.*: (PENDING|RUNNING), cancelled", answer.stdout), answer.stdout
    for _, ident, _ in left:  # every other resource is reported: deleted, or gone with its VM
        kind, name = ident.split("/")[-2], ident.split("/")[-1]
        if kind != "virtualMachines":
            assert re.search(rf"\b{re.escape(name)}\b", answer.stdout), (name, answer.stdout)
    assert "deleted resource group parlay-" in answer.stdout and "deleted virtual network" in answer.stdout
    assert azure.resources() == [], "parlay cleanup leaves nothing of the run"
    again = run_cleanup(runinfo)
    assert again.returncode == 0 and "nothing to cancel" in again.stdout, again.stdout


def vms(azure):
    return of_type(azure.resources(), "Microsoft.Compute/virtualMachines")
