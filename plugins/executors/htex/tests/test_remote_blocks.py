"""Blocks on other hosts without the run's files (cloud instances, pods, cluster nodes): the keys travel in the
environment the provider delivers; managers are given every address of the submitting host (or the user's
list) and use the first that answers, and a block that reaches none fails naming those it tried."""

import os
import shlex
import sys

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import AddressWarning, BadStateException
from parlay.testing import TIMEOUT
from parlay_executor_htex import HighThroughputExecutor
from parlay_executor_htex.executor import KEYS_VARIABLE
from parlay_provider_local import LocalProvider

#: Addresses that answer nothing (TEST-NET-2 and -3): connections to them time out or are refused.
NOWHERE = ("198.51.100.9", "203.0.113.7")


class FarProvider(LocalProvider):
    """Local process groups that pretend to run elsewhere, on hosts without the run's files: the secrets go into
    the block's environment as a cloud provider's user-data would bring them."""

    shares_filesystem = False
    blocks_on_this_host = False

    def job_script(self, command, tasks_per_node, job_name, nodes=None):
        first, _, rest = super().job_script(command, tasks_per_node, job_name, nodes).partition("\n")
        exports = [f"export {name}={shlex.quote(value)}" for name, value in self.secret_environment.items()]
        return "\n".join([first, *exports, rest])


def far_provider(**options):
    python_here = f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH"  # as an image with parlay has
    return FarProvider(worker_init=python_here, **options)


def config(tmp_path, **options):
    executor = HighThroughputExecutor(max_workers_per_node=1, provider=far_provider(), **options)
    return Config(executors=[executor], run_dir=str(tmp_path / "runinfo"))


@python_app
def keys_seen():
    """Whether a task sees the variable that brought the keys (the manager takes it out of the environment)."""
    return os.environ.get("PARLAY_HTEX_KEYS") is not None


def manager_logs(logdir):
    texts = []
    for folder, _, files in os.walk(logdir):
        texts += [open(os.path.join(folder, f)).read() for f in files if f == "manager.log"]
    return "\n".join(texts)


def test_a_block_without_the_run_files_gets_the_keys_privately_and_connects_over_tcp(tmp_path):
    with parlay.load(config(tmp_path)) as dfk:
        executor = dfk.executors["htex"]
        assert keys_seen().result(TIMEOUT) is False, "workers must not inherit the keys"
        command = executor._get_launch_command("7")
        assert f"--cert-env {KEYS_VARIABLE}" in command and "--cert-dir" not in command and "--ipc" not in command
        assert command.startswith("python3 "), "the block's host has its own Python"
        keys = executor.provider.secret_environment[KEYS_VARIABLE]
        assert "secret-key" in keys and executor._cert_dir not in command


def test_managers_get_every_address_of_this_host_by_default(tmp_path):
    addresses = parlay.addresses.get_all_addresses()
    with parlay.load(config(tmp_path)) as dfk:
        assert keys_seen().result(TIMEOUT) is False
        command = dfk.executors["htex"]._get_launch_command("7")
    assert f"--addresses {','.join(addresses)}" in command


def test_a_manager_uses_the_one_address_that_answers(tmp_path):
    logs = str(tmp_path / "logs")  # on a block's host, managers log under /tmp unless told
    with parlay.load(config(tmp_path, address=f"{NOWHERE[0]},127.0.0.3,{NOWHERE[1]}", worker_logdir_root=logs)):
        assert keys_seen().result(TIMEOUT) is False
        assert "the interchange answers at 127.0.0.3" in manager_logs(logs)


def test_a_block_that_reaches_no_address_fails_naming_those_it_tried(tmp_path):
    options = {"address": ",".join(NOWHERE), "address_probe_timeout": 2, "block_error_threshold": 1}
    with parlay.load(config(tmp_path, **options)), pytest.raises(BadStateException) as info:
        keys_seen().result(TIMEOUT)
    text = str(info.value)
    assert "cannot reach the interchange at any address tried for 2 s" in text
    for address in NOWHERE:
        assert address in text


def test_only_loopback_addresses_for_blocks_elsewhere_is_warned_at_load(tmp_path, monkeypatch):
    monkeypatch.setattr("parlay_executor_htex.executor.get_all_addresses", lambda: ["127.0.0.1"])
    with pytest.warns(AddressWarning, match="a loopback address, but FarProvider runs blocks on other hosts"):
        dfk = parlay.load(config(tmp_path))
    with dfk:
        assert keys_seen().result(TIMEOUT) is False  # here the loopback address works, as the warning cannot know
