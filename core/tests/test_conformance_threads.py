from parlay.executors.threads import ThreadPoolExecutor
from parlay.testing import ExecutorConformance


class TestThreadPoolExecutor(ExecutorConformance):
    def make_executor(self):
        return ThreadPoolExecutor(label="threads", max_threads=4)
