"""The DataManager: for each `File` a task reads or writes, the staging provider that moves it, and the
task's arguments, function and output futures rewritten for that (Parsl's model: `dm.dfk` is the kernel).

A File is moved by the first provider of its executor's `storage_access` that `can_stage_in` (or
`can_stage_out`) it, after any `parlay_staging_for` hook; an executor that names none uses plain files plus
every installed staging plugin that needs no configuration (`by_default`).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import warnings
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from parlay.errors import ConfigurationError, PluginWarning
from parlay.files import File
from parlay.futures import AppFuture, DataFuture
from parlay.staging.base import Staging
from parlay.staging.files import NoOpFileStaging
from parlay.staging.transfer import STEPS_KWARG, StagedRunner, Step, node_cache, stage_in, stage_out

if TYPE_CHECKING:
    from parlay.dataflow.kernel import DataFlowKernel
    from parlay.dataflow.taskrecord import TaskRecord

logger = logging.getLogger(__name__)

_DEFAULT: list[Staging] | None = None
_DEFAULT_LOCK = threading.Lock()


def default_storage_access() -> list[Staging]:
    """Plain files, then an instance of every installed staging plugin that needs no configuration."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            from parlay.plugins import registry

            found: list[Staging] = [NoOpFileStaging()]
            for backend in registry.available("staging"):
                try:
                    cls = registry.load_backend(backend)
                except Exception as exc:  # a broken plugin is reported; the others still stage
                    warnings.warn(f"{exc}; staging goes on without it", PluginWarning, stacklevel=2)
                    continue
                if cls.by_default and not any(type(s) is cls for s in found):
                    found.append(cls())
            _DEFAULT = found
        return _DEFAULT


