"""The DataFlowKernel: owns the task table, resolves dependencies, launches tasks, settles their futures."""

from __future__ import annotations

import collections
import itertools
import logging
import operator
import os
import random
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from concurrent.futures import CancelledError, Future
from functools import partial
from types import MappingProxyType
from typing import Any

from parlay.apps import AUTO_LOGNAME, AppBase, PythonApp
from parlay.config import Config, parse_duration
from parlay.dataflow import current, interrupts
from parlay.dataflow.dependencies import RESOLVERS
from parlay.dataflow.memoization import Memoizer, get_all_checkpoints
from parlay.dataflow.rundirs import make_run_dir
from parlay.dataflow.states import FAILURE_STATES, FINAL_STATES, States
from parlay.dataflow.strategy import Strategy
from parlay.dataflow.taskrecord import TaskRecord
from parlay.errors import (
    ConfigurationError,
    DependencyError,
    JoinError,
    NoDataFlowKernelError,
    RunFileWarning,
    TaskCancelled,
    UnhashableArgument,
)
from parlay.execution import ProbedRunner, kill_running_commands
from parlay.executors.base import ParlayExecutor
from parlay.executors.blocks import BlockProviderExecutor
from parlay.executors.threads import ThreadPoolExecutor
from parlay.futures import AppFuture
from parlay.staging.manager import DataManager

logger = logging.getLogger(__name__)

INTERNAL_EXECUTOR = "_parlay_internal"
#: The empty mapping every task without keyword arguments or resource specification shares.
_NOTHING: Mapping[str, Any] = MappingProxyType({})
_TASK_LOGS_PER_DIR = 10_000
#: How many task functions with probes the kernel keeps, each sent once to executors that cache functions.
_PROBED_RUNNERS = 1024
#: States of tasks no executor holds: at cleanup they are dropped first, so their dependents are dropped too.
_WAITING = frozenset({States.pending, States.joining})


