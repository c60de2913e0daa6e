"""The DataFlowKernel's lifecycle, configuration, dependency resolution, retries and garbage collection."""

import os
from concurrent.futures import Future

import pytest

import parlay
from parlay import Config, python_app
from parlay.dataflow.states import States
from parlay.errors import (
    ConfigurationError,
    DependencyError,
    ExecutorError,
    NoDataFlowKernelError,
    TaskCancelled,
)
from parlay.executors.threads import ThreadPoolExecutor

TIMEOUT = 60


@python_app
def add(a, b=0):
    return a + b


@python_app
def fail(message):
    raise RuntimeError(message)


@python_app
def total(values):
    return sum(values)


@python_app
def wait_on(gate_path):
    import time

    while not os.path.exists(gate_path):
        time.sleep(0.01)
    return "released"


def test_default_config_runs_on_threads(run_dir):
    with parlay.load(Config(run_dir=run_dir)) as dfk:
        assert add(1, 2).result(TIMEOUT) == 3
        assert list(dfk.executors) == ["threads", "_parlay_internal"]
        assert os.path.basename(dfk.run_dir) == "000"
        assert os.path.exists(os.path.join(dfk.run_dir, "parlay.log"))


def test_run_dirs_are_numbered(run_dir):
    for expected in ("000", "001", "002"):
        dfk = parlay.load(Config(run_dir=run_dir))
        assert os.path.basename(dfk.run_dir) == expected
        dfk.cleanup()


def test_load_twice_is_an_error(run_dir):
    with parlay.load(Config(run_dir=run_dir)), pytest.raises(ConfigurationError, match="already been loaded"):
        parlay.load(Config(run_dir=run_dir))


def test_no_kernel_loaded():
    with pytest.raises(NoDataFlowKernelError, match=r"parlay\.load"):
        parlay.dfk()
    with pytest.raises(NoDataFlowKernelError):
        add(1)


def test_cleanup_is_idempotent_and_submit_after_it_fails(run_dir):
    dfk = parlay.load(Config(run_dir=run_dir))
    dfk.cleanup()
    dfk.cleanup()
    with pytest.raises(NoDataFlowKernelError, match="cleaned up"):
        dfk.submit(add, (1,), {})


def test_cleanup_fails_unfinished_tasks_instead_of_hanging(run_dir, tmp_path):
    dfk = parlay.load(Config(run_dir=run_dir))
    gate: Future = Future()
    waiting = add(gate, 1)
    dfk.cleanup()
    with pytest.raises(TaskCancelled, match="cleaned up"):
        waiting.result(TIMEOUT)


def test_exit_mode_wait_waits_for_tasks(run_dir, tmp_path):
    gate = tmp_path / "gate"
    with parlay.load(Config(run_dir=run_dir, exit_mode="wait")):
        future = wait_on(str(gate))
        gate.touch()
    assert future.result(0) == "released"


def test_exit_mode_skip_leaves_kernel_loaded(run_dir):
    with parlay.load(Config(run_dir=run_dir, exit_mode="skip")) as dfk:
        pass
    assert parlay.dfk() is dfk
    dfk.cleanup()
    with pytest.raises(NoDataFlowKernelError):
        parlay.dfk()


def test_cleaning_up_another_kernel_leaves_the_current_one(run_dir):
    with parlay.load(Config(run_dir=run_dir)) as loaded:
        parlay.DataFlowKernel(Config(run_dir=run_dir)).cleanup()
        assert parlay.dfk() is loaded
        assert add(1, 2).result(TIMEOUT) == 3


