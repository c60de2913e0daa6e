"""parlay executor plugin: apps on a Dask cluster (an existing scheduler, a local cluster, or workers in
provider blocks)."""

from parlay_executor_dask.executor import DaskExecutor
from parlay_executor_dask.noblocks import NoBlocks

__all__ = ["DaskExecutor", "NoBlocks"]
