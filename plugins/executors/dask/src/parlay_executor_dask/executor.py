"""`DaskExecutor`: parlay's apps on a Dask cluster, with Dask's own scheduling.

Where the cluster comes from:

- `address=` or `client=`: a scheduler someone else runs, with its workers;
- nothing: a local cluster, a scheduler in this process and `n_workers` worker processes on this machine;
- `provider=`: a scheduler in this process and `dask worker` processes in the provider's blocks, which the
  kernel's strategy scales like htex's (blocks journaled, so `parlay cleanup` cancels them after a crash).

One class covers the three: a `BlockProviderExecutor` whose provider defaults to `NoBlocks()`, a provider that
starts no block, so the kernel's strategy finds nothing to scale when parlay does not start the workers.

Each task goes to Dask as one call of `worker_side.run_task` with the task's function and arguments packed by
parlay's serializer in the caller's thread (an app's function travels by reference; an error names the argument
that cannot be pickled), under a key of its own (`pure=False`: never deduplicated). A sender thread hands Dask
what was submitted meanwhile in one `Client.map` call per priority and resources, and a collector thread
fetches what ended meanwhile in one `Client.gather`: a burst of tasks costs the submitting process a few round
trips through Dask's event loop, not several per task.

A worker that dies running a task ends it with `WorkerLost`: the scheduler parlay starts runs no task twice
(`allowed_failures=0`), so parlay's `retries` decide.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import attrs

from parlay.errors import BadStateException, ExecutorError, TaskCancelled, WorkerLost
from parlay.executors.blocks import BlockProviderExecutor
from parlay.futures import ExecutorFuture
from parlay.options import Check, amount, count, declare, invalid, one_line, option, optional, state
from parlay.serialize import pack_arguments, serialize_function, settle
from parlay_executor_dask.cluster import log_tail, start_scheduler, start_workers, stop_workers, worker_command
from parlay_executor_dask.noblocks import NoBlocks
from parlay_executor_dask.resources import check_declared, translate
from parlay_executor_dask.worker_side import run_task, unveto, veto

logger = logging.getLogger("parlay.dask.executor")

_CONNECT_TIMEOUT = 30.0
_CLOSE_TIMEOUT = 10.0
#: Ends in a row of the local workers' process, none of whose workers connected, before the executor gives up.
_START_FAILURES = 3
#: How long what an external cluster's workers declare is trusted before it is asked again.
_RESOURCES_TTL = 5.0


def _is_client(value: Any) -> bool:
    distributed = sys.modules.get("distributed")  # a Client exists only once distributed is imported
    if value is None:
        return True
    return distributed is not None and isinstance(value, distributed.Client) and not value.asynchronous


def _is_memory_limit(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    if isinstance(value, float):
        return 0 < value <= 1
    if value == "auto":
        return True
    from dask.utils import parse_bytes

    try:
        return isinstance(value, str) and parse_bytes(value) > 0
    except ValueError:
        return False


def _is_resources(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str)
        and key
        and not any(c.isspace() or c in "=," for c in key)
        and isinstance(amount, (int, float))
        and not isinstance(amount, bool)
        and amount > 0
        for key, amount in value.items()
    )


def _memory_bytes(limit: str | float) -> float | None:
    """The bytes a `memory_limit` names, if it names a fixed amount."""
    if isinstance(limit, int) and limit > 0:
        return float(limit)
    if isinstance(limit, str) and limit != "auto":
        from dask.utils import parse_bytes

        return float(parse_bytes(limit))
    return None


class _Task:
    """A task until it is settled: its future, and once sent, its Dask future."""

    __slots__ = ("dask", "future")

    def __init__(self, future: _TaskFuture):
        self.future = future
        self.dask: Any = None


class _TaskFuture(ExecutorFuture):
    """A task's future. `cancel()` succeeds only if no Dask worker has started the task."""

    def __init__(self, executor: DaskExecutor, key: str):
        super().__init__()
        self._executor = executor
        self.key = key

    def cancel(self) -> bool:
        if self.done():
            return self.cancelled()
        return self._executor._cancel_queued(self)

    def cancel_now(self) -> bool:
        return super().cancel()