class DataManager:
    """Stages the Files of one run's tasks."""

    def __init__(self, dfk: DataFlowKernel):
        self.dfk = dfk
        #: The folder name of this run's per-node cache of in-task downloads.
        self.cache_name = f"parlay-staging-{dfk.run_id}"
        self._lock = threading.Lock()
        self._paths: dict[tuple[str, str], str] = {}  # (executor, path) -> the URL that has it
        self._fetches: dict[tuple[str, str], DataFuture] = {}  # (executor, URL) -> its stage-in
        self._fetch_lock = threading.RLock()
        self._apps: dict[tuple[Any, str], Any] = {}
        self._runners: dict[Any, StagedRunner] = {}
        self._plain_only: dict[str, bool] = {}

    # --- choosing a provider ----------------------------------------------------------------------

    def storage_access(self, executor: str) -> list[Staging]:
        chosen = getattr(self.dfk.executors[executor], "storage_access", None)
        return list(chosen) if chosen is not None else default_storage_access()

    def provider(self, file: File, executor: str, direction: str) -> Staging:
        """The provider that moves `file` `direction` ("in" or "out") for tasks on `executor`."""
        if file.scheme != "file":
            chosen = self.dfk.hooks.staging_for(file=file, executor=self.dfk.executors[executor])
            if chosen is not None:
                return chosen
        providers = self.storage_access(executor)
        for provider in providers:
            if provider.can_stage_in(file) if direction == "in" else provider.can_stage_out(file):
                return provider
        text = (
            f"executor {executor!r} cannot stage {direction} {file.url}: none of its storage_access "
            f"({', '.join(map(repr, providers))}) handles {file.scheme!r} URLs"
        )
        from parlay.plugins.catalogue import SCHEMES

        package = SCHEMES.get(file.scheme)
        if package:
            text += f"; {package} does (pip install {package}, then list it in the executor's storage_access)"
        raise ConfigurationError(text)

    def local_path_for(self, file: File, executor: str) -> str:
        """Where a staged file lives for tasks on `executor`: `working_dir/filename` (or `filename` in the
        task's folder), in a subfolder when another URL of the run already has that name."""
        working_dir = getattr(self.dfk.executors[executor], "working_dir", None)
        name = file.filename or "file"
        path = os.path.join(working_dir, name) if working_dir else name
        with self._lock:
            owner = self._paths.setdefault((executor, path), file.url)
            if owner != file.url:
                import hashlib

                folder = hashlib.sha256(file.url.encode()).hexdigest()[:12]
                path = os.path.join(working_dir or "", folder, name)
                self._paths.setdefault((executor, path), file.url)
        return path

    # --- Parsl's DataManager interface ------------------------------------------------------------

    def stage_in(self, file: File, input: Any, executor: str) -> Any:
        """What the task receives in place of `input` (a File or the DataFuture that makes it)."""
        parent = input if isinstance(input, DataFuture) else None
        return self.provider(file, executor, "in").stage_in(self, executor, file, parent) or input

    def stage_out(self, file: File, executor: str, app_fu: Future) -> Future | None:
        """A future that completes once `file` is at its destination, or None when nothing need wait."""
        return self.provider(file, executor, "out").stage_out(self, executor, file, app_fu)

    def replace_task(self, file: File, func: Any, executor: str) -> Any:
        return self.provider(file, executor, "in").replace_task(self, executor, file, func) or func

    def replace_task_stage_out(self, file: File, func: Any, executor: str) -> Any:
        return self.provider(file, executor, "out").replace_task_stage_out(self, executor, file, func) or func

    def optionally_stage_in(self, input: Any, func: Any, executor: str) -> tuple[Any, Any]:
        """Stage `input` if it is a File or a DataFuture of one: (what the task receives, its function)."""
        if isinstance(input, DataFuture):
            file = input.file_obj.cleancopy()
            input = DataFuture(input, file, tid=input.tid)
        elif isinstance(input, File):
            file = input = input.cleancopy()
        else:
            return input, func
        return self.stage_in(file, input, executor), self.replace_task(file, func, executor)

    # --- what providers call ----------------------------------------------------------------------

    def stage_in_task(self, executor: str, staging: Staging, file: File, parent_fut: Any) -> DataFuture:
        """A task on `executor` downloading `file` to its `local_path`; its DataFuture. One URL a run
        fetches to one place is fetched once, unless that fetch failed."""
        if parent_fut is not None:  # made in this run: fetched when its producer is done
            return self._fetch(executor, staging, file, parent_fut)
        key = (executor, file.url)
        with self._fetch_lock:  # held while submitting, so that threads submitting at once fetch once
            earlier = self._fetches.get(key)
            if earlier is None or (earlier.done() and earlier.exception() is not None):
                earlier = self._fetches[key] = self._fetch(executor, staging, file, None)
            return earlier

    def _fetch(self, executor: str, staging: Staging, file: File, parent_fut: Any) -> DataFuture:
        future = self._app(stage_in, executor)(staging, file, parent_fut, outputs=[file], _parlay_staging_inhibit=True)
        return future.outputs[0]

    def stage_out_task(self, executor: str, staging: Staging, file: File, app_fu: Future) -> AppFuture:
        """A task on `executor` uploading `file` once `app_fu` is done; its future."""
        return self._app(stage_out, executor)(staging, file, app_fu, _parlay_staging_inhibit=True)

    def in_task(self, func: Any, step: Step) -> StagedRunner:
        """`func` with one more transfer to run around it on the worker."""
        if isinstance(func, StagedRunner):
            return StagedRunner(func.runner, (*func.steps, step))
        return StagedRunner(func, (step,))

    @property
    def cache_dir(self) -> str:
        """This node's folder of the run's in-task downloads."""
        return node_cache(self.cache_name)

    def _app(self, func: Any, executor: str) -> Any:
        key = (func, executor)
        app = self._apps.get(key)
        if app is None:
            from parlay.apps import PythonApp

            app = self._apps[key] = PythonApp(func, data_flow_kernel=self.dfk, executors=[executor])
        return app

    # --- the kernel's side ------------------------------------------------------------------------

    def prepare(
        self, record: TaskRecord, future: AppFuture, args: tuple, kwargs: dict[str, Any], inhibit: bool = False
    ) -> tuple[tuple, dict[str, Any]]:
        """Stage a task's Files: inputs (positional, keyword and `inputs=`) are replaced by what their
        stage-in makes, outputs get their DataFutures (completing after their stage-out), and the function
        gains its in-task transfers (`record.runner`). `inhibit` (a staging task's own Files): only the
        DataFutures. Returns the new arguments."""
        executor = record.executor
        plain = inhibit or self._plain_only_for(executor)
        func = record.runner
        if not inhibit:
            for a in args:
                if _staged(a, plain):
                    staged, func = self._stage_in_all(args, func, executor, plain)
                    args = tuple(staged)
                    break
            for name, value in kwargs.items():
                if name not in ("inputs", "outputs") and _staged(value, plain):
                    kwargs[name], func = self.optionally_stage_in(value, func, executor)
            inputs = kwargs.get("inputs")
            if inputs:
                kwargs["inputs"], func = self._stage_in_all(inputs, func, executor, plain)
        outputs = kwargs.get("outputs") if kwargs else None
        if outputs:
            files = [o if isinstance(o, File) else File(o) for o in outputs]
            data_futures = []
            for n, file in enumerate(files):
                if inhibit or not _staged(file, plain):  # a staging task's own file moves no further
                    data_futures.append(DataFuture(future, file, record.id))
                    continue
                files[n] = copy = file.cleancopy()
                done = self.stage_out(copy, executor, future)
                data_futures.append(DataFuture(done or future, file, record.id))
                func = self.replace_task_stage_out(copy, func, executor)
            kwargs["outputs"] = files
            future._outputs = data_futures
        if func is not record.runner:
            if isinstance(func, StagedRunner) and func.runner is record.runner:
                kwargs[STEPS_KWARG] = func.steps
                func = self._shared_runner(record.runner)
            record.runner = func
        return args, kwargs

    def _stage_in_all(self, items: Any, func: Any, executor: str, plain: bool) -> tuple[list[Any], Any]:
        staged = []
        for item in items:
            if _staged(item, plain):
                item, func = self.optionally_stage_in(item, func, executor)
            staged.append(item)
        return staged, func

    def _shared_runner(self, runner: Any) -> StagedRunner:
        shared = self._runners.get(runner)
        if shared is None:
            shared = self._runners[runner] = StagedRunner(runner)
        return shared

    def _plain_only_for(self, executor: str) -> bool:
        """Whether plain paths on `executor` stay where they are: no provider before the no-op one takes them."""
        plain = self._plain_only.get(executor)
        if plain is None:
            chosen = getattr(self.dfk.executors[executor], "storage_access", None)
            probe = File("parlay-probe")
            first = next((p for p in chosen if p.can_stage_in(probe)), None) if chosen is not None else None
            plain = self._plain_only[executor] = first is None or type(first) is NoOpFileStaging
        return plain

    def close(self) -> None:
        """Remove this node's cache of the run's in-task downloads."""
        shutil.rmtree(self.cache_dir, ignore_errors=True)


def _staged(value: Any, plain_only: bool) -> bool:
    """Whether a task argument needs a staging provider's attention."""
    if isinstance(value, DataFuture):
        value = value.file_obj
    elif not isinstance(value, File):
        return False
    return value.scheme != "file" or not plain_only
