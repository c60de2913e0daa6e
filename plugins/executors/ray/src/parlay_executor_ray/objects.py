"""Large arguments go into Ray's object store once (`ray.put`), however many tasks in flight take them.

Ray itself puts an argument bigger than its inline limit (100 KiB) into the object store, but once per task
that takes it. Here an argument whose size (`sys.getsizeof`, which counts the bytes of `bytes`, `str` and
NumPy arrays) reaches the threshold is put once, and every task submitted while it is in the store gets the
same ObjectRef, which Ray resolves to the value in the worker. The entry lives as long as one of its tasks
is in flight; the value is held meanwhile, so its id cannot be reused by another object.
"""

from __future__ import annotations

import sys
import threading
from typing import Any


class SharedArguments:
    """The large arguments of the tasks in flight, by the id of the value."""

    def __init__(self, threshold: int):
        self.threshold = threshold
        self._entries: dict[int, list[Any]] = {}  # id(value) -> [value, ObjectRef, tasks in flight that take it]
        self._lock = threading.Lock()

    def share(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any], list[int]]:
        """`args` and `kwargs` with each large value replaced by its ObjectRef, and the ids to `release` once the
        task is over (empty when nothing was large)."""
        threshold = self.threshold
        if not threshold:
            return args, kwargs, []
        shared: list[int] = []
        if any(sys.getsizeof(value, 0) >= threshold for value in args):
            args = tuple(self._ref(value, shared) for value in args)
        if kwargs and any(sys.getsizeof(value, 0) >= threshold for value in kwargs.values()):
            kwargs = {name: self._ref(value, shared) for name, value in kwargs.items()}
        return args, kwargs, shared

    def release(self, shared: list[int]) -> None:
        """A task that took these shared values is over."""
        with self._lock:
            for key in shared:
                entry = self._entries[key]
                entry[2] -= 1
                if not entry[2]:
                    del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def _ref(self, value: Any, shared: list[int]) -> Any:
        if sys.getsizeof(value, 0) < self.threshold:
            return value
        import ray

        key = id(value)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = [value, ray.put(value), 0]
            entry[2] += 1
        shared.append(key)
        return entry[1]
