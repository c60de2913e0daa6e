"""The interchange's routing, driven from this process through its real sockets: the client at one end
of its socket pair, a manager on its Unix socket."""

import select

import pytest

from parlay.testing import TIMEOUT
from parlay_executor_htex import protocol as p


def receive(stream, count):
    messages = []
    while len(messages) < count:
        ready, _, _ = select.select([stream.sock], [], [], TIMEOUT)
        assert ready, f"timed out with {messages}"
        messages += stream.receive()
    return messages


@pytest.fixture
def routed(in_process_interchange):
    """A running interchange, its client and one registered manager able to hold 11 tasks."""
    _, client, manager = in_process_interchange
    return client, manager


def tasks(*entries):
    return p.pack_tasks([(tid, prio, 7, f"task {tid}".encode()) for tid, prio in entries])


def test_a_batch_reaches_the_manager_in_priority_order(routed):
    client, manager = routed
    client.send([p.header(p.FUNCTION), p.FUNC_ID.pack(7), b"function"])
    client.send(tasks((1, 5), (2, 1), (3, 3)))
    function, batch = receive(manager, 2)
    assert p.kind_of(function) == p.FUNCTION
    assert [(tid, payload) for tid, _, _, payload in p.unpack_tasks(batch)] == [
        (2, b"task 2"),
        (3, b"task 3"),
        (1, b"task 1"),
    ]


def test_tasks_arrive_as_sent_the_function_once_and_results_come_back(routed):
    client, manager = routed
    client.send([p.header(p.FUNCTION), p.FUNC_ID.pack(7), b"function"])
    first = tasks((1, p.NO_PRIORITY), (2, p.NO_PRIORITY))
    client.send(first)
    assert receive(manager, 2)[1] == first
    second = tasks((3, 4))
    client.send(second)
    assert receive(manager, 1) == [second]  # the function is not sent again
    results = p.pack_results([(1, b"one"), (2, b"two"), (3, b"three")])
    manager.send(results)
    assert receive(client, 1) == [results]


def test_a_batch_larger_than_the_free_capacity_waits_for_results(routed):
    client, manager = routed
    client.send([p.header(p.FUNCTION), p.FUNC_ID.pack(7), b"function"])
    client.send(tasks(*((tid, p.NO_PRIORITY) for tid in range(1, 15))))
    _, batch = receive(manager, 2)
    assert [tid for tid, _, _, _ in p.unpack_tasks(batch)] == list(range(1, 12))  # 1 worker + 10 prefetched
    manager.send(p.pack_results([(1, b""), (2, b"")]))
    (rest,) = receive(manager, 1)
    assert [tid for tid, _, _, _ in p.unpack_tasks(rest)] == [12, 13]
