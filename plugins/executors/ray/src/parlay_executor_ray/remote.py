"""What runs inside a Ray worker: the tasks of one app, given the bytes of its function.

Each app gets a Ray remote function of its own (`task_function`) that carries the bytes
`parlay.serialize.serialize_function` made of the app's function (a reference to it when it is importable):
Ray exports a remote function once per job and each worker loads it once, so no task carries them. Arguments
and results travel as Ray's own objects, so large ones go through the object store once. An exception comes
back as a `Failure` that parlay packed, so its type, message and remote traceback survive as on every other
executor, and Ray never counts the task as failed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from parlay.serialize import load_function, pack_exception


class Failure:
    """The exception a task raised, packed by `parlay.serialize.pack_exception`."""

    __slots__ = ("packed",)

    def __init__(self, packed: bytes):
        self.packed = packed

    def __reduce__(self) -> tuple[Any, ...]:
        return (Failure, (self.packed,))


def run_task(function: bytes, /, *args: Any, **kwargs: Any) -> Any:
    """Run one task. SIGINT is ignored while it runs: Ray cancels a task that has started by interrupting it,
    and parlay cancels only tasks that have not started."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        return load_function(function)(*args, **kwargs)
    except BaseException as exc:  # whatever the task raised goes back to the submitter
        return Failure(pack_exception(exc))
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def task_function(function: bytes, name: str) -> Callable[..., Any]:
    """The function Ray runs for each task of one app (`ray.remote` of it), named after the app for Ray's
    dashboard and logs."""

    def task(*args: Any, **kwargs: Any) -> Any:
        return run_task(function, *args, **kwargs)

    task.__name__ = task.__qualname__ = name
    return task
