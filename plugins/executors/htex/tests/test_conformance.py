from parlay.testing import ExecutorConformance
from parlay_executor_htex import HighThroughputExecutor


class TestHighThroughputExecutor(ExecutorConformance):
    def make_executor(self):
        return HighThroughputExecutor(max_workers_per_node=2, heartbeat_period=1, heartbeat_threshold=5)
