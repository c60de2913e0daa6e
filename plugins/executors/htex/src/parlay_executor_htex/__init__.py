"""parlay executor plugin: the high-throughput executor (interchange, node managers, worker pools)."""

from parlay_executor_htex.executor import HighThroughputExecutor

__all__ = ["HighThroughputExecutor"]
