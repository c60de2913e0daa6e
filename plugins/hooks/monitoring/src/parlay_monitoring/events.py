"""The events the hub's hooks queue for the writer: plain tuples, built in a few hundred nanoseconds on the
kernel's threads, turned into rows on the writer's thread (`rows.Batch`).

    (TASK, task_id, try_id, old_state, new_state, timestamp, func_name, executor, memoize, fail_count,
     fail_cost, extra, exception_text)
    (REPORT, task_id, try_id, func_name, executor, report)   # report: `probe.REPORT_KEY`'s tuple
    (BLOCK, executor, block_id, job_id, state, message, timestamp)
    (NODE, executor, block_id, node_id, hostname, workers, python, cpu_count, total_memory, joined, timestamp)

`extra` of a TASK event depends on the change: the task's `time_invoked` when it is created (old_state
None); `details(task)` when its first try is launched and when it ends; its `fail_history` when a failed try
is retried (back to `pending`); the ids of the futures a join app returned when it starts `joining`.
"""

from __future__ import annotations

from typing import Any

TASK, REPORT, BLOCK, NODE = range(4)

#: The states that end a task.
FINAL = frozenset({"exec_done", "memo_done", "failed", "dep_fail", "cancelled"})


def details(task: Any) -> tuple:
    """What a task row records once (its dependencies, hashsum, files and streams) and the failures of its
    tries: `(depends, hashsum, files, fail_history)`, with `files` = `(inputs, outputs, stdin, stdout,
    stderr)` as the app was called, or None. Only references and task ids: nothing is formatted here."""
    kwargs = task.kwargs
    files = (
        (kwargs.get("inputs"), kwargs.get("outputs"), kwargs.get("stdin"), kwargs.get("stdout"), kwargs.get("stderr"))
        if kwargs
        else None
    )
    depends = task.depends
    ids = tuple(getattr(future, "tid", None) for future in depends) if depends else ()
    return (ids, task.hashsum, files, task.fail_history)


def future_ids(futures: Any) -> tuple:
    """The task ids of a join app's futures (one future or a list)."""
    if futures is None:
        return ()
    if not isinstance(futures, (list, tuple)):
        futures = [futures]
    return tuple(getattr(future, "tid", None) for future in futures)


def brief(exc: BaseException) -> str:
    """`Type: message`, as the task and try rows record a failure."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
