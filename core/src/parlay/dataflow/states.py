"""Task states, in one place."""

from __future__ import annotations

import enum


class States(enum.Enum):
    """The states a task passes through; `FINAL_STATES` end it."""

    pending = "pending"  # waiting for its dependencies
    launched = "launched"  # handed to an executor
    running = "running"  # an executor has started it
    joining = "joining"  # a join app waiting for the tasks it returned
    exec_done = "exec_done"  # finished with a result
    memo_done = "memo_done"  # result taken from the memo table or a checkpoint
    failed = "failed"  # raised, and no retries are left
    dep_fail = "dep_fail"  # not run: a dependency failed or was cancelled
    cancelled = "cancelled"  # cancelled before it started, or dropped at shutdown

    def __str__(self) -> str:
        return self.value

    # members are singletons compared by identity; Enum's own hash runs Python code at every count update
    __hash__ = object.__hash__


FINAL_STATES = frozenset({States.exec_done, States.memo_done, States.failed, States.dep_fail, States.cancelled})
FAILURE_STATES = frozenset({States.failed, States.dep_fail})
