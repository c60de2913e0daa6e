import pytest

from parlay.testing import ExecutorConformance
from parlay_executor_htex import HighThroughputExecutor


class TestHighThroughputExecutor(ExecutorConformance):
    def make_executor(self):
        return HighThroughputExecutor(max_workers_per_node=2, heartbeat_period=1, heartbeat_threshold=5)


class TestManagersOverTcp(ExecutorConformance):
    """Managers as from other hosts: ZeroMQ over TCP, CurveZMQ-encrypted."""

    @pytest.fixture(autouse=True)
    def _launch_cmd(self, tcp_launch_cmd):
        self.launch_cmd = tcp_launch_cmd

    def make_executor(self):
        return HighThroughputExecutor(
            max_workers_per_node=2, heartbeat_period=0.5, heartbeat_threshold=2, launch_cmd=self.launch_cmd
        )
