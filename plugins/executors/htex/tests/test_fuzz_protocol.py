"""Fuzzing every decoder of htex's wire protocol with hypothesis: the pure decoders in this process (many
examples), then the real interchange, manager and worker fed random, mutated, truncated and oversized
messages on each of their sockets. Each survives, closes only the offending connection, logs one line for
it, keeps serving its good peers, and unpickles nothing a peer sent.

Examples per property come from the `htex-fuzz` profile of conftest.py (`PARLAY_FUZZ_EXAMPLES` for more).
"""

import builtins
import contextlib
import json
import logging
import operator
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import Future

import pytest
import zmq
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import parlay
from parlay import Config
from parlay.errors import ExecutorError
from parlay.futures import ExecutorFuture
from parlay.serialize import pack_arguments, pack_result, serialize_function, unpack_result
from parlay.testing import TIMEOUT
from parlay.testing.workflow_apps import identity
from parlay.worker import READY, pack_task, start_worker, unpack_task
from parlay_executor_htex import HighThroughputExecutor
from parlay_executor_htex import protocol as p
from parlay_executor_htex.interchange import local_address
from parlay_executor_htex.stream import _CHUNK, READ_LIMIT, Closed, Stream

FUZZ = settings.get_profile("htex-fuzz")
#: End-to-end properties: each example crosses processes, so fewer of them.
E2E = settings(FUZZ, max_examples=max(10, FUZZ.max_examples // 10))

# --- strategies ---------------------------------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(st.sampled_from(["op", "id", "workers", "prefetch", "python", "x"]), json_values)
opaque = st.binary(max_size=48)
random_frames = st.lists(opaque, max_size=5)


def valid_messages(payloads=opaque):
    """Well-formed messages of every kind, payloads drawn from `payloads`."""
    return st.one_of(
        st.lists(st.tuples(u64, i32, u32, payloads), max_size=4).map(p.pack_tasks),
        st.lists(st.tuples(u64, payloads), max_size=4).map(p.pack_results),
        st.tuples(u32, payloads).map(lambda t: [p.header(p.FUNCTION), p.FUNC_ID.pack(t[0]), t[1]]),
        st.tuples(st.lists(u64, max_size=4), json_objects).map(
            lambda t: [p.header(p.LOST), p.pack_ids(t[0]), json.dumps(t[1]).encode()]
        ),
        st.tuples(st.sampled_from([p.REGISTER, p.REGISTERED, p.COMMAND, p.REPLY]), json_objects).map(
            lambda t: p.pack_json(*t)
        ),
        st.sampled_from([p.HEARTBEAT, p.DRAIN, p.STOP]).map(lambda kind: [p.header(kind)]),
        u32.map(lambda n: [p.header(p.CAPACITY), p.FUNC_ID.pack(n)]),
    )


@st.composite
def mutated(draw, messages):
    """A message of `messages` broken one way: a flipped byte, another version or kind in the header, a
    frame cut short, dropped or added, or a payload longer or shorter than its metadata says."""
    frames = list(draw(messages))
    how = draw(st.sampled_from(["flip", "version", "kind", "truncate", "drop", "extra", "resize"]))
    index = draw(st.integers(0, len(frames) - 1))
    frame = frames[index]
    if how == "flip" and frame:
        at = draw(st.integers(0, len(frame) - 1))
        frames[index] = frame[:at] + bytes([frame[at] ^ draw(st.integers(1, 255))]) + frame[at + 1 :]
    elif how == "version":
        frames[0] = p.HEADER.pack(draw(st.integers(0, 255).filter(lambda v: v != p.VERSION)), frames[0][1])
    elif how == "kind":
        frames[0] = p.HEADER.pack(p.VERSION, draw(st.integers(0, 255)))
    elif how == "truncate" and frame:
        frames[index] = frame[: draw(st.integers(0, len(frame) - 1))]
    elif how == "drop":
        del frames[index]
    elif how == "extra":
        frames.insert(draw(st.integers(0, len(frames))), draw(st.binary(max_size=16)))
    else:  # payload lengths that lie
        frames[-1] = frames[-1][: draw(st.integers(0, len(frames[-1])))] + draw(st.binary(max_size=16))
    return frames


def any_message(payloads=opaque):
    """Random frames, well-formed messages, and broken ones."""
    valid = valid_messages(payloads)
    return st.one_of(random_frames, valid, mutated(valid))


def accepts(decode, frames) -> bool:
    try:
        decode(frames)
    except p.ProtocolError:
        return False
    return True


def has_kind(frames, *kinds) -> bool:
    try:
        return p.kind_of(frames) in kinds
    except p.ProtocolError:
        return False


def wait_until(predicate, what):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_the_canary_sings_when_unpickled(canary):
    """The proof the refusal tests rely on: unpickling the canary's bytes, anywhere, leaves its folder."""
    assert not canary.sung
    unpack_result(canary.payload)
    assert canary.sung


# --- the pure decoders (protocol.py) ------------------------------------------------------------------

DECODERS = (
    p.kind_of,
    p.unpack_json,
    p.unpack_function,
    p.unpack_capacity,
    p.task_entries,
    p.unpack_tasks,
    p.unpack_results,
    p.result_ids,
    p.unpack_lost,
)


def test_decoders_raise_nothing_but_protocol_errors_and_unpickle_nothing(canary):
    @FUZZ
    @given(frames=any_message(st.sampled_from([b"", b"opaque", canary.payload])))
    def check(frames):
        for decode in DECODERS:
            with contextlib.suppress(p.ProtocolError):
                decode(frames)
        # the interchange forwards exactly the results the submitting side can read
        assert accepts(p.result_ids, frames) == accepts(p.unpack_results, frames)

    check()
    assert not canary.sung


@FUZZ
@given(
    tasks=st.lists(st.tuples(u64, i32, u32, st.binary(max_size=32)), max_size=6),
    results=st.lists(st.tuples(u64, st.binary(max_size=32)), max_size=6),
    lost=st.tuples(st.lists(u64, max_size=6), json_objects),
    function=st.tuples(u32, st.binary(max_size=32)),
    body=json_objects,
    capacity=u32,
)
def test_valid_messages_round_trip(tasks, results, lost, function, body, capacity):
    assert p.unpack_tasks(p.pack_tasks(tasks)) == tasks
    assert [(tid, bytes(payload)) for tid, payload in p.unpack_results(p.pack_results(results))] == results
    assert list(p.result_ids(p.pack_results(results))) == [tid for tid, _ in results]
    assert p.unpack_lost([p.header(p.LOST), p.pack_ids(lost[0]), json.dumps(lost[1]).encode()]) == lost
    assert p.unpack_function([p.header(p.FUNCTION), p.FUNC_ID.pack(function[0]), function[1]]) == function
    assert p.unpack_capacity([p.header(p.CAPACITY), p.FUNC_ID.pack(capacity)]) == capacity
    for kind in p.NAMES:
        assert p.kind_of([p.header(kind)]) == kind
    assert json.loads(json.dumps(p.unpack_json(p.pack_json(p.COMMAND, body)))) == json.loads(json.dumps(body))


@FUZZ
@given(info=st.dictionaries(st.sampled_from(["id", "workers", "prefetch"]), json_values))
def test_registration_fields_are_checked(info):
    for decode in (p.manager_id, p.manager_capacity):
        with contextlib.suppress(p.ProtocolError):
            decode(info)


def test_malformed_registrations_and_json_say_what_is_wrong():
    with pytest.raises(p.ProtocolError, match="RecursionError"):
        p.unpack_json([p.header(p.REGISTER), b"[" * 100_000])
    with pytest.raises(p.ProtocolError, match="is a list, not an object"):
        p.unpack_json([p.header(p.REGISTER), b"[]"])
    with pytest.raises(p.ProtocolError, match="manager id of 1 to 64 bytes"):
        p.manager_id({"id": "ab" * 65})
    with pytest.raises(p.ProtocolError, match="counts of workers"):
        p.manager_capacity({"workers": True})
    assert p.manager_id({"id": "ab" * 16}) == b"\xab" * 16
    assert p.manager_capacity({"workers": 2}) == 2


# --- the local stream's framing (stream.py) ---------------------------------------------------------


def encode(frames) -> bytes:
    """One message as the stream frames it (the README's layout), written independently of stream.py."""
    lengths = b"".join(struct.pack("!I", len(frame)) for frame in frames)
    body = lengths + b"".join(frames)
    return struct.pack("!II", len(body), len(frames)) + body


def complete_messages(data: bytes) -> int:
    """How many bytes of `data` the well-formed complete messages at its start take."""
    offset = 0
    while len(data) - offset >= 8:
        size, count = struct.unpack_from("!II", data, offset)
        if len(data) - offset - 8 < size or 4 * count > size:
            break
        if 4 * count + sum(struct.unpack_from(f"!{count}I", data, offset + 8)) != size:
            break
        offset += 8 + size
    return offset


def feed(data: bytes, cuts: list[int]) -> tuple[list[list[bytes]], bool]:
    """Write `data` to a stream in pieces cut at `cuts`, receiving after each, then close the writer; the
    messages received and whether the stream said `Closed` before the writer closed."""
    writer, reader = socket.socketpair()
    stream = Stream(reader)
    received: list[list[bytes]] = []
    try:
        try:
            start = 0
            for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
                writer.sendall(data[start:cut])
                start = cut
                received += stream.receive()
        except Closed:
            return received, True
        writer.close()
        with pytest.raises(Closed):
            for _ in range(3):
                received += stream.receive()
        return received, False
    finally:
        writer.close()
        stream.close()


@FUZZ
@given(messages=st.lists(random_frames, max_size=6), cuts=st.lists(st.integers(0, 10**6), max_size=8))
def test_stream_delivers_messages_whole_however_they_are_cut(messages, cuts):
    received, broken = feed(b"".join(map(encode, messages)), cuts)
    assert not broken
    assert received == messages


@st.composite
def stream_bytes(draw):
    """Random bytes, or framed messages with a byte flipped or a lying length."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=120))
    data = bytearray(b"".join(map(encode, draw(st.lists(random_frames, min_size=1, max_size=4)))))
    at = draw(st.integers(0, len(data) - 1))
    data[at] ^= draw(st.integers(1, 255))
    return bytes(data)


@FUZZ
@given(data=stream_bytes(), cuts=st.lists(st.integers(0, 10**6), max_size=8))
def test_stream_hands_out_only_well_framed_messages_then_closes(data, cuts):
    received, broken = feed(data, cuts)
    delivered = b"".join(map(encode, received))
    assert data.startswith(delivered)
    if broken:  # on a malformed message (those read with it before it are dropped: the connection ends)
        assert len(delivered) <= complete_messages(data) < len(data)
    else:  # every well-formed message, then the writer closed
        assert len(delivered) == complete_messages(data)


def test_a_message_beyond_the_read_bound_arrives_over_several_receives():
    writer, reader = socket.socketpair()
    stream = Stream(reader)
    big = [b"h", os.urandom(3 * READ_LIMIT)]
    sender = threading.Thread(target=writer.sendall, args=(encode(big),))
    sender.start()
    received, calls = [], 0
    while not received:
        select.select([reader], [], [], TIMEOUT)
        received = stream.receive()
        calls += 1
    sender.join(TIMEOUT)
    assert received == [big]
    assert calls >= 3  # no receive read more than READ_LIMIT (and one chunk) at once
    assert len(big[1]) > READ_LIMIT + _CHUNK
    writer.close()
    stream.close()


def test_a_length_that_promises_more_than_comes_waits_then_closes():
    writer, reader = socket.socketpair()
    stream = Stream(reader)
    writer.sendall(struct.pack("!II", 1000, 1) + struct.pack("!I", 992) + b"only this")
    assert stream.receive() == []
    writer.close()
    with pytest.raises(Closed, match="closed the connection"):
        stream.receive()
    stream.close()


# --- the interchange, in this process: its client, local managers and TCP managers --------------------


class Records(logging.Handler):
    """The warnings (and worse) a logger emits."""

    def __init__(self, name: str):
        super().__init__(logging.WARNING)
        self.lines: list[logging.LogRecord] = []
        self.logger = logging.getLogger(name)
        self.logger.addHandler(self)

    def emit(self, record):
        self.lines.append(record)

    def single_lines(self) -> bool:
        return all(record.exc_info is None and "\n" not in record.getMessage() for record in self.lines)


def receive(stream: Stream, count: int = 1) -> list[list[bytes]]:
    messages: list[list[bytes]] = []
    while len(messages) < count:
        ready, _, _ = select.select([stream.sock], [], [], TIMEOUT)
        assert ready, f"timed out with {messages}"
        messages += stream.receive()
    return messages


MANAGER = {"id": "ab" * 8, "block_id": "0", "workers": 1, "prefetch": 10, "python": p.python_version(), "parlay": "t"}


@pytest.fixture
def interchange(in_process_interchange):
    """A running interchange (in a thread), its client, a registered local manager and its warnings."""
    records = Records("parlay.htex.interchange")
    yield (*in_process_interchange, records)
    records.logger.removeHandler(records)


def managers(client: Stream, pending_replies: int = 0) -> list[dict]:
    """Ask the interchange for its managers (after `pending_replies` replies still to come); what else
    reaches the client meanwhile (results and losses forwarded from managers) is skipped."""
    client.send(p.pack_json(p.COMMAND, {"op": "managers"}))
    replies: list[list[bytes]] = []
    while len(replies) <= pending_replies:
        replies += [frames for frames in receive(client) if p.kind_of(frames) == p.REPLY]
    assert len(replies) == pending_replies + 1, "more replies than commands"
    return p.unpack_json(replies[-1])["reply"]


def test_the_client_gets_one_reply_per_command_and_nothing_else_breaks(interchange, canary):
    _, client, manager, records = interchange
    client_messages = st.one_of(any_message(st.just(canary.payload)), command_messages())

    @FUZZ
    @given(frames=client_messages)
    def check(frames):
        assume(not has_kind(frames, p.COMMAND) or b"shutdown" not in frames[-1])
        before = len(records.lines)
        client.send(frames)
        commands = has_kind(frames, p.COMMAND)
        [me] = managers(client, pending_replies=commands)  # in order: every COMMAND got exactly one REPLY
        assert me["manager"] == MANAGER["id"]
        assert len(records.lines) - before <= 1
        manager.receive()  # what reached the manager is not checked here: that it keeps coming is

    check()
    assert records.single_lines()
    assert not canary.sung


def command_messages():
    ops = st.sampled_from(["managers", "blocks", "hold_block", "block_lost", "nonsense", 7, None])
    fields = st.dictionaries(st.sampled_from(["block_id", "reason"]), json_values).filter(
        lambda fields: str(fields.get("block_id")) != MANAGER["block_id"]  # the good manager's block stays
    )
    return st.tuples(ops, fields).map(lambda t: p.pack_json(p.COMMAND, {"op": t[0], **t[1]}))


def test_command_errors_are_replied_so_later_replies_stay_paired(interchange):
    _, client, _, _ = interchange
    client.send(p.pack_json(p.COMMAND, {"op": "hold_block"}))  # no block_id
    client.send(p.pack_json(p.COMMAND, {"op": "what?"}))
    first, second = (p.unpack_json(m) for m in receive(client, 2))
    assert "block_id" in first["error"] and first["op"] == "hold_block"
    assert "unknown command 'what?'" in second["error"]
    assert [m["manager"] for m in managers(client)] == [MANAGER["id"]]


def registrations(parlay_version: str):
    """REGISTERs the interchange accepts, each with an id of its own."""
    return st.builds(
        lambda identity, workers: p.pack_json(
            p.REGISTER,
            {"id": identity.hex(), "workers": workers, "python": p.python_version(), "parlay": parlay_version},
        ),
        st.binary(min_size=16, max_size=16),
        st.integers(0, 2),
    )


def peer_messages(parlay_version: str, payloads=opaque):
    """What a peer says on connecting: often a good registration first, then anything."""
    first = st.one_of(registrations(parlay_version), any_message(payloads)).map(lambda frames: [frames])
    return st.tuples(first, st.lists(any_message(payloads), max_size=3)).map(lambda t: t[0] + t[1])


def local_garbage(address: str, messages: list[list[bytes]], raw: bytes) -> None:
    """Connect to the interchange's Unix socket, send `messages` (then `raw` bytes), stop sending, and
    read until the interchange closes the connection."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(address)
    with contextlib.suppress(OSError):  # it may hang up before all is sent
        sock.sendall(b"".join(map(encode, messages)) + raw)
        sock.shutdown(socket.SHUT_WR)
    sock.settimeout(TIMEOUT)
    with contextlib.suppress(ConnectionResetError):
        while sock.recv(65536):
            pass
    sock.close()


def test_each_local_connection_that_breaks_the_protocol_is_closed_with_one_line(interchange, canary, tmp_path):
    _, client, _, records = interchange
    address = local_address(str(tmp_path))

    @FUZZ
    @given(messages=peer_messages("t", st.just(canary.payload)), raw=st.binary(max_size=24))
    def check(messages, raw):
        before = len(records.lines)
        local_garbage(address, messages, raw)  # returns once the interchange has closed it
        assert len(records.lines) - before == 1, [r.getMessage() for r in records.lines[before:]]
        assert [m["manager"] for m in managers(client)] == [MANAGER["id"]]  # the good manager is still there

    check()
    assert records.single_lines()
    assert not canary.sung


def tcp_garbage(context: zmq.Context, port: int, identity: bytes, messages: list[list[bytes]]) -> zmq.Socket:
    """Send `messages` to the interchange's TCP port as a peer named `identity`, then one that is always
    malformed; the peer's socket, to close once the interchange has dealt with it."""
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IDENTITY, identity)
    sock.connect(f"tcp://127.0.0.1:{port}")
    for frames in [*messages, [b"\xff"]]:
        if frames:  # ZeroMQ has no message without frames
            sock.send_multipart(frames)
    return sock


def test_each_tcp_peer_that_breaks_the_protocol_is_ignored_with_one_line(interchange, canary):
    server, client, _, records = interchange
    context = zmq.Context()
    peers = iter(range(1, 10**9))

    @FUZZ
    @given(messages=peer_messages("t", st.just(canary.payload)))
    def check(messages):
        identity = b"fuzz-%09d" % next(peers)  # of one length: no peer's name holds another's
        before = len(records.lines)
        peer = tcp_garbage(context, server.worker_port, identity, messages)
        wait_until(lambda: len(records.lines) > before, "its warning")
        assert [m["manager"] for m in managers(client)] == [MANAGER["id"]]
        assert [identity.hex() in r.getMessage() for r in records.lines[before:]] == [True]
        peer.close()

    try:
        check()
    finally:
        context.destroy(linger=0)
    assert records.single_lines()
    assert not canary.sung


# --- the submitting side's receive (executor.py) --------------------------------------------------------


class FakeLink:
    def __init__(self, messages):
        self.messages = messages

    def receive(self):
        return self.messages


def test_the_submitting_side_settles_only_what_decodes_and_its_thread_survives_the_rest():
    executor = HighThroughputExecutor()
    records = Records("parlay.htex.executor")
    payloads = st.sampled_from([pack_result(42), b"", b"garbage"])
    results = st.lists(st.tuples(st.integers(1, 4), payloads), max_size=3).map(p.pack_results)
    replies = json_objects.map(lambda body: p.pack_json(p.REPLY, body))

    @FUZZ
    @given(frames=st.one_of(any_message(payloads), results, mutated(results), replies))
    def check(frames):
        futures = {task_id: ExecutorFuture() for task_id in range(1, 5)}
        for future in futures.values():
            future.set_running_or_notify_cancel()
        executor._futures.clear()
        executor._futures.update(futures)
        answer: Future = Future()
        executor._replies.clear()
        executor._replies.append(answer)
        executor._link = FakeLink([frames])
        before = len(records.lines)
        executor._receive()
        settled = {task_id for task_id, future in futures.items() if future.done()}
        if has_kind(frames, p.RESULTS) and accepts(p.unpack_results, frames):
            assert settled == {tid for tid, _ in p.unpack_results(frames) if tid in futures}
        elif has_kind(frames, p.LOST) and accepts(p.unpack_lost, frames):
            assert settled == set(p.unpack_lost(frames)[0]) & futures.keys()
        else:
            assert not settled
        if has_kind(frames, p.REPLY):
            assert answer.done()
            body = p.unpack_json(frames) if accepts(p.unpack_json, frames) else {"error": "malformed"}
            if "error" in body:
                assert isinstance(answer.exception(), ExecutorError)
            else:
                assert answer.result() == body.get("reply")
        warned = not (has_kind(frames, p.RESULTS, p.LOST, p.REPLY) and accepts(decoder_of(frames), frames))
        assert len(records.lines) - before == warned

    try:
        check()
    finally:
        records.logger.removeHandler(records)
    assert records.single_lines()


def decoder_of(frames):
    return {p.RESULTS: p.unpack_results, p.LOST: p.unpack_lost, p.REPLY: lambda frames: None}[p.kind_of(frames)]


# --- the worker's framing (parlay.worker) --------------------------------------------------------------

ADD = serialize_function(operator.add)


def task_messages():
    """Task messages as a manager makes them, some broken."""
    valid = st.builds(
        lambda carry, a, b: pack_task(1, ADD if carry else None, pack_arguments(operator.add, (a, b), {})),
        st.booleans(),
        st.integers(-100, 100),
        st.integers(-100, 100),
    )
    numbered = st.builds(pack_task, u32, st.none() | st.binary(max_size=16), st.binary(max_size=16))

    @st.composite
    def broken(draw):
        data = bytearray(draw(st.one_of(valid, numbered)))
        if data and draw(st.booleans()):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return bytes(data[: draw(st.integers(0, len(data)))])

    return st.one_of(valid, numbered, broken(), st.binary(max_size=32))


@FUZZ
@given(data=task_messages())
def test_unpack_task_reads_only_what_pack_task_made(data):
    try:
        number, function, arguments = unpack_task(memoryview(data))
    except ValueError:
        return
    assert pack_task(number, None if function is None else bytes(function), bytes(arguments)) == data


@pytest.fixture
def worker(tmp_path):
    """A real worker process (`python -m parlay.worker`), this test in its manager's place."""
    proc, conn = start_worker(dict(os.environ), str(tmp_path / "worker.log"), stall=TIMEOUT)
    assert conn.poll(TIMEOUT) and conn.recv_bytes() == READY
    yield proc, conn, tmp_path / "worker.log"
    conn.close()
    proc.wait(TIMEOUT)


def ask(conn, data: bytes) -> bytes:
    """Send a worker `data`; its one reply."""
    conn.send_bytes(data)
    assert conn.poll(TIMEOUT), "the worker did not answer"
    reply = conn.recv_bytes()
    assert not conn.poll(0.01), "the worker answered twice"
    return reply


def test_a_worker_answers_every_message_once_and_survives(worker):
    proc, conn, log = worker

    @E2E
    @given(data=task_messages())
    def check(data):
        reply = ask(conn, data)
        try:
            unpack_task(memoryview(data))
        except ValueError as exc:  # the framing is refused before anything is deserialized
            with pytest.raises(ValueError, match=re.escape(str(exc))):
                unpack_result(reply)
            return
        with contextlib.suppress(Exception):  # garbage arguments fail the task; that is all
            unpack_result(reply)

    check()
    assert unpack_result(ask(conn, pack_task(1, ADD, pack_arguments(operator.add, (2, 3), {})))) == 5
    with pytest.raises(ValueError, match="function 99, which this worker never received"):
        unpack_result(ask(conn, pack_task(99, None, pack_arguments(operator.add, (2, 3), {}))))
    assert proc.poll() is None
    assert log.read_text() == ""


def test_a_worker_whose_message_is_cut_short_ends_quietly(worker):
    proc, conn, log = worker
    os.write(conn.fileno(), struct.pack("!i", 1000) + b"not a thousand bytes")
    conn.close()
    assert proc.wait(TIMEOUT) == 0
    assert log.read_text() == ""


# --- a real manager, this test in its interchange's place ------------------------------------------------


@pytest.fixture
def manager(tmp_path):
    """A real manager process with one worker, connected to this test's Unix socket, registered; the
    stream to it and its log."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "interchange"))
    listener.listen(1)
    command = [sys.executable, "-m", "parlay_executor_htex.manager", "--addresses", "127.0.0.1", "--port", "1"]
    command += ["--ipc", str(tmp_path / "interchange"), "--logdir", str(tmp_path), "--max-workers-per-node", "1"]
    command += ["--prefetch-capacity", "0", "--heartbeat-period", "1", "--heartbeat-threshold", "600"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE)
    listener.settimeout(TIMEOUT)
    sock, _ = listener.accept()
    stream = Stream(sock)
    register = receive(stream)[0]
    assert p.kind_of(register) == p.REGISTER
    stream.send(p.pack_json(p.REGISTERED, {"accepted": True}))
    stream.send([p.header(p.FUNCTION), p.FUNC_ID.pack(1), ADD])
    stream.send([p.header(p.FUNCTION), p.FUNC_ID.pack(2), serialize_function(builtins.eval)])
    log = tmp_path / "block-0" / str(proc.pid) / "manager.log"
    yield proc, stream, log
    stream.send([p.header(p.STOP)])
    assert proc.wait(TIMEOUT) == 0
    assert proc.stderr.read() == b""
    stream.close()
    listener.close()


def run_task(stream: Stream, task_id: int, function: int, *args) -> bytes:
    """Send the manager one task; the payload of its result (other results and losses are skipped)."""
    stream.send(p.pack_tasks([(task_id, p.NO_PRIORITY, function, pack_arguments(operator.add, args, {}))]))
    while True:
        for frames in receive(stream):
            if p.kind_of(frames) == p.RESULTS:
                for tid, payload in p.unpack_results(frames):
                    if tid == task_id:
                        return bytes(payload)


def malformed_for_a_manager(frames) -> bool:
    """Whether a manager must drop `frames` (and say so): it takes TASKS, FUNCTION, HEARTBEAT, DRAIN (the
    interchange's answer to its own) and STOP."""
    decoders = {p.TASKS: p.unpack_tasks, p.FUNCTION: p.unpack_function, p.HEARTBEAT: p.kind_of, p.DRAIN: p.kind_of}
    return not (has_kind(frames, *decoders) and accepts(decoders[p.kind_of(frames)], frames))


def test_a_manager_drops_what_the_interchange_garbles_with_one_line_each(manager):
    proc, stream, log = manager
    sentinels = iter(range(2**40, 2**41))
    expected = 0

    @E2E
    @given(frames=any_message())
    def check(frames):
        nonlocal expected
        assume(not has_kind(frames, p.STOP))
        assume(not (has_kind(frames, p.FUNCTION) and frames[1:2] in ([p.FUNC_ID.pack(1)], [p.FUNC_ID.pack(2)])))
        stream.send(frames)
        expected += malformed_for_a_manager(frames)
        sentinel = next(sentinels)
        assert unpack_result(run_task(stream, sentinel, 1, sentinel, 1)) == sentinel + 1

    check()
    text = log.read_text()
    assert text.count("dropped a malformed message from the interchange") == expected
    assert "Traceback" not in text
    assert proc.poll() is None


def worker_fd_writer(data: bytes) -> str:
    """Python for a task (run by `eval`) that writes `data` to its worker's connection to the manager."""
    return f"__import__('os').write(int(__import__('sys').argv[-1]), {data!r})"


@pytest.mark.parametrize(
    "garbage, why",
    [
        (struct.pack("!i", 3) + b"abc", "answered a task it was not given"),
        (struct.pack("!i", -5), "answered a task it was not given"),
        (struct.pack("!i", 100_000) + b"abc", "stopped in the middle of a message"),
    ],
    ids=["an extra message", "a negative length", "a length that lies"],
)
def test_a_worker_that_breaks_its_framing_is_killed_and_replaced_with_one_line(manager, garbage, why):
    """Caught when a reply cannot belong to a task (a worker with a task queued behind the one that wrote
    garbage would have the extra message taken for that task's result)."""
    proc, stream, log = manager
    stream.send(p.pack_tasks([(1, p.NO_PRIORITY, 2, pack_arguments(eval, (worker_fd_writer(garbage),), {}))]))
    wait_until(lambda: "broke the protocol" in log.read_text(), "the worker to be found out")
    assert unpack_result(run_task(stream, 2, 1, 2, 3)) == 5  # on its replacement
    text = log.read_text()
    assert text.count("broke the protocol") == 1 and why in text
    assert "Traceback" not in text
    assert proc.poll() is None


# --- the real interchange of a run: garbage on each socket, a good manager still served ------------------
# (its apps come from parlay.testing: a worker that imported this module would lack the conftest's profile)


def test_garbage_on_every_socket_of_a_running_interchange(tmp_path, canary):
    executor = HighThroughputExecutor(max_workers_per_node=1, encrypted=False)
    with parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"))):
        assert identity(0).result(TIMEOUT) == 0
        address = os.path.join(executor._ipc_dir, "managers")
        context = zmq.Context()
        peers = iter(range(1, 10**9))
        connections = 0

        def warnings() -> list[str]:
            with open(executor._interchange_log) as stream:
                return [line for line in stream if " WARNING " in line or " ERROR " in line]

        @E2E
        @given(messages=peer_messages(parlay.__version__, st.just(canary.payload)), raw=st.binary(max_size=24))
        def check(messages, raw):
            nonlocal connections
            local_garbage(address, messages, raw)
            identity = b"fuzz-%09d" % next(peers)
            peer = tcp_garbage(context, executor.worker_port, identity, messages)
            connections += 2
            wait_until(lambda: len(warnings()) >= connections, "a warning for each connection")
            peer.close()

        try:
            check()
        finally:
            context.destroy(linger=0)
        assert [identity(i).result(TIMEOUT) for i in range(5)] == list(range(5))
        assert executor._interchange.poll() is None
        assert len(executor.command("managers")) == 1
        assert len(warnings()) == connections
        assert "Traceback" not in open(executor._interchange_log).read()
    assert not canary.sung
