"""One thread that waits for every Ray task in flight at once and hands each outcome to the executor.

`ray.wait` over the ObjectRefs in flight, then `ray.get` of those that are ready, in one batch: no thread and
no callback per task. (Ray calls per-object callbacks from its I/O thread, which must take the GIL for each:
measured on 2 cores, that cost the submitting process a third more CPU per no-op task than this.) With few
tasks in flight the thread wakes at each result; with many it collects results for a while, 50 times as long
as one `ray.wait` over them took, so that watching stays a small share of a core (at most `MAX_WAIT`). Tasks
submitted while it waits join at the next round; when a round finds nothing, the next waits twice as long (up
to `IDLE_WAIT`, or more while many tasks are in flight).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: Up to this many tasks in flight, a round ends with the first result.
SMALL = 64
MIN_WAIT = 0.005
MAX_WAIT = 0.2
IDLE_WAIT = 0.05
WAIT_SHARE = 50


class Watcher:
    """Waits for the ObjectRef of each future it is given (`future.ref`), then calls
    `deliver(future, value, failed)` with the task's value, or with the error Ray raised for it."""

    def __init__(self, name: str, deliver: Callable[[Any, Any, bool], None], on_lost: Callable[[Any, Exception], None]):
        self._deliver = deliver
        self._on_lost = on_lost  # called for each task in flight when Ray itself fails
        self._new: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def watch(self, future: Any) -> None:
        self._new.put(future)

    def stop(self, timeout: float) -> None:
        """Stop waiting (tasks still in flight are the caller's to settle)."""
        self._new.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        import ray

        by_ref: dict[Any, Any] = {}
        pending: list[Any] = []
        timeout = MIN_WAIT
        while True:
            arrived = self._take(by_ref, pending, block=not pending)
            if arrived is None:
                return
            cost = 0.0
            try:
                if len(pending) == 1:  # a chain, or tasks waited for in turn: ray.get alone answers soonest
                    done = self._get_one(pending[0], timeout)
                    if done:
                        pending = []
                else:
                    began = time.thread_time()
                    wanted = 1 if len(pending) <= SMALL else len(pending)
                    ready, pending = ray.wait(pending, num_returns=wanted, timeout=timeout, fetch_local=False)
                    cost = time.thread_time() - began
                    done = self._get(ready) if ready else []
            except Exception as exc:  # Ray itself failed (the cluster or the connection is gone)
                logger.error("waiting for Ray tasks failed: %s", exc)
                for future in by_ref.values():
                    self._on_lost(future, exc)
                by_ref.clear()
                pending = []
                continue
            for ref, value, failed in done:
                self._deliver(by_ref.pop(ref), value, failed)
            if done or arrived:
                timeout = min(MAX_WAIT, max(MIN_WAIT, WAIT_SHARE * cost))
            else:
                timeout = max(timeout, min(IDLE_WAIT, timeout * 2))
            del done

    def _take(self, by_ref: dict[Any, Any], pending: list[Any], block: bool) -> int | None:
        """Add the futures submitted since the last round; how many, or None to stop."""
        count = 0
        get = self._new.get
        try:
            while True:
                future = get(block=block and not count)
                if future is None:
                    return None
                by_ref[future.ref] = future
                pending.append(future.ref)
                count += 1
        except queue.Empty:
            return count

    @staticmethod
    def _get_one(ref: Any, timeout: float) -> list[tuple[Any, Any, bool]]:
        """The outcome of the only task in flight, if it ends within `timeout`."""
        import ray
        from ray.exceptions import GetTimeoutError

        try:
            return [(ref, ray.get(ref, timeout=timeout), False)]
        except GetTimeoutError:
            return []
        except Exception as exc:
            return [(ref, exc, True)]

    @staticmethod
    def _get(ready: list[Any]) -> list[tuple[Any, Any, bool]]:
        """The outcomes of tasks that ended: their values in one `ray.get`, or one by one if one of them failed."""
        import ray

        try:
            return [(ref, value, False) for ref, value in zip(ready, ray.get(ready), strict=True)]
        except Exception:
            outcomes = []
            for ref in ready:
                try:
                    outcomes.append((ref, ray.get(ref), False))
                except Exception as exc:
                    outcomes.append((ref, exc, True))
            return outcomes
