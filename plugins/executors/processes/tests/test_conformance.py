from parlay.testing import ExecutorConformance
from parlay_executor_processes import ProcessExecutor


class TestProcessExecutor(ExecutorConformance):
    def make_executor(self):
        return ProcessExecutor(label="processes", max_workers=2)
