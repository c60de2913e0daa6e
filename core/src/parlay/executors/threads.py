"""`ThreadPoolExecutor`: tasks run in threads of this process (the default executor).

Its threads are daemons and it owns its queue, so interpreter exit never waits for queued tasks
(the standard library's pool joins its threads at exit, which is how a Ctrl-C turns into a hang).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from parlay.executors.base import ParlayExecutor
from parlay.futures import ExecutorFuture
from parlay.options import count, declare, option, state, text


@declare(defaults={"label": "threads"})
class ThreadPoolExecutor(ParlayExecutor):
    """Runs tasks on `max_threads` threads in the submitting process; queued tasks can be cancelled."""

    in_process = True
    cancels_queued = True

    max_threads: int = option(2, "threads that run tasks", count(1), positional=True)
    thread_name_prefix: str = option(
        "", "the start of the threads' names (empty: `parlay-` and the label)", text, positional=True
    )

    _queue: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple, dict] | None] = state(factory=queue.SimpleQueue)
    _threads: list[threading.Thread] = state(factory=list)

    def _start(self) -> None:
        prefix = self.thread_name_prefix or f"parlay-{self.label}"
        for n in range(self.max_threads):
            thread = threading.Thread(target=self._work, name=f"{prefix}-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _submit(
        self, func: Callable[..., Any], resource_specification: dict[str, Any], args: tuple, kwargs: dict
    ) -> Future:
        future = ExecutorFuture()
        self._queue.put((future, func, args, kwargs))
        return future

    def _work(self) -> None:
        get = self._queue.get
        while (item := get()) is not None:
            _run(*item)
            del item  # hold nothing of a finished task while idle

    def _shutdown(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in self._threads:
            self._queue.put(None)
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(timeout=0.1)  # a thread stuck in a long task is a daemon: never wait for it


def _run(future: Future, func: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = func(*args, **kwargs)
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)