def test_wait_for_current_tasks(run_dir):
    with parlay.load(Config(run_dir=run_dir)):
        futures = [add(i) for i in range(100)]
        parlay.wait_for_current_tasks()
        assert all(f.done() for f in futures)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exit_mode": "later"}, "Config.exit_mode='later': allowed values are 'cleanup', 'skip', 'wait'"),
        ({"checkpoint_mode": "sometimes"}, "Config.checkpoint_mode='sometimes': allowed values are None"),
        ({"strategy": "fast"}, "allowed values are 'simple', 'htex_auto_scale', 'none'"),
        ({"dependency_resolver": "deeper"}, "allowed values are 'shallow', 'deep'"),
        ({"retries": -1}, "Config.retries=-1: expected a number >= 0"),
        ({"internal_tasks_max_threads": 0}, "expected an integer >= 1"),
        ({"retry_handler": 3}, "Config.retry_handler=3: expected a callable"),
        ({"checkpoint_period": "soon"}, "Config.checkpoint_period='soon': expected seconds or 'HH:MM:SS'"),
        ({"checkpoint_mode": "periodic"}, "checkpoint_period is required"),
        ({"checkpoint_files": "runinfo/000"}, "expected a list of checkpoint directories"),
        ({"retires": 2}, "Config has no field 'retires'; did you mean 'retries'?"),
        ({"executors": ["threads"]}, "is not an executor"),
    ],
)
def test_config_errors_name_the_field(options, message):
    with pytest.raises(ConfigurationError) as info:
        Config(**options)
    assert message in str(info.value)


def test_config_validates_assignment():
    config = Config()
    config.retries = 3
    with pytest.raises(ConfigurationError, match="exit_mode"):
        config.exit_mode = "never"


def test_duplicate_executor_labels():
    with pytest.raises(ConfigurationError, match="label 'x' is used twice"):
        Config(executors=[ThreadPoolExecutor(label="x"), ThreadPoolExecutor(label="x")])


def test_thread_pool_settings_are_checked():
    with pytest.raises(ConfigurationError, match=r"^ThreadPoolExecutor\.max_threads=0: expected an integer >= 1$"):
        ThreadPoolExecutor(max_threads=0)
    executor = ThreadPoolExecutor("mine", 3)
    assert (executor.label, executor.max_threads, executor.thread_name_prefix) == ("mine", 3, ""), "Parsl's order"
    with pytest.raises(TypeError):
        ThreadPoolExecutor(run_dir="elsewhere")  # runtime state is no option


def test_thread_pool_task_path_assigns_no_attribute(run_dir, monkeypatch):
    """attrs checks each assignment to an executor's attribute: running tasks makes none."""
    assigned = []
    checked_setattr = ThreadPoolExecutor.__setattr__

    def record(executor, name, value):
        assigned.append(name)
        checked_setattr(executor, name, value)

    with parlay.load(Config(run_dir=run_dir)):
        monkeypatch.setattr(ThreadPoolExecutor, "__setattr__", record)
        assert [f.result(TIMEOUT) for f in [add(i) for i in range(100)]] == list(range(100))
        monkeypatch.undo()
    assert assigned == []


def test_thread_pool_rejects_resource_specification(run_dir):
    with parlay.load(Config(run_dir=run_dir)):
        future = add(1, parsl_resource_specification={"cores": 2})
        with pytest.raises(ExecutorError, match=r"\['cores'\] are not supported"):
            future.result(TIMEOUT)


def test_unknown_executor_label(run_dir):
    @python_app(executors=["gpu"])
    def on_gpu():
        return 1

    with parlay.load(Config(run_dir=run_dir)), pytest.raises(ConfigurationError, match=r"\['gpu'\]"):
        on_gpu()


def test_apps_pick_among_their_executors(run_dir):
    @python_app(executors=["b"])
    def where():
        import threading

        return threading.current_thread().name

    config = Config(executors=[ThreadPoolExecutor(label="a"), ThreadPoolExecutor(label="b")], run_dir=run_dir)
    with parlay.load(config):
        assert where().result(TIMEOUT).startswith("parlay-b")


def test_executor_that_fails_to_start_is_named(run_dir):
    class Broken(ThreadPoolExecutor):
        def _start(self):
            raise OSError("no workers today")

    with pytest.raises(OSError, match="no workers today") as info:
        parlay.load(Config(executors=[Broken(label="broken")], run_dir=run_dir))
    assert "executor 'broken' (Broken)" in "".join(getattr(info.value, "__notes__", []))
    with pytest.raises(NoDataFlowKernelError):
        parlay.dfk()


