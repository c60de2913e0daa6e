"""The local message stream: framing across partial reads and writes, back-pressure, and how it ends."""

import socket
import threading

import pytest

from parlay.testing import TIMEOUT
from parlay_executor_htex.stream import Closed, Stream


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    ours, theirs = Stream(a), Stream(b)
    yield ours, theirs
    ours.close()
    theirs.close()


def receive_all(stream, count):
    messages = []
    while len(messages) < count:
        messages += stream.receive()
    return messages


def test_messages_keep_their_frames(pair):
    ours, theirs = pair
    sent = [[b"\x01\x01", b"", b"payload"], [b"one"], [b"", b""]]
    for frames in sent:
        ours.send(frames)
    assert receive_all(theirs, 3) == sent


def test_a_message_split_across_reads_arrives_whole():
    a, b = socket.socketpair()
    theirs = Stream(b)
    encoded = b"\x00\x00\x00\x0d\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x03hiyou"
    for byte in encoded[:-1]:
        a.send(bytes([byte]))
        assert theirs.receive() == []
    a.send(encoded[-1:])
    assert theirs.receive() == [[b"hi", b"you"]]
    a.close()
    theirs.close()


def test_sends_never_block_and_flush_when_the_peer_reads(pair):
    ours, theirs = pair
    big = [b"h", bytes(range(256)) * 40_000]  # 10 MB: far more than a socket buffer
    ours.send(big)
    ours.send([b"after"])
    assert ours.pending
    received = []
    while len(received) < 2:
        ours.flush()
        received += theirs.receive()
    assert received == [big, [b"after"]]
    assert not ours.pending


def test_closing_ends_the_peer_after_what_was_sent(pair):
    ours, theirs = pair
    ours.send([b"last words"])
    ours.close()
    assert receive_all(theirs, 1) == [[b"last words"]]
    with pytest.raises(Closed):
        theirs.receive()
    with pytest.raises(Closed):
        theirs.send([b"anyone there?"])


def test_frame_lengths_that_do_not_add_up_close_the_stream():
    a, b = socket.socketpair()
    theirs = Stream(b)
    a.send(b"\x00\x00\x00\x08\x00\x00\x00\x01\x00\x00\x00\x09xxxx")  # one frame of 9 bytes in a 8-byte body
    with pytest.raises(Closed, match="do not add up"):
        theirs.receive()
    a.close()
    theirs.close()


def test_close_with_grace_sends_what_waits_first(pair):
    ours, theirs = pair
    big = [bytes(10_000_000)]
    ours.send(big)
    assert ours.pending
    received = []
    reader = threading.Thread(target=lambda: received.extend(receive_all(theirs, 1)))
    reader.start()
    ours.close(grace=TIMEOUT)
    reader.join(TIMEOUT)
    assert received == [big]
