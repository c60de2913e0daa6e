"""What runs inside Dask workers: each parlay task, and the check that lets a queued task be cancelled.

A task travels as the bytes parlay's serializer made (the runner once per function, then the arguments), so
Dask only ever pickles two `bytes` objects and a reference to `run_task`; the result travels back packed the
same way, so the submitting side raises the task's own exception with its remote traceback.

Cancelling is decided where the task would run. `veto` runs in a worker's event loop, where Dask's worker
state machine also runs, so the state it reads cannot change under it: a task that has not started executing
there is marked, and `run_task` returns at once for a marked task instead of running it.
"""

from __future__ import annotations

from typing import Any

from parlay.serialize import load_function, pack_exception, pack_result, unpack_arguments

#: Worker task states of a task that has started executing there (or finished).
_STARTED = frozenset({"executing", "long-running", "memory", "error", "cancelled", "resumed"})

#: Keys of tasks this worker must not run: their cancellation was granted before they started.
_vetoed: set[Any] = set()


def run_task(function: bytes, arguments: bytes) -> bytes | None:
    """Run one parlay task; its packed result or exception, or None if it was cancelled before it started."""
    if _vetoed:
        from distributed import get_worker

        key = get_worker().get_current_task()
        if key in _vetoed:
            _vetoed.discard(key)
            return None
    try:
        args, kwargs = unpack_arguments(arguments)
        return pack_result(load_function(function)(*args, **kwargs))
    except BaseException as exc:  # whatever the task raised goes back to the submitter
        return pack_exception(exc)


def veto(key: Any, dask_worker: Any) -> bool:
    """Called through `Client.run` on every worker: True if this worker has not started the task `key` (it now
    never will), False if it has."""
    task = dask_worker.state.tasks.get(key)
    if task is not None and task.state in _STARTED:
        return False
    _vetoed.add(key)
    return True


def unveto(key: Any) -> None:
    """Called through `Client.run` on every worker when some worker had started the task: the marks go."""
    _vetoed.discard(key)
