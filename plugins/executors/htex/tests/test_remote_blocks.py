"""Blocks on hosts without the run's files (cloud instances, pods): the keys travel in the environment the
provider delivers, the manager connects over TCP with CurveZMQ, and no key is left on the block's host."""

import os
import shlex
import sys

import parlay
from parlay import Config, python_app
from parlay.testing import TIMEOUT
from parlay_executor_htex import HighThroughputExecutor
from parlay_executor_htex.executor import KEYS_VARIABLE
from parlay_provider_local import LocalProvider


class FarProvider(LocalProvider):
    """Local process groups that pretend not to share the filesystem: the secrets go into the block's
    environment as a cloud provider's user-data would bring them."""

    shares_filesystem = False

    def job_script(self, command, tasks_per_node, job_name):
        first, _, rest = super().job_script(command, tasks_per_node, job_name).partition("\n")
        exports = [f"export {name}={shlex.quote(value)}" for name, value in self.secret_environment.items()]
        return "\n".join([first, *exports, rest])


@python_app
def keys_left():
    """Whether a task sees the variable that brought the keys (the manager takes it out of the environment)."""
    return os.environ.get("PARLAY_HTEX_KEYS") is not None


def test_a_block_without_the_run_files_gets_the_keys_privately_and_connects_over_tcp(tmp_path):
    python_here = f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH"  # as an image with parlay has
    provider = FarProvider(worker_init=python_here)
    executor = HighThroughputExecutor(address="127.0.0.1", max_workers_per_node=1, provider=provider)
    with parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"))):
        assert keys_left().result(TIMEOUT) is False, "workers must not inherit the keys"
        command = executor._get_launch_command("7")
        assert f"--cert-env {KEYS_VARIABLE}" in command and "--cert-dir" not in command and "--ipc" not in command
        assert command.startswith("python3 "), "the block's host has its own Python"
        keys = provider.secret_environment[KEYS_VARIABLE]
        assert "secret-key" in keys and executor._cert_dir not in command