class DataFlowKernel:
    """Runs a workflow: create one with `parlay.load(config)` (or directly), submit by calling apps."""

    def __init__(self, config: Config | None = None):
        self.config = config = config if config is not None else Config()
        # deferred: the plugin manager imports pluggy, which importing parlay (even `parlay.load`) must not load
        from parlay import progress
        from parlay.plugins.manager import get_hooks

        #: This run's hooks: every installed plugin bar those the config disables, plus `config.plugins`.
        run_plugins = [*config.plugins, *([config.monitoring] if config.monitoring is not None else [])]
        self.hooks = get_hooks().for_run(run_plugins, config.disable_plugins)
        try:
            self.hooks.configure(config=config)  # site plugins check or adjust the config first
            self.run_dir = make_run_dir(config.run_dir)  # a folder it cannot write to is a ConfigurationError
            progress.attach(self.hooks, config.progress)  # the progress display, when on (parlay.progress)
        except BaseException:
            self.hooks.close()
            raise
        self.run_id = str(uuid.uuid4())
        self.data_manager = DataManager(self)
        self._log_handler = _start_logging(self.run_dir) if config.initialize_logging else None
        logger.info("parlay run %s starting in %s", self.run_id, self.run_dir)

        self._lock = threading.Lock()
        self._done = threading.Condition()
        self._outstanding = 0
        self._local = threading.local()
        self._ids = itertools.count()
        self._cleanup_called = False
        self._resolver = RESOLVERS[config.dependency_resolver]
        self._on_exec_done = self._exec_done  # one bound method for every task
        self._probed_runners: dict[tuple[Any, tuple[Any, ...]], ProbedRunner] = {}
        self.tasks: dict[int, TaskRecord] = {}
        self.task_state_counts: collections.Counter[States] = collections.Counter()
        self._checkpoint_stop = threading.Event()
        self.executors: dict[str, ParlayExecutor] = {}
        self._starting: ParlayExecutor | None = None  # the executor whose start() runs
        self._strategy: Strategy | None = None
        try:
            self._start(config)
        except BaseException as exc:
            self._abandon_start(exc)
            raise
        self.hooks.workflow_started(dfk=self, run_id=self.run_id, run_dir=self.run_dir)

    def _start(self, config: Config) -> None:
        """Load the checkpoints, start the executors, then the scaling strategy."""
        if config.checkpoint_files is not None:
            checkpoint_files = list(config.checkpoint_files)
        elif config.checkpoint_mode is not None:
            checkpoint_files = get_all_checkpoints(config.run_dir)
        else:
            checkpoint_files = []
        self.memoizer = Memoizer(self.run_dir, config.app_cache, checkpoint_files)
        if config.checkpoint_mode == "periodic":
            period = parse_duration(config.checkpoint_period, "Config.checkpoint_period")
            threading.Thread(
                target=self._checkpoint_periodically, args=(period,), name="parlay-checkpoint", daemon=True
            ).start()

        user_executors = config.executors or [ThreadPoolExecutor()]
        internal = ThreadPoolExecutor(label=INTERNAL_EXECUTOR, max_threads=config.internal_tasks_max_threads)
        for executor in [*user_executors, internal]:
            self._start_executor(executor)
        self._user_labels = [e.label for e in user_executors]
        block_executors = [e for e in user_executors if isinstance(e, BlockProviderExecutor)]
        if block_executors:
            self._strategy = Strategy(block_executors, config.strategy, config.strategy_period, config.max_idletime)
            self._strategy.start()

    def _abandon_start(self, exc: BaseException) -> None:
        """Stop what a start that failed (or was interrupted) had started, the executor it was starting
        included, and say why in the run's log."""
        logger.error("run %s could not start (%s); stopping what had started", self.run_id, _brief(exc), exc_info=exc)
        with interrupts.held(self.run_dir, urgent=isinstance(exc, (KeyboardInterrupt, SystemExit))):
            self._checkpoint_stop.set()
            if self._strategy is not None:
                self._strategy.stop()
            starting = self._starting
            if starting is not None and self.executors.get(starting.label) is not starting:
                try:
                    starting.shutdown()  # what it had started: a service, blocks, a private folder
                except Exception:
                    logger.exception("executor %s failed to shut down", starting.label)
            self._shutdown_executors()
            self.hooks.close()
            self._stop_logging()
        if interrupts.terminated or isinstance(exc, KeyboardInterrupt):
            interrupts.say(f"parlay: run {self.run_dir} stopped {_stopped_by(exc)} while it started")

    # --- submitting -------------------------------------------------------------------------------

    def submit(self, app: AppBase, args: tuple, kwargs: dict[str, Any]) -> AppFuture:
        """Create a task for one call of `app`; it runs once its dependencies have finished."""
        if self._cleanup_called:
            raise NoDataFlowKernelError(
                f"cannot run app {app.__name__}: this DataFlowKernel has been cleaned up; call parlay.load() again"
            )
        spec = kwargs.pop("parsl_resource_specification", None)
        alias = kwargs.pop("resource_specification", None)
        spec = spec or alias or _NOTHING
        if not isinstance(spec, Mapping):
            raise ConfigurationError(f"resource specification for app {app.__name__} must be a dict, not {spec!r}")
        record = TaskRecord(
            self,
            next(self._ids),
            app,
            args,
            kwargs or _NOTHING,  # no dict per task for the many apps called without keywords
            self._choose_executor(app),
            spec,
            app.cache and self.config.app_cache,
            app.ignore_for_cache,
            time.time(),
        )
        record.app_fu = future = AppFuture(record)
        inhibit = False
        if kwargs:
            inhibit = bool(kwargs.pop("_parlay_staging_inhibit", False) or kwargs.pop("_parsl_staging_inhibit", False))
            self._prepare_streams(record, kwargs, future)
        try:
            args, kwargs = self.data_manager.prepare(record, future, args, kwargs, inhibit)
        except ConfigurationError as exc:
            raise ConfigurationError(f"app {app.__name__}: {exc}") from None
        record.args, record.kwargs = args, kwargs or _NOTHING
        deps = self._resolver.gather(args, kwargs)
        with self._done:
            self._outstanding += 1
        with self._lock:
            self.task_state_counts[States.pending] += 1
        self.tasks[record.id] = record
        self._changed(record, None, States.pending)
        if deps:
            record.depends = deps
            record.pending_deps = len(deps) + 1  # + 1 until every callback is in place
            on_done = partial(self._dependency_done, record)
            for dep in deps:
                dep.add_done_callback(on_done)
            on_done(None)
        else:
            self._schedule(self._launch, record)
        return future

    def lift(self, operation: Any, future: AppFuture, argument: Any) -> AppFuture:
        """A task applying `operation(result, argument)` once `future` is done (`fut[k]`, `fut.attr`)."""
        return self.submit(_LIFTED[operation], (future, argument), {})

    def _choose_executor(self, app: AppBase) -> str:
        if app.kind == "join" or app.executors == [INTERNAL_EXECUTOR]:
            return INTERNAL_EXECUTOR
        if app.executors == "all":
            labels = self._user_labels
        else:
            labels = app.executors
            unknown = [label for label in labels if label not in self.executors]
            if unknown:
                raise ConfigurationError(
                    f"app {app.__name__} asks for executor(s) {unknown}, but the config has {self._user_labels}"
                )
        return labels[0] if len(labels) == 1 else random.choice(labels)

    def _prepare_streams(self, record: TaskRecord, kwargs: dict[str, Any], future: AppFuture) -> None:
        """Resolve `AUTO_LOGNAME` streams."""
        for stream in ("stdout", "stderr"):
            value = kwargs.get(stream)
            if type(value) is int and value == AUTO_LOGNAME:
                kwargs[stream] = self._auto_stream_path(record, stream)
                record.ignore_for_cache = record.ignore_for_cache | {stream}
        if "stdout" in kwargs or "stderr" in kwargs:
            future._stdout, future._stderr = kwargs.get("stdout"), kwargs.get("stderr")

    def _auto_stream_path(self, record: TaskRecord, stream: str) -> str:
        if self.config.std_autopath is not None:
            return self.config.std_autopath(record, stream)
        folder = os.path.join(self.run_dir, "task_logs", f"{record.id // _TASK_LOGS_PER_DIR:04d}")
        label = record.kwargs.get("label")
        suffix = "" if label is None else f"_{label}"
        return os.path.join(folder, f"task_{record.id:04d}_{record.func_name}{suffix}.{stream}")

    # --- launching --------------------------------------------------------------------------------

    def _schedule(self, step: Any, *args: Any) -> None:
        """Run `step` now, or after the step this thread is running: callbacks never recurse deeply."""
        local = self._local
        queue = getattr(local, "queue", None)
        if queue is not None:
            queue.append((step, args))
            return
        local.queue = queue = collections.deque([(step, args)])
        try:
            while queue:
                step, args = queue.popleft()
                try:
                    step(*args)
                except Exception:
                    logger.exception("internal error in %s", getattr(step, "__name__", step))
        finally:
            local.queue = None

    def _dependency_done(self, record: TaskRecord, _dep: Future | None) -> None:
        with self._lock:
            record.pending_deps -= 1
            ready = record.pending_deps == 0
        if ready:
            self._schedule(self._launch, record)

    def _launch(self, record: TaskRecord) -> None:
        if record.status is not States.pending:
            return  # cancelled while waiting
        if record.depends:
            failures = [(_failure_of(d), _describe(d)) for d in record.depends if d.cancelled() or d.exception()]
            if failures:
                self._finish(record, States.dep_fail, exc=DependencyError(failures, record.id))
                return
            record.args, record.kwargs = self._resolver.unwrap(record.args, record.kwargs)
        if record.memoize:
            try:
                hit, result = self.memoizer.lookup(record)
            except UnhashableArgument as exc:
                self._finish(record, States.failed, exc=exc)
                return
            if hit:
                record.from_memo = True
                self._finish(record, States.memo_done, result)
                return
        self._submit_try(record)

    def _submit_try(self, record: TaskRecord) -> None:
        with self._lock:
            if record.status is not States.pending:
                return
            old = self._set_state(record, States.launched)
        self._changed(record, old, States.launched)  # before the executor has it: events come in order
        executor = self.executors[record.executor]
        runner = record.runner
        record.probed = False
        if self.hooks.task_probes:
            probes = self.hooks.probes(record.id, record.try_id, record.func_name, record.executor)
            if probes:
                runner = self._probed(runner, tuple(probes))
                record.probed = True
        try:
            exec_fu = executor.submit(runner, record.resource_specification, *record.args, **record.kwargs)
        except Exception as exc:
            self._task_failed(record, exc)
            return
        record.exec_fu = exec_fu
        # the record rides on the future: no callback object per task while thousands are in flight
        exec_fu.parlay_task_record = record  # type: ignore[attr-defined]
        exec_fu.add_done_callback(self._on_exec_done)

    # --- results ----------------------------------------------------------------------------------

    def _exec_done(self, exec_fu: Future) -> None:
        self._schedule(self._handle_result, exec_fu.parlay_task_record, exec_fu)  # type: ignore[attr-defined]

    def _handle_result(self, record: TaskRecord, exec_fu: Future) -> None:
        if exec_fu.cancelled():
            self._finish(record, States.cancelled, exc=self._dropped(record) if self._cleanup_called else None)
            return
        exc = exec_fu.exception()
        result = None if exc is not None else exec_fu.result()
        if record.probed and exc is None:  # the probed runner's (value, reports)
            result, reports = result
            self._reported(record, reports)
        elif exc is not None and hasattr(exc, "parlay_reports"):
            self._reported(record, exc.parlay_reports)
        if exc is not None:
            self._task_failed(record, exc)
        elif record.app.kind == "join":
            self._join(record, result)
        else:
            self._finish(record, States.exec_done, result)

    def _probed(self, runner: Any, probes: tuple[Any, ...]) -> ProbedRunner:
        """The one `ProbedRunner` of a task function and its probes (plugins give the same probes to every
        task, as they should), so that executors still send each function, and the probes, once."""
        key = (runner, probes)
        probed = self._probed_runners.get(key)
        if probed is None:
            probed = ProbedRunner(runner, probes)
            if len(self._probed_runners) < _PROBED_RUNNERS:  # a plugin making new probes per task: no cache
                self._probed_runners[key] = probed
        return probed

    def _reported(self, record: TaskRecord, reports: list[dict]) -> None:
        self.hooks.task_reported(record.id, record.try_id, record.func_name, record.executor, reports)

    def _task_failed(self, record: TaskRecord, exc: BaseException) -> None:
        """Retry while the accumulated failure cost stays within `retries`; otherwise fail the task."""
        record.fail_count += 1
        record.fail_history = [*record.fail_history, repr(exc)]
        if self._cleanup_called or isinstance(exc, TaskCancelled) or not self.config.retries:
            self._finish(record, States.cancelled if isinstance(exc, TaskCancelled) else States.failed, exc=exc)
            return
        cost: float = 1
        if self.config.retry_handler is not None:
            try:
                cost = self.config.retry_handler(exc, record)
            except Exception as handler_exc:
                handler_exc.__context__ = exc
                self._finish(record, States.failed, exc=handler_exc)
                return
        record.fail_cost += cost
        if record.fail_cost > self.config.retries:
            self._finish(record, States.failed, exc=exc)
            return
        logger.info("task %d failed (%r); retry %d", record.id, exc, record.fail_count)
        record.try_id += 1
        with self._lock:
            old = self._set_state(record, States.pending)
        self._changed(record, old, States.pending, exc)  # why the try failed
        self._submit_try(record)

    def _join(self, record: TaskRecord, inner: Any) -> None:
        futures = inner if isinstance(inner, list) else [inner]
        if not all(isinstance(f, Future) for f in futures):
            self._finish(
                record,
                States.failed,
                exc=TypeError(f"join app {record.func_name} must return a Future or a list of Futures, not {inner!r}"),
            )
            return
        record.joins = inner
        with self._lock:
            old = self._set_state(record, States.joining)
            record.pending_deps = len(futures) + 1
        self._changed(record, old, States.joining)

        def inner_done(_fu: Future | None) -> None:
            with self._lock:
                record.pending_deps -= 1
                if record.pending_deps:
                    return
            failures = [(_failure_of(f), _describe(f)) for f in futures if f.cancelled() or f.exception()]
            if failures:
                self._finish(record, States.failed, exc=JoinError(failures, record.id))
            else:
                results = [f.result() for f in futures]
                self._finish(record, States.exec_done, results if isinstance(inner, list) else results[0])

        for future in futures:
            future.add_done_callback(lambda f: self._schedule(inner_done, f))
        inner_done(None)

    def _finish(self, record: TaskRecord, state: States, result: Any = None, exc: BaseException | None = None) -> None:
        with self._lock:
            if record.status in FINAL_STATES:
                return
            old = self._set_state(record, state)
        self._changed(record, old, state, exc)
        self._settle(record, state, result, exc)

    def _settle(self, record: TaskRecord, state: States, result: Any, exc: BaseException | None) -> None:
        """Give the task's future its outcome, then forget the task."""
        record.time_returned = time.time()
        if state is States.exec_done and record.memoize:
            self.memoizer.update(record, result)
            if self.config.checkpoint_mode == "task_exit":
                self.memoizer.checkpoint()
        future = record.app_fu
        if exc is not None and state in FAILURE_STATES:  # what `parlay status` reads back without monitoring
            logger.info("task %d (%s) %s: %s", record.id, record.func_name, state.value, _brief(exc))
        if exc is not None:  # a task dropped at cleanup is cancelled, and its future raises `TaskCancelled`
            future.set_exception(exc)
        elif state is States.cancelled:
            future._cancel_future()
        else:
            future.set_result(result)
        future._done_callbacks = ()  # they have run; a finished future calls new ones at once
        if self.config.garbage_collect:
            self.tasks.pop(record.id, None)
            record.args, record.kwargs = (), _NOTHING
            record.depends = ()
            record.exec_fu = None
        with self._done:
            self._outstanding -= 1
            if not self._outstanding:
                self._done.notify_all()

    def _set_state(self, record: TaskRecord, state: States) -> States:
        """Record a state change and return the state it left; the caller holds `self._lock`, and tells the
        listeners (`_changed`) once it has let go of it, before the task moves on."""
        old = record.status
        record.status = state
        counts = self.task_state_counts
        counts[old] -= 1
        counts[state] += 1
        return old

    def _changed(self, record: TaskRecord, old: States | None, new: States, exc: BaseException | None = None) -> None:
        """Tell the plugins listening to task states, if any."""
        if self.hooks.task_listeners:
            self.hooks.task_state_changed(  # by position, in the order of its specification
                record.id,
                record.func_name,
                None if old is None else old.value,
                new.value,
                record.executor,
                exc,
                record.try_id,
                time.time(),
                record,
            )

    # --- cancellation, waiting, checkpoints -------------------------------------------------------

    def cancel_task(self, record: TaskRecord) -> bool:
        """Cancel a task that has not started. Returns whether it was cancelled."""
        with self._lock:
            status = record.status
            if status is States.pending:
                self._set_state(record, States.cancelled)
        if status is States.pending:
            self._changed(record, status, States.cancelled)
            self._settle(record, States.cancelled, None, None)
            return True
        exec_fu = record.exec_fu
        if status is States.launched and exec_fu is not None and self.executors[record.executor].cancels_queued:
            exec_fu.cancel()  # only succeeds while queued; the executor's callback then settles the task
        return record.app_fu.cancelled()

    def wait_for_current_tasks(self) -> None:
        """Block until every task submitted so far has finished."""
        with self._done:
            while self._outstanding:
                self._done.wait(timeout=1.0)  # wake now and then so Ctrl-C is seen promptly

    def checkpoint(self) -> str:
        """Write the results memoized since the last checkpoint; return the checkpoint directory."""
        return self.memoizer.checkpoint()

    def _checkpoint_periodically(self, period: float) -> None:
        while not self._checkpoint_stop.wait(period):
            self.memoizer.checkpoint()

    # --- lifecycle --------------------------------------------------------------------------------

    def _start_executor(self, executor: ParlayExecutor) -> None:
        executor.run_dir = self.run_dir
        executor.run_id = self.run_id
        executor.hooks = self.hooks
        provider = getattr(executor, "provider", None)
        if provider is not None:
            provider.hooks = self.hooks
            provider.run_id = self.run_id
            if getattr(provider, "script_dir", None) is None:
                provider.script_dir = os.path.join(self.run_dir, "submit_scripts")
                os.makedirs(provider.script_dir, exist_ok=True)
        self._starting = executor
        executor.start()
        self.executors[executor.label] = executor
        self.hooks.executor_started(executor=executor)

    def _shutdown_executors(self) -> None:
        for executor in self.executors.values():
            try:
                executor.shutdown()
            except Exception:
                logger.exception("executor %s failed to shut down", executor.label)
            self.hooks.executor_stopped(executor=executor)

    def _dropped(self, record: TaskRecord) -> TaskCancelled:
        return TaskCancelled(f"task {record.id} ({record.func_name}) was dropped: the DataFlowKernel was cleaned up")

    def _drop_unfinished(self, states: frozenset[States] | None = None) -> None:
        """Cancel the tasks that have not finished (those in `states`, if given); their futures raise
        `TaskCancelled`."""
        with self._lock:
            dropped = [
                (record, self._dropped(record), record.status)
                for record in list(self.tasks.values())
                if record.status not in FINAL_STATES and (states is None or record.status in states)
            ]
            for record, _, _ in dropped:
                self._set_state(record, States.cancelled)
        for record, exc, old in dropped:
            self._changed(record, old, States.cancelled, exc)
            self._settle(record, States.cancelled, None, exc)

    def cleanup(self) -> None:
        """Stop the run: executors shut down, unfinished tasks are cancelled (their futures raise
        `TaskCancelled`). Safe to call twice. Ctrl-C or SIGTERM during it lets it finish; a second one quits
        at once."""
        self._stop()

    def _stop(self, cause: BaseException | None = None, at_exit: bool = False) -> None:
        """`cleanup()` of a run stopped by `cause` (an exception leaving its `with` block) or at interpreter exit:
        then a signal quits at once, and one line on stderr says how the run stopped and what it cancelled."""
        with self._lock:
            if self._cleanup_called:
                return
            self._cleanup_called = True
        with interrupts.held(self.run_dir, urgent=at_exit or isinstance(cause, (KeyboardInterrupt, SystemExit))):
            before = self.task_state_counts[States.cancelled]
            self._clean_up()
            cancelled = self.task_state_counts[States.cancelled] - before
            if (cause is not None or at_exit) and (cancelled or interrupts.terminated):
                how = "at exit" if cause is None and not interrupts.terminated else _stopped_by(cause)
                tasks = f"; {cancelled} unfinished task{'' if cancelled == 1 else 's'} cancelled" if cancelled else ""
                interrupts.say(f"parlay: run {self.run_dir} stopped {how}{tasks}")

    def _clean_up(self) -> None:
        logger.info("cleaning up run %s", self.run_id)
        self._checkpoint_stop.set()
        if self._strategy is not None:
            self._strategy.stop()
        self._drop_unfinished(_WAITING)
        self._shutdown_executors()
        kill_running_commands()  # bash commands of in-process executors run in sessions of their own
        self._drop_unfinished()
        self.data_manager.close()
        if self.config.checkpoint_mode is not None:
            self.memoizer.checkpoint()
        counts = {state.value: n for state, n in self.task_state_counts.items() if n}
        logger.info("run %s finished; tasks by final state: %s", self.run_id, counts)
        self.hooks.workflow_finished(dfk=self, run_id=self.run_id, run_dir=self.run_dir, task_counts=counts)
        self.hooks.close()
        current.clear(self)
        self._stop_logging()

    def _stop_logging(self) -> None:
        if self._log_handler is not None:
            logging.getLogger("parlay").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def __enter__(self) -> DataFlowKernel:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        mode = self.config.exit_mode
        if mode == "skip":
            return
        if mode == "wait" and exc_type is None:
            self.wait_for_current_tasks()
        self._stop(exc)

    def __repr__(self) -> str:
        return f"<DataFlowKernel {self.run_dir}>"


