"""Executor futures share one condition; waiting on one must still mean waiting for that one."""

import threading
import time
from concurrent.futures import CancelledError, TimeoutError, wait

import pytest

from parlay.futures import ExecutorFuture


def test_waiting_is_not_fooled_by_other_futures_completing():
    mine, others = ExecutorFuture(), [ExecutorFuture() for _ in range(50)]

    def complete_others_then_mine():
        for future in others:
            future.set_result("other")
        time.sleep(0.2)
        mine.set_result("mine")

    threading.Thread(target=complete_others_then_mine).start()
    assert mine.result(timeout=60) == "mine"


def test_timeout_and_exception():
    future = ExecutorFuture()
    with pytest.raises(TimeoutError):
        future.result(timeout=0.05)
    future.set_exception(KeyError("k"))
    assert isinstance(future.exception(timeout=1), KeyError)
    with pytest.raises(KeyError):
        future.result()


def test_callbacks_cancel_and_wait():
    seen = []
    future = ExecutorFuture()
    future.add_done_callback(lambda f: seen.append(f.result()))
    future.set_result(1)
    assert seen == [1]
    queued = ExecutorFuture()
    assert queued.cancel() and queued.cancelled()
    assert not queued.set_running_or_notify_cancel()  # what an executor does before running a task
    with pytest.raises(CancelledError):
        queued.result()
    with pytest.raises(CancelledError):
        queued.exception()
    assert not future.cancelled() and future.exception() is None and future.result() == 1
    done, not_done = wait([future, queued, ExecutorFuture()], timeout=0.1)
    assert {future, queued} <= done and len(not_done) == 1
