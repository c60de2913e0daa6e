"""The executor conformance suite on a local cluster of two worker processes, and on an external scheduler
(a `dask scheduler` and two `dask worker` processes started as real subprocesses)."""

import pytest

from parlay.testing import ExecutorConformance
from parlay_executor_dask import DaskExecutor


class TestLocalCluster(ExecutorConformance):
    def make_executor(self):
        return DaskExecutor(n_workers=2)


class TestExternalScheduler(ExecutorConformance):
    @pytest.fixture(autouse=True)
    def _address(self, external_scheduler):
        self.address = external_scheduler

    def make_executor(self):
        return DaskExecutor(address=self.address)