def _failure_of(future: Future) -> BaseException:
    if future.cancelled():
        return CancelledError(f"{_describe(future)} was cancelled")
    return future.exception()  # type: ignore[return-value]


def _describe(future: Future) -> str:
    tid = getattr(future, "tid", None)
    return f"task {tid}" if tid is not None else repr(future)


def _stopped_by(cause: BaseException | None) -> str:
    if interrupts.terminated:
        return "by SIGTERM"
    return "by Ctrl-C" if isinstance(cause, KeyboardInterrupt) else f"by {type(cause).__name__}"


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _RunLog(logging.FileHandler):
    """`runinfo/NNN/parlay.log`. A write that fails (a full disk) is warned about once, not with a traceback
    per record, and the run goes on."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed:
            self.failed = True
            text = f"cannot write the log {self.baseFilename} ({sys.exc_info()[1]}); the run goes on"
            warnings.warn_explicit(text, RunFileWarning, "parlay", 0)


def _start_logging(run_dir: str) -> logging.Handler:
    handler = _RunLog(os.path.join(run_dir, "parlay.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s:%(lineno)d %(threadName)s %(levelname)s %(message)s"))
    root = logging.getLogger("parlay")
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    root.addHandler(handler)
    return handler


def _internal_app(func: Any) -> PythonApp:
    return PythonApp(func, executors=[INTERNAL_EXECUTOR])


_LIFTED = {op: _internal_app(op) for op in (getattr, operator.getitem)}
