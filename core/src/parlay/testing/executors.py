"""`ExecutorConformance`: the mini-workflow suite every executor plugin's tests inherit.

A plugin's test module subclasses it and supplies the executor::

    class TestMyExecutor(ExecutorConformance):
        def make_executor(self):
            return MyExecutor(label="mine", workers=2)

Every test runs a small workflow through the public API (apps, futures, `parlay.load`) on that executor.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import CancelledError, Future

import pytest

import parlay
from parlay import File
from parlay.errors import AppTimeout, BashExitFailure, DependencyError, JoinError, MissingOutputs
from parlay.executors.base import ParlayExecutor
from parlay.testing import processes
from parlay.testing import workflow_apps as apps

#: Generous: only a hang should ever reach it.
TIMEOUT = 60


class ExecutorConformance:
    """Inherited tests: DAGs, failures, retries, bash apps, files, join apps, memoization, cancellation."""

    def make_executor(self) -> ParlayExecutor:
        raise NotImplementedError("a conformance subclass must return a fresh executor")

    def make_config(self, tmp_path: os.PathLike, **options: object) -> parlay.Config:
        return parlay.Config(executors=[self.make_executor()], run_dir=os.path.join(tmp_path, "runinfo"), **options)

    @pytest.fixture
    def dfk(self, tmp_path):
        with parlay.load(self.make_config(tmp_path)) as kernel:
            yield kernel

    @pytest.fixture
    def retrying_dfk(self, tmp_path):
        with parlay.load(self.make_config(tmp_path, retries=2)) as kernel:
            yield kernel

    # --- graphs -----------------------------------------------------------------------------------

    def test_one_task(self, dfk):
        assert apps.identity(42).result(TIMEOUT) == 42

    def test_many_independent_tasks(self, dfk):
        futures = [apps.identity(i) for i in range(200)]
        assert [f.result(TIMEOUT) for f in futures] == list(range(200))

    def test_submission_from_several_threads(self, dfk):
        """Four threads submit at once, each chaining on its own results: every result right, none lost."""
        results: dict[int, list] = {}

        def submit(worker: int) -> None:
            futures = [apps.add(worker * 1000, i) for i in range(100)]
            results[worker] = [f.result(TIMEOUT) for f in futures] + [apps.add(*futures[:3]).result(TIMEOUT)]

        threads = [threading.Thread(target=submit, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT * 2)
        for worker in range(4):
            expected = [worker * 1000 + i for i in range(100)]
            assert results.get(worker) == [*expected, sum(expected[:3])]

    def test_diamond(self, dfk):
        top = apps.identity(1)
        left, right = apps.add(top, 10), apps.add(top, 100)
        assert apps.add(left, right).result(TIMEOUT) == 112

    def test_map_reduce(self, dfk):
        mapped = [apps.add(i, i) for i in range(20)]
        assert apps.add(*mapped).result(TIMEOUT) == sum(2 * i for i in range(20))

    def test_chain(self, dfk):
        future = apps.identity(0)
        for _ in range(50):
            future = apps.add(future, 1)
        assert future.result(TIMEOUT) == 50

    def test_foreign_future_is_a_dependency(self, dfk):
        gate: Future = Future()
        task = apps.add(gate, 1)
        assert task.task_status() == "pending"
        gate.set_result(41)
        assert task.result(TIMEOUT) == 42

    def test_lifted_item_and_attribute(self, dfk):
        mapping = apps.record({"k": "v"})
        assert mapping["a"]["k"].result(TIMEOUT) == "v"
        assert apps.identity(3 + 4j).real.result(TIMEOUT) == 3

    def test_task_states(self, dfk):
        ok, bad = apps.identity(1), apps.fail()
        ok.result(TIMEOUT)
        with pytest.raises(ValueError):
            bad.result(TIMEOUT)
        parlay.wait_for_current_tasks()
        assert ok.task_status() == "exec_done"
        assert bad.task_status() == "failed"

    # --- failures ---------------------------------------------------------------------------------

    def test_exception_keeps_type_and_message(self, dfk):
        with pytest.raises(KeyError, match="missing key"):
            apps.fail("missing key", KeyError).result(TIMEOUT)

    def test_dependency_failure_names_root_cause(self, dfk):
        root = apps.fail("root cause")
        middle = apps.add(root, 1)
        leaf = apps.add(middle, 1)
        with pytest.raises(DependencyError) as info:
            leaf.result(TIMEOUT)
        text = str(info.value)
        assert f"task {middle.tid} <- task {root.tid}" in text
        assert "root cause" in text
        assert isinstance(info.value.__cause__, ValueError)
        assert middle.task_status() == leaf.task_status() == "dep_fail"

    def test_retries_until_success(self, retrying_dfk, tmp_path):
        counter = os.path.join(tmp_path, "calls")
        assert apps.fail_until(counter, 2).result(TIMEOUT) == 3

    def test_retries_exhausted(self, retrying_dfk, tmp_path):
        counter = os.path.join(tmp_path, "calls")
        with pytest.raises(RuntimeError, match="failure 3"):
            apps.fail_until(counter, 5).result(TIMEOUT)
        assert os.path.getsize(counter) == 3

    def test_python_walltime(self, dfk):
        started = time.monotonic()
        with pytest.raises(AppTimeout):
            apps.python_sleep(30, walltime=0.5).result(TIMEOUT)
        assert time.monotonic() - started < 25
        assert apps.python_sleep(0, walltime=30).result(TIMEOUT) == "finished"

    # --- bash apps and files ----------------------------------------------------------------------

    def test_bash_stdout_and_stderr(self, dfk, tmp_path):
        out, err = os.path.join(tmp_path, "out.txt"), os.path.join(tmp_path, "err.txt")
        assert apps.echo("hello", stdout=out, stderr=(err, "w")).result(TIMEOUT) == 0
        assert open(out).read() == "hello\n"
        assert open(err).read() == "to-stderr hello\n"

    def test_bash_auto_logname(self, dfk):
        future = apps.echo("auto", stdout=parlay.AUTO_LOGNAME, stderr=parlay.AUTO_LOGNAME)
        future.result(TIMEOUT)
        assert future.stdout.startswith(dfk.run_dir)
        assert open(future.stdout).read() == "auto\n"
        assert "to-stderr" in open(future.stderr).read()

    def test_bash_exit_code(self, dfk):
        with pytest.raises(BashExitFailure) as info:
            apps.exit_with(3).result(TIMEOUT)
        assert info.value.exitcode == 3
        assert "exit code 3" in str(info.value)

    def test_bash_walltime_kills_process_group(self, dfk, tmp_path):
        pid_file = os.path.join(tmp_path, "pid")
        with pytest.raises(AppTimeout):
            apps.sleep_in_background(pid_file, walltime=1).result(TIMEOUT)
        pid = int(open(pid_file).read())
        deadline = time.monotonic() + TIMEOUT
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(pid), "the background command outlived the walltime"

    def test_missing_outputs(self, dfk, tmp_path):
        with pytest.raises(MissingOutputs) as info:
            apps.claim_outputs(outputs=[File(os.path.join(tmp_path, "never.txt"))]).result(TIMEOUT)
        assert "never.txt" in str(info.value)

    def test_files_flow_between_apps(self, dfk, tmp_path):
        first = apps.write_output("one ", outputs=[File(os.path.join(tmp_path, "a.txt"))])
        second = apps.write_output("two", outputs=[File(os.path.join(tmp_path, "b.txt"))])
        both = apps.concatenate(
            inputs=[first.outputs[0], second.outputs[0]], outputs=[File(os.path.join(tmp_path, "ab.txt"))]
        )
        contents = apps.read_inputs(inputs=[both.outputs[0]])
        assert contents.result(TIMEOUT) == ["one two"]
        assert both.outputs[0].result(TIMEOUT).filepath == os.path.join(tmp_path, "ab.txt")

    # --- join apps, memoization, cancellation -----------------------------------------------------

    def test_join_app_list(self, dfk):
        assert apps.fan_out(5).result(TIMEOUT) == [0, 1, 2, 3, 4]

    def test_join_app_single(self, dfk):
        assert apps.chain_join(1).result(TIMEOUT) == 2

    def test_join_app_failure(self, dfk):
        with pytest.raises(JoinError, match="inner failure"):
            apps.join_failing().result(TIMEOUT)

    def test_memoization(self, tmp_path):
        counter = os.path.join(tmp_path, "calls")
        memoized = parlay.python_app(apps.count_calls.func, cache=True)
        with parlay.load(self.make_config(tmp_path)):
            first = memoized(counter, 21)
            assert first.result(TIMEOUT) == 42
            second = memoized(counter, 21)
            assert second.result(TIMEOUT) == 42
            assert second.task_status() == "memo_done"
            assert memoized(counter, 1).result(TIMEOUT) == 2
        assert os.path.getsize(counter) == 2

    def test_cancel_task_that_has_not_started(self, dfk):
        gate: Future = Future()
        waiting = apps.add(gate, 1)
        dependent = apps.add(waiting, 1)
        assert waiting.cancel()
        assert waiting.cancelled()
        with pytest.raises(CancelledError):
            waiting.result(TIMEOUT)
        with pytest.raises(DependencyError, match="cancelled"):
            dependent.result(TIMEOUT)
        gate.set_result(1)
        assert apps.identity(5).result(TIMEOUT) == 5

    def test_cancel_finished_task_fails(self, dfk):
        done = apps.identity(1)
        done.result(TIMEOUT)
        assert not done.cancel()
        assert done.result() == 1


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    return processes.alive(pid)