def test_deep_dependency_resolution(run_dir):
    with parlay.load(Config(run_dir=run_dir, dependency_resolver="deep")):
        nested = [add(1), (add(2), add(3))]
        assert total([add(nested[0], 0), add(nested[1][0]), add(nested[1][1])]).result(TIMEOUT) == 6

        @python_app
        def keys(mapping):
            return sorted(mapping.items())

        assert keys({add(1): add(10)}).result(TIMEOUT) == [(1, 10)]


def test_shallow_resolution_leaves_nested_futures(run_dir):
    @python_app
    def kinds(values):
        return [type(v).__name__ for v in values]

    with parlay.load(Config(run_dir=run_dir)):
        assert kinds([add(1)]).result(TIMEOUT) == ["AppFuture"]


def test_dependency_error_lists_every_failed_dependency(run_dir):
    with parlay.load(Config(run_dir=run_dir)):
        a, b = fail("first"), fail("second")
        both = add(a, b)
        with pytest.raises(DependencyError) as info:
            both.result(TIMEOUT)
        assert "(+ others)" in str(info.value)
        assert [tid for _, tid in info.value.dependent_exceptions_tids] == [f"task {a.tid}", f"task {b.tid}"]


def test_dependency_failures_are_not_retried(run_dir):
    attempts = []

    @python_app
    def counted(x):
        attempts.append(x)
        return x

    with parlay.load(Config(run_dir=run_dir, retries=3)), pytest.raises(DependencyError):
        counted(fail("x")).result(TIMEOUT)
    assert attempts == []


def test_retry_handler_cost(run_dir):
    attempts = []

    @python_app
    def flaky():
        attempts.append(1)
        raise RuntimeError("flaky")

    seen = []

    def expensive(exc, record):
        seen.append((type(exc).__name__, record["fail_count"]))
        return 2

    with (
        parlay.load(Config(run_dir=run_dir, retries=4, retry_handler=expensive)),
        pytest.raises(RuntimeError, match="flaky"),
    ):
        flaky().result(TIMEOUT)
    assert len(attempts) == 3  # costs 2, 4 are within 4 retries; 6 is not
    assert seen == [("RuntimeError", 1), ("RuntimeError", 2), ("RuntimeError", 3)]


def test_retry_handler_failure_stops_retrying(run_dir):
    def broken_handler(exc, record):
        raise LookupError("handler broke")

    with (
        parlay.load(Config(run_dir=run_dir, retries=5, retry_handler=broken_handler)),
        pytest.raises(LookupError, match="handler broke") as info,
    ):
        fail("original").result(TIMEOUT)
    assert "original" in str(info.value.__context__)


def test_finished_task_records_are_released(run_dir):
    with parlay.load(Config(run_dir=run_dir)) as dfk:
        futures = [add(i) for i in range(500)]
        parlay.wait_for_current_tasks()
        assert dfk.tasks == {}
        assert dfk.task_state_counts[States.exec_done] == 500
        assert futures[0].task_record.args == ()


def test_records_kept_without_garbage_collection(run_dir):
    with parlay.load(Config(run_dir=run_dir, garbage_collect=False)) as dfk:
        add(1).result(TIMEOUT)
        parlay.wait_for_current_tasks()
        assert [r.status for r in dfk.tasks.values()] == [States.exec_done]


def test_long_failing_chain_does_not_recurse(run_dir):
    with parlay.load(Config(run_dir=run_dir)):
        gate: Future = Future()
        future = add(gate)
        for _ in range(5000):
            future = add(future)
        gate.set_exception(RuntimeError("at the root"))
        with pytest.raises(DependencyError, match="at the root"):
            future.result(TIMEOUT)


def test_task_state_events_reach_plugins(run_dir):
    from parlay.plugins import hookimpl

    class Recorder:
        def __init__(self):
            self.events = []

        @hookimpl
        def parlay_task_state_changed(self, task_id, old_state, new_state):
            self.events.append((task_id, old_state, new_state))

    recorder = Recorder()
    with parlay.load(Config(run_dir=run_dir, plugins=[recorder])):
        add(1).result(TIMEOUT)
        parlay.wait_for_current_tasks()
    assert recorder.events == [(0, None, "pending"), (0, "pending", "launched"), (0, "launched", "exec_done")]
