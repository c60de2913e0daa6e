"""`RayExecutor`: each parlay task runs as a Ray task, on a local Ray cluster or on one that already runs.

Submitting is one `.remote()` call of the app's own Ray remote function (see `remote`), with the task's
arguments as Ray's own objects (large ones `ray.put` once, see `objects`). One thread waits for all the tasks in
flight at once and settles their futures (see `results`), so the kernel's callbacks, which submit the tasks that
were waiting, never run on Ray's threads. Ray never retries a task (`max_retries=0`): parlay's `retries`
decide, and a worker or node that dies fails its task with `WorkerLost`.

`ray` is imported when the executor starts, not when this module is imported.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

import attrs

from parlay.errors import BadStateException, ConfigurationError, SerializationError, WorkerLost
from parlay.executors.base import ParlayExecutor
from parlay.futures import ExecutorFuture
from parlay.options import Check, count, declare, flag, invalid, option, optional, state
from parlay.serialize import serialize_function, settle
from parlay_executor_ray import connection, resource_spec
from parlay_executor_ray.objects import SharedArguments
from parlay_executor_ray.remote import Failure, task_function
from parlay_executor_ray.results import Watcher

logger = logging.getLogger(__name__)
_HOST = socket.gethostname()

#: How long `cancel()` waits for Ray to say whether it dropped a task (seconds). Ray drops a task that no worker
#: has taken at once; a task that runs is left alone, and after this wait `cancel()` says it could not cancel it.
CANCEL_WAIT = 0.5
#: Options of `ray.init` that the executor's own options set.
_OWN_INIT_OPTIONS = frozenset({"address", "num_cpus", "num_gpus", "resources"})
#: Options that only a local cluster takes.
_LOCAL_OPTIONS = ("num_cpus", "num_gpus", "resources")
#: How many distinct resource specifications keep their Ray options cached.
_VARIANTS = 256


def _is_address(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and value != "local"


def _is_resources(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    )


def _is_init_kwargs(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) for k in value) and not _OWN_INIT_OPTIONS & set(value)


class RayFuture(ExecutorFuture):
    """The future of one Ray task; `cancel()` asks Ray to drop the task if no worker has taken it."""

    def __init__(self, executor: RayExecutor, ref: Any, shared: list[int]):
        super().__init__()
        self.ref = ref
        self.shared = shared
        self._executor = executor

    def cancel(self) -> bool:
        if self.done():
            return self.cancelled()
        return self._executor._cancel(self)

    def cancel_unstarted(self) -> bool:
        """`concurrent.futures.Future.cancel`: succeeds until the future is settled."""
        return super().cancel()


@declare(defaults={"label": "ray"})
class RayExecutor(ParlayExecutor):
    """Runs each task as a Ray task: on a local Ray cluster it starts (`address=None`), or on a cluster that
    already runs (`address='auto'`, `'host:6379'` or `'ray://host:10001'`)."""

    cancels_queued = True
    resource_keys = resource_spec.KEYS

    address: str | None = option(
        None,
        "the Ray cluster to join: `'auto'` (the one running on this machine), `'host:port'` (its GCS) or "
        "`'ray://host:10001'` (Ray Client); `None`: start a local cluster, or use the connection this process "
        "already has if `ray.init` was called before the run",
        optional(Check(_is_address, "a Ray address ('auto', 'host:port' or 'ray://host:port')")),
    )
    num_cpus: int | None = option(
        None,
        "CPUs a local cluster offers, one task per CPU at a time (default: this machine's CPUs, as Ray counts them)",
        optional(count(1)),
    )
    num_gpus: int | None = option(None, "GPUs a local cluster offers (default: those Ray detects)", optional(count(0)))
    resources: dict[str, float] = option(
        attrs.Factory(dict),
        "custom resources a local cluster offers, such as `{'licence': 2}`",
        Check(_is_resources, "a dict of names to amounts >= 0"),
    )
    init_kwargs: dict[str, Any] = option(
        attrs.Factory(dict),
        "more keyword arguments of `ray.init` (`runtime_env`, `namespace`, `object_store_memory`, `_temp_dir`, "
        "`log_to_driver`, ...)",
        Check(_is_init_kwargs, "a dict of ray.init arguments other than address, num_cpus, num_gpus and resources"),
    )
    put_threshold: int = option(
        100 * 1024,
        "bytes from which an argument goes into Ray's object store once (`ray.put`) and is shared by the tasks in "
        "flight that take it; 0: never",
        count(0),
    )
    reject_infeasible: bool = option(
        True,
        "fail at once a task whose `resource_specification` no live node can satisfy (False: Ray holds it until a "
        "node that can joins, as on a cluster that scales up)",
        flag,
    )

    _owns_connection: bool = state(False)
    _where: str = state("")  # the cluster, as errors name it
    _options: dict[Any, dict[str, Any]] = state(factory=dict)  # resource specification (as a key) -> Ray options
    #: app runner -> resource specification key (None: none) -> its Ray remote function
    _remotes: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = state(factory=weakref.WeakKeyDictionary)
    _nodes: resource_spec.Nodes | None = state()
    _shared: SharedArguments | None = state()
    _in_flight: set[RayFuture] = state(factory=set)
    _lock: threading.Lock = state(factory=threading.Lock)
    _watcher: Watcher | None = state()

    def __attrs_post_init__(self) -> None:
        if self.address is not None:
            for name in _LOCAL_OPTIONS:
                if getattr(self, name) not in (None, {}):
                    raise invalid(
                        self, name, getattr(self, name), "only for a local cluster (address=None): an existing "
                        "cluster offers what its nodes were started with"
                    )  # fmt: skip

    # --- lifecycle --------------------------------------------------------------------------------

    def ray_init_kwargs(self) -> dict[str, Any]:
        """The arguments of the `ray.init` call that connects this executor."""
        if self.address is not None:
            return {"address": self.address, **self.init_kwargs}
        local: dict[str, Any] = {"address": "local", "include_dashboard": False}
        for name in _LOCAL_OPTIONS:
            if getattr(self, name) not in (None, {}):
                local[name] = getattr(self, name)
        local.update(self.init_kwargs)
        # a task that Ray's memory monitor kills is parlay's to retry, not Ray's
        local["_system_config"] = {"task_oom_retries": 0, **self.init_kwargs.get("_system_config", {})}
        return local

    def _chooses_a_cluster(self) -> bool:
        """Whether an option asks for a cluster or a connection of its own."""
        return (
            self.address is not None
            or bool(self.init_kwargs)
            or any(getattr(self, name) not in (None, {}) for name in _LOCAL_OPTIONS)
        )

    def _start(self) -> None:
        self._owns_connection = connection.connect(self, self.ray_init_kwargs(), self.label)
        if not self._owns_connection and self._chooses_a_cluster():
            raise ConfigurationError(
                f"RayExecutor {self.label!r}: this process was already connected to Ray (ray.init was called before "
                "the run), and the executor uses that connection: leave address, num_cpus, num_gpus, resources and "
                "init_kwargs unset, or call ray.shutdown() first"
            )
        if self.address is not None:
            self._where = f"the Ray cluster at {self.address}"
        else:
            self._where = f"the local Ray cluster of {_HOST}" if self._owns_connection else "this process's Ray cluster"
        self._nodes = resource_spec.Nodes()
        self._shared = SharedArguments(self.put_threshold)
        self._watcher = Watcher(f"parlay-{self.label}-results", self._deliver, self._lost)
        self._watcher.start()
        logger.info("RayExecutor %s uses %s", self.label, self._where)

    def _shutdown(self) -> None:
        import ray

        with self._lock:
            unfinished = list(self._in_flight)
        for future in unfinished:
            try:
                ray.cancel(future.ref, force=True, recursive=True)  # a task that runs is stopped with its worker
            except Exception:  # the connection is gone: so are the tasks
                logger.debug("cannot cancel Ray task %s", future.ref, exc_info=True)
            future.cancel_unstarted()  # one the watcher is settling keeps its outcome
        if self._watcher is not None:
            self._watcher.stop(timeout=30)
        if self._owns_connection:
            connection.disconnect(self)

    # --- submitting -------------------------------------------------------------------------------

    def validate_resource_specification(self, spec: dict[str, Any]) -> None:
        super().validate_resource_specification(spec)
        self._ray_options(spec)

    def _ray_options(self, spec: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The key of `spec` (None if it cannot be one) and the Ray options it asks for, checked once per spec."""
        try:
            key = tuple(sorted((k, tuple(sorted(v.items())) if isinstance(v, Mapping) else v) for k, v in spec.items()))
            hash(key)
        except TypeError:
            key = None  # unhashable values: checked (and refused) every time, never cached
        options = self._options.get(key) if key is not None else None
        if options is None:
            options = resource_spec.ray_options(spec, self.label)
            if self.reject_infeasible:
                self._nodes.check(options, spec, self.label)  # type: ignore[union-attr]
            if key is not None:
                if len(self._options) >= _VARIANTS:
                    self._options.clear()
                self._options[key] = options
        return key, options

    def _remote_for(self, func: Callable[..., Any], spec: Mapping[str, Any]) -> Any:
        """The Ray remote function for `func`'s tasks with the options `spec` asks for, made once for each."""
        remotes = self._remotes.get(func)
        if remotes is None:
            import ray

            task = task_function(serialize_function(func), getattr(func, "name", "parlay_task"))
            remotes = {None: ray.remote(max_retries=0, retry_exceptions=False)(task)}
            with contextlib.suppress(TypeError):  # a callable without weak references is made again each time
                self._remotes[func] = remotes
        if not spec:
            return remotes[None]
        key, options = self._ray_options(spec)
        remote = remotes.get(key) if key is not None else None
        if remote is None:
            remote = remotes[None].options(**options)
            if key is not None:
                remotes[key] = remote
        return remote

    def _submit(
        self, func: Callable[..., Any], resource_specification: dict[str, Any], args: tuple, kwargs: dict
    ) -> Future:
        remote = self._remote_for(func, resource_specification)
        args, kwargs, shared = self._shared.share(args, kwargs)  # type: ignore[union-attr]
        try:
            ref = remote.remote(*args, **kwargs)
        except Exception as exc:
            if shared:
                self._shared.release(shared)  # type: ignore[union-attr]
            raise _unserializable(func, args, kwargs, exc) from exc
        future = RayFuture(self, ref, shared)
        with self._lock:
            self._in_flight.add(future)
        self._watcher.watch(future)  # type: ignore[union-attr]
        return future

    # --- results ----------------------------------------------------------------------------------

    def _deliver(self, future: RayFuture, value: Any, failed: bool) -> None:
        """The watcher's call: settle `future` with its task's value, or with the error Ray raised for it."""
        try:
            with self._lock:
                self._in_flight.discard(future)
            if future.shared:
                self._shared.release(future.shared)  # type: ignore[union-attr]
            if failed and _cancelled_by_ray(value):
                future.cancel_unstarted()
            elif not future.set_running_or_notify_cancel():
                pass  # cancelled at shutdown
            elif failed:
                future.set_exception(self._translate(value, future))
            elif type(value) is Failure:
                settle(future, value.packed)
            else:
                future.set_result(value)
            future.ref = None  # the result's ObjectRef: Ray may free the object
        except Exception:
            logger.exception("RayExecutor %s: cannot settle a task's future", self.label)

    def _lost(self, future: RayFuture, error: Exception) -> None:
        """The watcher's call when Ray itself failed while `future`'s task was in flight."""
        self._deliver(future, BadStateException(self.label, f"lost {self._where}: {error}"), True)

    def _translate(self, error: BaseException, future: RayFuture) -> BaseException:
        """parlay's error for an error of Ray's: a lost worker or node is `WorkerLost`."""
        from ray import exceptions

        lost = (
            exceptions.WorkerCrashedError,
            exceptions.NodeDiedError,
            exceptions.LocalRayletDiedError,
            exceptions.OutOfMemoryError,
            exceptions.ObjectLostError,
        )
        if isinstance(error, lost):
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            task = future.ref.task_id().hex()
            lost_error = WorkerLost(f"of Ray task {task}", self._where, f"{type(error).__name__}: {detail}")
            lost_error.__cause__ = error
            return lost_error
        cause = getattr(error, "cause", None)  # a RayTaskError wraps what the task raised
        return cause if isinstance(cause, BaseException) else error

    # --- cancelling -------------------------------------------------------------------------------

    def _cancel(self, future: RayFuture) -> bool:
        """Ask Ray to drop a task; True if it did (no worker had taken it)."""
        import ray
        from ray.exceptions import TaskCancelledError

        ref = future.ref
        try:
            ray.cancel(ref, force=False, recursive=False)
            ready, _ = ray.wait([ref], timeout=CANCEL_WAIT, fetch_local=False)
            if ready:
                ray.get(ref, timeout=CANCEL_WAIT)
        except TaskCancelledError:
            return future.cancel_unstarted()
        except Exception:  # the task failed or finished in the meantime: the watcher settles it
            logger.debug("cancelling Ray task %s", ref, exc_info=True)
        return future.cancelled()


def _cancelled_by_ray(error: BaseException) -> bool:
    from ray.exceptions import TaskCancelledError

    return isinstance(error, TaskCancelledError)


def _unserializable(func: Any, args: tuple, kwargs: dict, exc: Exception) -> Exception:
    """The error for arguments Ray could not serialize, naming the first one it refuses."""
    from ray import cloudpickle

    name = getattr(getattr(func, "func", func), "__qualname__", repr(func))
    where = [(f"positional argument {n}", value) for n, value in enumerate(args)]
    where += [(f"keyword argument {key!r}", value) for key, value in kwargs.items()]
    for what, value in where:
        try:
            cloudpickle.dumps(value)
        except Exception as error:
            return SerializationError(
                f"cannot serialize {what} of task function {name}: {type(error).__name__}: {error}"
            )
    return SerializationError(f"cannot submit task function {name} to Ray: {type(exc).__name__}: {exc}")
