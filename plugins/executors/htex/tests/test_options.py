"""htex's options: Parsl's names and defaults, checked when the executor is built, and kept out of the task
path (attrs checks each assignment to an executor's attribute)."""

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import ConfigurationError
from parlay.testing import TIMEOUT
from parlay_executor_htex import HighThroughputExecutor
from parlay_provider_local import LocalProvider


@python_app
def echo(x):
    return x


def test_without_a_provider_blocks_run_on_this_machine():
    first, second = HighThroughputExecutor(), HighThroughputExecutor()
    assert isinstance(first.provider, LocalProvider)
    assert first.provider is not second.provider, "each executor has a provider of its own"
    provider = LocalProvider()
    executor = HighThroughputExecutor("mine", provider)
    assert (executor.label, executor.provider) == ("mine", provider)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"cores_per_worker": 0}, r"^HighThroughputExecutor\.cores_per_worker=0: expected cores > 0$"),
        ({"available_accelerators": "01"}, r"available_accelerators='01': expected a count or a list of device"),
        ({"available_accelerators": ["0,1"]}, r"available_accelerators=\['0,1'\]"),
        ({"worker_port_range": (5, 3)}, r"worker_port_range=\(5, 3\): expected \(low, high\) ports"),
        ({"prefetch_capacity": -1}, r"prefetch_capacity=-1: expected an integer >= 0, or None"),
        ({"drain_period": 0}, r"drain_period=0: expected seconds > 0, or None"),
        ({"encrypted": "yes"}, r"encrypted='yes': expected True or False"),
        ({"address": "my host"}, r"address='my host': expected a host name or IP address, or several, or None"),
        ({"block_error_handler": "loud"}, r"block_error_handler='loud': expected True, False or a callable"),
        ({"provider": "local"}, r"provider='local': expected a provider"),
        ({"heartbeat_period": 5, "heartbeat_threshold": 5}, r"heartbeat_threshold=5: .*more than heartbeat_period=5"),
    ],
)
def test_options_are_checked(options, error):
    with pytest.raises(ConfigurationError, match=error):
        HighThroughputExecutor(**options)


def test_an_option_assigned_later_is_checked_too():
    executor = HighThroughputExecutor()
    with pytest.raises(ConfigurationError, match="max_workers_per_node=0"):
        executor.max_workers_per_node = 0
    assert executor.max_workers_per_node is None


def test_accelerators_may_be_counted_or_named():
    """One worker per device, however many cores would allow."""
    assert HighThroughputExecutor(available_accelerators=3, cores_per_worker=0.001).workers_per_node == 3
    assert HighThroughputExecutor(available_accelerators=["gpu0", "gpu1"], cores_per_worker=0.001).workers_per_node == 2


def test_the_task_path_assigns_no_executor_attribute(tmp_path, monkeypatch):
    assigned = []
    checked_setattr = HighThroughputExecutor.__setattr__

    def record(executor, name, value):
        assigned.append(name)
        checked_setattr(executor, name, value)

    executor = HighThroughputExecutor(max_workers_per_node=2)
    with parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"))):
        echo(0).result(TIMEOUT)  # the block is up
        monkeypatch.setattr(HighThroughputExecutor, "__setattr__", record)
        assert [f.result(TIMEOUT) for f in [echo(i) for i in range(200)]] == list(range(200))
        for i in range(20):  # one at a time: each is a batch of its own, both ways
            assert echo(i).result(TIMEOUT) == i
        monkeypatch.undo()
    assert assigned == []