@declare(
    defaults={"label": "dask", "provider": attrs.Factory(NoBlocks)},
    help={
        "provider": "starts the blocks that run `dask worker` processes (LocalProvider, SlurmProvider, ...); the "
        "default, `NoBlocks()`, starts none: tasks go to the scheduler at `address` or `client`, or else to a "
        "local cluster"
    },
)
class DaskExecutor(BlockProviderExecutor):
    """Runs apps on a Dask cluster: an existing scheduler (`address`, `client`), a local cluster (the default),
    or workers in a provider's blocks. Resource specifications ask for Dask worker resources (`cores` ->
    `CPU`, `memory` in MB -> `MEMORY` in bytes, `gpus` -> `GPU`, other keys by their own name); `priority`
    (lower runs first) becomes Dask's priority."""

    cancels_queued = True

    address: str | None = option(
        None,
        "the address of a running Dask scheduler to send tasks to (`tcp://host:8786`); None: parlay starts one",
        optional(Check(lambda value: isinstance(value, str) and "://" in value, "an address such as tcp://host:8786")),
    )
    client: Any = option(
        None,
        "a `distributed.Client` to send tasks through; parlay leaves it and its cluster running at shutdown",
        Check(_is_client, "a distributed.Client (not an asynchronous one), or None"),
    )
    n_workers: int | None = option(
        None,
        "worker processes of the local cluster, or on each node of a block (default: one per `threads_per_worker` "
        "cores, of `provider.cores_per_node` if set, else of this machine)",
        optional(count(1)),
    )
    threads_per_worker: int = option(1, "threads on which each worker process runs tasks", count(1))
    memory_limit: str | int | float = option(
        "auto",
        "memory of each worker process parlay starts, beyond which Dask restarts it: bytes, a string such as '4GB', "
        "a fraction of the node's memory, 'auto' (the node's memory shared out), or 0 (no limit)",
        Check(_is_memory_limit, "bytes, a string such as '4GB', a fraction from 0 to 1, 'auto' or 0"),
    )
    worker_resources: dict[str, float] = option(
        attrs.Factory(dict),
        "resources each worker process parlay starts declares (Dask's `--resources`), such as `{'GPU': 1}`, beside "
        "`CPU` (its threads) and `MEMORY` (a fixed `memory_limit`, in bytes)",
        Check(_is_resources, "a dict of resource names (no blanks, '=' or ',') to numbers > 0"),
    )
    scheduler_host: str | None = option(
        None,
        "the host name or IP address on which the scheduler parlay starts listens (default: loopback for the local "
        "cluster and blocks on this host, else this host's name)",
        optional(Check(lambda value: isinstance(value, str) and value.strip() == value != "", "a host name or IP")),
    )
    scheduler_port: int = option(0, "the port of the scheduler parlay starts (0: any free port)", count(0))
    dashboard_address: str | None = option(
        None,
        "where the scheduler parlay starts serves Dask's dashboard, such as ':8787' (needs bokeh); None: no dashboard",
        optional(Check(lambda value: isinstance(value, str), "an address such as ':8787'")),
    )
    death_timeout: float = option(
        60,
        "seconds a worker parlay started waits for an unreachable scheduler before it exits, so that the workers "
        "of a run that was killed end on their own",
        amount("seconds"),
    )
    worker_extra_args: str = option(
        "", "more `dask worker` flags for the workers parlay starts, such as `--local-directory /scratch`", one_line
    )

    _client: Any = state()  # the distributed.Client tasks go through
    _cluster: Any = state()  # the LocalCluster (a scheduler without workers) parlay started
    _workers: Any = state()  # the local cluster's `dask worker` process
    _folder: str = state("")  # runinfo/NNN/<label>
    _workers_log: str = state("")
    _workers_lock: threading.Lock = state(factory=threading.Lock)  # a restart of the local workers, or the shutdown
    _tracker: Any = state()  # the WorkerTracker plugin of the scheduler parlay started
    _tasks: dict[str, _Task] = state(factory=dict)  # key -> task, until settled
    # (key, function, arguments, options) of the tasks not yet handed to Dask, for the sender
    _outbox: collections.deque = state(factory=collections.deque)
    _send_wake: threading.Event = state(factory=threading.Event)
    _send_lock: threading.Lock = state(factory=threading.Lock)  # held while a batch becomes Dask futures
    _sender: threading.Thread | None = state()
    _completed: Any = state()  # a distributed.as_completed of the Dask futures sent, for the collector
    _wake: threading.Event = state(factory=threading.Event)  # wakes the collector when it has nothing to wait for
    _collector: threading.Thread | None = state()
    _keys: itertools.count = state(factory=itertools.count)
    _prefix: str = state("")
    _stopping: bool = state(False)
    _broken: BaseException | None = state()
    _declared: tuple[float, dict[str, float] | None] = state((-1.0, None))  # when asked, what workers declare

    def __attrs_post_init__(self) -> None:
        if self.address is not None and self.client is not None:
            raise invalid(self, "address", self.address, "give either address or client, not both")
        if (self.address is not None or self.client is not None) and not isinstance(self.provider, NoBlocks):
            which = "address" if self.address is not None else "client"
            raise invalid(
                self,
                which,
                getattr(self, which),
                "a provider's blocks connect to a scheduler parlay starts: give "
                "either a provider, or an existing scheduler (address or client)",
            )

    # --- what the kernel asks -----------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        return len(self._tasks)

    @property
    def workers_per_node(self) -> int:
        if self.n_workers is not None:
            return self.n_workers
        cores = self.provider.cores_per_node or os.cpu_count() or 1
        return max(1, cores // self.threads_per_worker)

    @property
    def scheduler_address(self) -> str | None:
        """The address of the scheduler the tasks go to, once started."""
        return None if self._client is None else self._client.scheduler.address

    def tasks_run_by(self, block_id: str) -> int | None:
        return None if self._tracker is None else self._tracker.finished.get(block_id)

    def idle_blocks(self) -> list[str]:
        """Blocks whose workers run no task (and blocks whose workers have not connected yet)."""
        groups = self._tracker.groups
        busy = {groups.get(worker) for worker, keys in self._client.processing().items() if keys}
        return [block_id for block_id in self.blocks if block_id not in busy]

    def scale_in(self, blocks: int, block_ids: list[str] | None = None) -> list[str]:
        """Retire the blocks' workers (the scheduler gives them no more tasks and moves the results they hold),
        then cancel their jobs."""
        chosen = block_ids if block_ids is not None else list(self.blocks)[::-1][:blocks]
        if not self._stopping and chosen:
            connected = self._client.scheduler_info()["workers"]
            workers = [w for w, group in list(self._tracker.groups.items()) if group in chosen and w in connected]
            if workers:
                try:
                    self._client.retire_workers(workers=workers, close_workers=True)
                except Exception:
                    logger.warning("executor %s could not retire workers %s", self.label, workers, exc_info=True)
        return super().scale_in(blocks, block_ids=chosen)

    def validate_resource_specification(self, spec: dict[str, Any]) -> None:
        resources, _ = translate(spec, self.label)
        if resources:
            declared = self._declared_resources()
            if declared is not None:
                check_declared(spec, declared, self.label)

    def set_bad_state_and_fail_all(self, exception: BaseException) -> None:
        if self._broken is None:  # the first cause stays the one new submissions are told
            self._broken = exception
        self._fail_all(exception)

    # --- starting and stopping ----------------------------------------------------------------------

    def _start_service(self) -> None:
        from distributed import Client, as_completed

        self._folder = os.path.join(self.run_dir, self.label)
        os.makedirs(self._folder, exist_ok=True)
        self._prefix = uuid.uuid4().hex[:8]
        if self.client is not None:
            self._client = self.client
        elif self.address is not None:
            self._client = Client(self.address, timeout=_CONNECT_TIMEOUT, set_as_default=False)
        else:
            from parlay_executor_dask.worker_tracker import WorkerTracker

            blocks = not isinstance(self.provider, NoBlocks)
            self._tracker = WorkerTracker(self.label)
            host = self.scheduler_host or self._default_host(blocks)
            self._cluster = start_scheduler(host, self.scheduler_port, self.dashboard_address, [self._tracker])
            self._client = Client(self._cluster, set_as_default=False)
            if not blocks:
                self._workers_log = os.path.join(self._folder, "workers.log")
                self._workers = self._start_local_workers()
                threading.Thread(
                    target=self._watch_local_workers, name=f"parlay-{self.label}-watch", daemon=True
                ).start()
        self._completed = as_completed(loop=self._client.loop)
        self._sender = threading.Thread(target=self._send, name=f"parlay-{self.label}-send", daemon=True)
        self._sender.start()
        self._collector = threading.Thread(target=self._collect, name=f"parlay-{self.label}-results", daemon=True)
        self._collector.start()

    def _default_host(self, blocks: bool) -> str:
        if not blocks or self.provider.blocks_on_this_host:
            return "127.0.0.1"
        import socket

        return socket.getfqdn()

    def _start_local_workers(self) -> subprocess.Popen:
        from parlay_executor_dask.worker_tracker import LOCAL, worker_name

        self._tracker.finished.pop(LOCAL, None)  # connected: since this start
        return start_workers(self._worker_command(worker_name(self.label, LOCAL), sys.executable), self._workers_log)

    def _watch_local_workers(self) -> None:
        """Start the local workers again when their process ends while the executor runs (Dask's nanny gives up
        when its worker dies while it starts, which a task can cause); after `_START_FAILURES` ends in a row
        without a worker connecting, fail the tasks with the end of the workers' log instead."""
        from parlay_executor_dask.worker_tracker import LOCAL

        failures = 0
        while True:
            proc = self._workers
            code = proc.wait()
            failures = 0 if LOCAL in self._tracker.finished else failures + 1
            how = f"the local Dask workers (pid {proc.pid}) exited with code {code}"
            with self._workers_lock:  # the shutdown stops whichever process this leaves in `_workers`
                if self._stopping:
                    return
                if failures < _START_FAILURES:
                    logger.warning("executor %s: %s; starting them again", self.label, how)
                    self._workers = self._start_local_workers()
                    continue
            text = f"{how}, {failures} times in a row before any of them connected; {log_tail(self._workers_log)}"
            self.set_bad_state_and_fail_all(BadStateException(self.label, text))
            return

    def _get_launch_command(self, block_id: str) -> str:
        from parlay_executor_dask.worker_tracker import worker_name

        python = sys.executable if self.provider.shares_filesystem else "python3"
        return self._worker_command(worker_name(self.label, block_id), python, per_host=True)

    def _worker_command(self, name: str, python: str, per_host: bool = False) -> str:
        return worker_command(
            python,
            self._cluster.scheduler_address,
            name,
            self.workers_per_node,
            self.threads_per_worker,
            self.memory_limit,
            self._own_worker_resources(),
            self.death_timeout,
            self.worker_extra_args,
            per_host,
        )

    def _stop_service(self) -> None:
        """Fail the tasks left, stop the collector, then close what parlay started (the client it made, the
        scheduler, the local workers); a `client` given to it stays open."""
        with self._workers_lock:
            self._stopping = True
        self._send_wake.set()
        if self._completed is not None:
            self._completed.clear()
        self._wake.set()
        for thread in (self._sender, self._collector):
            if thread is not None:
                thread.join(timeout=_CLOSE_TIMEOUT)
        self._fail_all(TaskCancelled(f"executor {self.label} shut down before the task finished"))
        steps: list[tuple[str, Callable[[], object]]] = []
        if self._client is not None and self.client is None:
            steps.append(("the Dask client", lambda: self._client.close(timeout=_CLOSE_TIMEOUT)))
        if self._workers is not None:  # before the scheduler, so that they leave it in good order
            steps.append(("the local Dask workers", lambda: stop_workers(self._workers)))
        if self._cluster is not None:
            steps.append(("the Dask scheduler", lambda: self._cluster.close(timeout=_CLOSE_TIMEOUT)))
        for what, step in steps:
            try:
                step()
            except Exception:
                logger.warning("executor %s could not close %s", self.label, what, exc_info=True)

    # --- submitting ---------------------------------------------------------------------------------

    def _submit(
        self, func: Callable[..., Any], resource_specification: dict[str, Any], args: tuple, kwargs: dict
    ) -> Future:
        if self._broken is not None:
            raise self._broken
        function = serialize_function(func)
        arguments = pack_arguments(func, args, kwargs)
        options: tuple = ()
        if resource_specification:
            resources, priority = translate(resource_specification, self.label)
            options = (priority, tuple(sorted(resources.items())))
        key = f"{getattr(func, 'name', 'task')}-{self._prefix}-{next(self._keys)}"
        future = _TaskFuture(self, key)
        self._tasks[key] = _Task(future)
        self._outbox.append((key, function, arguments, options))
        self._send_wake.set()
        return future

    # --- the sender ---------------------------------------------------------------------------------

    def _send(self) -> None:
        outbox = self._outbox
        while True:
            self._send_wake.wait()
            self._send_wake.clear()
            if self._stopping:
                return
            batch = []
            while outbox:
                batch.append(outbox.popleft())
            if batch:
                try:
                    self._send_batch(batch)
                except Exception as exc:  # the client is closed, or the scheduler gone
                    error = ExecutorError(self.label, f"could not send tasks to the Dask scheduler: {exc}")
                    for key, *_ in batch:
                        self._fail(key, error)

    def _send_batch(self, batch: list[tuple[str, bytes, bytes, tuple]]) -> None:
        """Give Dask the tasks in one `Client.map` per priority and resources, and ask it to call back when
        each ends; tasks cancelled meanwhile are left out."""
        groups: dict[tuple, list[tuple[str, bytes, bytes, tuple]]] = {}
        for item in batch:
            groups.setdefault(item[3], []).append(item)
        with self._send_lock:
            for options, items in groups.items():
                items = [item for item in items if item[0] in self._tasks]
                if not items:
                    continue
                extra = {"priority": options[0], "resources": dict(options[1]) or None} if options else {}
                keys = [item[0] for item in items]
                functions, arguments = [item[1] for item in items], [item[2] for item in items]
                dask_futures = self._client.map(run_task, functions, arguments, key=keys, pure=False, **extra)
                sent = []
                for key, dask_future in zip(keys, dask_futures, strict=True):
                    task = self._tasks.get(key)
                    if task is not None:  # else failed meanwhile: Dask drops the task with its last future
                        task.dask = dask_future
                        sent.append(dask_future)
                self._track(sent)

    def _track(self, dask_futures: list[Any]) -> None:
        """Have the collector wait for these Dask futures."""
        self._completed.update(dask_futures)
        self._wake.set()

    # --- the collector ------------------------------------------------------------------------------

    def _collect(self) -> None:
        """Settle what ended, in batches: Dask's event loop wakes this thread as futures end, and it takes
        every one that ended meanwhile."""
        completed = self._completed
        while not self._stopping:
            if completed.is_empty():
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                batch = completed.next_batch(block=True)
            except StopIteration:  # nothing left to wait for (cleared at shutdown)
                continue
            try:
                self._settle(batch)
            except Exception:  # this thread must go on, or every later future hangs
                logger.exception("executor %s could not settle %d tasks", self.label, len(batch))

    def _settle(self, batch: list[Any]) -> None:
        finished = [f for f in batch if f.status == "finished"]
        others = [f for f in batch if f.status != "finished"]
        if finished:
            try:
                results = self._client.gather(finished)  # one round trip for the whole batch
            except Exception:  # one of them was lost or cancelled meanwhile: each on its own
                others += finished
            else:
                for dask_future, data in zip(finished, results, strict=True):
                    self._deliver(dask_future.key, data)
        for dask_future in others:
            self._settle_one(dask_future)

    def _settle_one(self, dask_future: Any) -> None:
        if dask_future.status in ("pending", "lost"):  # its result was lost with a worker: Dask computes it again
            self._track([dask_future])
            return
        try:
            data = dask_future.result()  # raises the error Dask stopped the task with, or why it was cancelled
        except BaseException as exc:
            self._fail(dask_future.key, self._dask_failure(dask_future.key, exc))
        else:
            self._deliver(dask_future.key, data)

    def _deliver(self, key: str, data: bytes | None) -> None:
        task = self._tasks.pop(key, None)
        if task is None:  # cancelled, or failed by the shutdown
            return
        future = task.future
        if data is None:  # a worker was told not to run it, yet its cancellation did not go through
            future.set_exception(TaskCancelled(f"task {key} was cancelled on its Dask worker"))
            return
        settle(future, data)

    def _fail(self, key: str, exc: BaseException) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.future.set_exception(exc)

    def _dask_failure(self, key: str, exc: BaseException) -> BaseException:
        """What parlay raises for a task that Dask itself could not finish."""
        from distributed.scheduler import KilledWorker

        if isinstance(exc, KilledWorker):
            worker = exc.last_worker
            address = getattr(worker, "address", str(worker))
            host = address.split("://")[-1].rsplit(":", 1)[0]
            detail = f"Dask worker {address} died while running task {key}; {self._worker_log(worker)}"
            return WorkerLost(getattr(worker, "name", address), host, detail)
        if self._stopping:
            return TaskCancelled(f"executor {self.label} shut down before the task finished")
        text = f"Dask could not run task {key}: {type(exc).__name__}: {exc}"
        if self._client.status in ("closing", "closed"):  # it gave up reconnecting: every later task would fail too
            error: ExecutorError = BadStateException(
                self.label, f"the Dask client lost its scheduler at {self.scheduler_address} and closed. {text}"
            )
            if self._broken is None:
                self._broken = error
        else:
            error = ExecutorError(self.label, text)
        error.__cause__ = exc
        return error

    def _worker_log(self, worker: Any) -> str:
        """Where a worker's output went."""
        if self._workers is not None:
            return f"the local workers log to {self._workers_log}"
        block_id = None if self._tracker is None else self._tracker.group_of(getattr(worker, "name", ""))
        if block_id is not None:
            _, stderr = self.provider.output_paths(f"parlay.{self.label}.block-{block_id}")
            return f"it ran in block {block_id}, whose output is in {stderr}"
        return "see that worker's log"

    def _fail_all(self, exception: BaseException) -> None:
        dask_futures = []
        while self._tasks:
            try:
                _, task = self._tasks.popitem()
            except KeyError:  # emptied meanwhile by the collector
                break
            if task.dask is not None:
                dask_futures.append(task.dask)
            with contextlib.suppress(Exception):  # cancelled meanwhile
                task.future.set_exception(exception)
        if dask_futures and self._client is not None:
            with contextlib.suppress(Exception):  # a client that lost its scheduler cannot cancel
                self._client.cancel(dask_futures)

    # --- cancelling ---------------------------------------------------------------------------------

    def _cancel_queued(self, future: _TaskFuture) -> bool:
        """Cancel a task no worker has started. One still in the outbox is simply dropped. Otherwise every
        worker is asked, in its event loop, to refuse to run it (`worker_side.veto`); only if none had started
        it is the Dask task cancelled."""
        key = future.key
        with self._send_lock:
            task = self._tasks.get(key)
            if task is None:  # settled, or being settled
                return future.cancelled()
            if task.dask is None:  # Dask never saw it
                self._tasks.pop(key, None)
                return future.cancel_now()
        try:
            answers = self._client.run(veto, key, on_error="return")
        except Exception as exc:  # from the client's own event loop, or with the scheduler gone
            logger.info("executor %s could not ask the workers about task %s: %s", self.label, key, exc)
            return False
        if not all(answer is True for answer in answers.values()):
            with contextlib.suppress(Exception):
                self._client.run(unveto, key, on_error="ignore")
            return False
        task = self._tasks.pop(key, None)
        if task is None:  # settled meanwhile
            return future.cancelled()
        with contextlib.suppress(Exception):
            task.dask.cancel()
        return future.cancel_now()

    # --- resources ----------------------------------------------------------------------------------

    def _own_worker_resources(self) -> dict[str, float]:
        """What each worker parlay starts declares."""
        resources: dict[str, float] = {"CPU": self.threads_per_worker}
        memory = _memory_bytes(self.memory_limit)
        if memory:
            resources["MEMORY"] = memory
        resources.update(self.worker_resources)
        return resources

    def _declared_resources(self) -> dict[str, float] | None:
        """The most of each resource a worker declares; None when unknown (an external cluster without workers
        yet, which may still get workers that have them)."""
        if self._cluster is not None:
            return self._own_worker_resources()
        asked, declared = self._declared
        if time.monotonic() - asked > _RESOURCES_TTL:
            workers = self._client.scheduler_info()["workers"].values()
            merged: dict[str, float] = {}
            for worker in workers:
                for name, amount in (worker.get("resources") or {}).items():
                    merged[name] = max(amount, merged.get(name, 0))
            declared = merged if workers else None
            self._declared = (time.monotonic(), declared)
        return declared
