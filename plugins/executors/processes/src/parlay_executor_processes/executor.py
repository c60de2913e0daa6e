"""`ProcessExecutor`: a pool of worker processes on this machine, one task per worker at a time.

Tasks are packed in the submitting thread (so a serialization error names the argument at once) and
handed to an idle worker, or queued. One dispatcher thread waits on every worker's socket, settles
futures, hands out queued work, and replaces workers that die.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection, wait
from typing import Any

from parlay.errors import BadStateException, TaskCancelled, WorkerLost
from parlay.executors.base import ParlayExecutor
from parlay.futures import ExecutorFuture
from parlay.options import count, declare, option, optional, state
from parlay.serialize import function_id, pack_arguments, settle
from parlay.worker import pack_task, start_worker

#: Workers that die this many times in a row before they are ready mean workers cannot start here.
_START_FAILURES = 3
_STOP_GRACE_SECONDS = 2.0


class _Task:
    __slots__ = ("arguments", "function", "future", "number")

    def __init__(self, future: Future, number: int, function: bytes, arguments: bytes):
        self.future = future
        self.number = number
        self.function = function
        self.arguments = arguments


class _Worker:
    __slots__ = ("conn", "known", "log_path", "proc", "rank", "ready", "task")

    def __init__(self, rank: int, proc: subprocess.Popen, conn: Connection, log_path: str):
        self.rank = rank
        self.proc = proc
        self.conn = conn
        self.log_path = log_path
        self.task: _Task | None = None
        self.known: set[int] = set()  # numbers of the functions this worker has received
        self.ready = False  # set by the worker's first message, sent once its imports succeeded


@declare(defaults={"label": "processes"})
class ProcessExecutor(ParlayExecutor):
    """Runs each task in one of `max_workers` worker processes (default: the number of CPUs)."""

    cancels_queued = True

    max_workers: int | None = option(
        None, "worker processes (default: one per CPU)", optional(count(1)), positional=True
    )

    _lock: threading.Lock = state(factory=threading.Lock)
    _queue: collections.deque[_Task] = state(factory=collections.deque)  # tasks waiting for an idle worker
    _idle: list[_Worker] = state(factory=list)
    _workers: dict[int, _Worker] = state(factory=dict)  # rank -> worker
    _start_failures: int = state(0)  # workers in a row that died before they were ready
    _broken: BaseException | None = state()
    _stopping: bool = state(False)
    _dispatcher: threading.Thread | None = state()

    @property
    def worker_count(self) -> int:
        """How many worker processes run: `max_workers`, or one per CPU."""
        return self.max_workers or os.cpu_count() or 1

    # --- lifecycle --------------------------------------------------------------------------------

    def _start(self) -> None:
        self._wake_r, self._wake_w = socket.socketpair()
        self._log_dir = os.path.join(self.run_dir, self.label)
        os.makedirs(self._log_dir, exist_ok=True)
        for rank in range(self.worker_count):
            self._idle.append(self._spawn(rank))
        self._dispatcher = threading.Thread(target=self._dispatch, name=f"parlay-{self.label}-dispatch", daemon=True)
        self._dispatcher.start()

    def _spawn(self, rank: int) -> _Worker:
        log_path = os.path.join(self._log_dir, f"worker_{rank}.log")
        env = {
            **os.environ,
            "PARLAY_WORKER_RANK": str(rank),
            "PARLAY_WORKER_COUNT": str(self.worker_count),
            # workers import the submitter's modules by name, so they see what it sees
            "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path),
        }
        proc, conn = start_worker(env, log_path)
        worker = _Worker(rank, proc, conn, log_path)
        self._workers[rank] = worker
        return worker

    def _shutdown(self) -> None:
        with self._lock:
            self._stopping = True
            queued = list(self._queue)
            self._queue.clear()
        for task in queued:
            task.future.cancel()
        self._wake_w.send(b"x")
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=30)
        workers = list(self._workers.values())
        for worker in workers:
            _signal(worker.proc, signal.SIGTERM)
        for worker in workers:
            try:
                worker.proc.wait(timeout=_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal(worker.proc, signal.SIGKILL)
                worker.proc.wait()
            worker.conn.close()
            if worker.task is not None and not worker.task.future.done():
                worker.task.future.set_exception(TaskCancelled(f"executor {self.label} shut down while the task ran"))
        self._wake_r.close()
        self._wake_w.close()

    # --- submitting -------------------------------------------------------------------------------

    def _submit(
        self, func: Callable[..., Any], resource_specification: dict[str, Any], args: tuple, kwargs: dict
    ) -> Future:
        number, function = function_id(func)
        task = _Task(ExecutorFuture(), number, function, pack_arguments(func, args, kwargs))
        with self._lock:
            if self._broken is not None:
                raise self._broken
            if not self._idle:
                self._queue.append(task)
                return task.future
            worker = self._idle.pop()
            self._claim(worker, task)  # under the lock: a worker's death handler sees it
        self._send(worker)
        return task.future

    @staticmethod
    def _claim(worker: _Worker, task: _Task) -> bool:
        """Make `task` the task of `worker`, unless it was cancelled."""
        if not (task.future.running() or task.future.set_running_or_notify_cancel()):
            return False
        worker.task = task
        return True

    @staticmethod
    def _send(worker: _Worker) -> None:
        task = worker.task
        assert task is not None
        message = pack_task(task.number, None if task.number in worker.known else task.function, task.arguments)
        worker.known.add(task.number)
        with contextlib.suppress(OSError):  # a dead worker: the dispatcher settles its task
            worker.conn.send_bytes(message)

    def _next_task(self, worker: _Worker) -> None:
        """Hand `worker` the next queued task that was not cancelled, or mark it idle."""
        with self._lock:
            while self._queue:
                if self._claim(worker, self._queue.popleft()):
                    break
            else:
                self._idle.append(worker)
                return
        self._send(worker)

    # --- the dispatcher ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while not self._stopping:
            by_conn = {w.conn: w for w in self._workers.values()}
            ready = wait([*by_conn, self._wake_r])
            for conn in ready:
                if conn is self._wake_r or self._stopping:
                    continue
                worker = by_conn[conn]
                try:
                    reply = conn.recv_bytes()
                except (EOFError, OSError):
                    self._worker_died(worker)
                    continue
                if not worker.ready:
                    worker.ready = True
                    self._start_failures = 0
                    continue
                task, worker.task = worker.task, None
                if task is not None:
                    settle(task.future, reply)
                self._next_task(worker)

    def _worker_died(self, worker: _Worker) -> None:
        code = worker.proc.wait()
        worker.conn.close()
        del self._workers[worker.rank]
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
            task, worker.task = worker.task, None
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        detail = f"pid {worker.proc.pid} {how}; its log is {worker.log_path}"
        if not worker.ready:
            self._start_failures += 1
            if task is not None:  # it never started: it goes to the next worker
                with self._lock:
                    self._queue.appendleft(task)
            if self._start_failures >= _START_FAILURES:
                self._give_up(worker, detail)
                return
        elif task is not None:
            task.future.set_exception(WorkerLost(f"{self.label}-{worker.rank}", socket.gethostname(), detail))
        self._next_task(self._spawn(worker.rank))

    def _give_up(self, worker: _Worker, detail: str) -> None:
        """Workers die before they are ready: fail what is queued rather than start them forever."""
        self._broken = BadStateException(
            self.label,
            f"{_START_FAILURES} workers in a row died before they were ready ({detail}).\n{_tail(worker.log_path)}",
        )
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
        for task in queued:
            if task.future.running() or task.future.set_running_or_notify_cancel():
                task.future.set_exception(self._broken)


def _signal(proc: subprocess.Popen, signum: int) -> None:
    if proc.poll() is None:
        proc.send_signal(signum)


def _tail(path: str, limit: int = 2000) -> str:
    try:
        with open(path, errors="replace") as stream:
            return "worker log tail:\n" + stream.read()[-limit:]
    except OSError:
        return ""
