"""Multipart messages over a local stream socket, for the hops that never leave the submitting host.

ZeroMQ passes every message through a background I/O thread on each side: three thread wake-ups per
hop, which dominate a chain of dependent tasks. Between the submitting process and its interchange (a
socket pair the interchange inherits) and between the interchange and the managers of the same host
(a Unix socket in a folder only the user can enter), htex writes the frames straight to the socket
from the thread that sends them. Sends never block: what the socket does not take waits in a buffer,
sent by `flush` once the socket is writable again.

One message on the wire: body length u32, frame count u32, each frame's length u32, then the frames.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time

_HEAD = struct.Struct("!II")  # body length (what follows the head), frame count
_LENGTH = struct.Struct("!I")
#: Bytes read from the socket per `receive` at most, so a flood from one peer cannot starve the others.
READ_LIMIT = 8 << 20
_CHUNK = 256 << 10


class Closed(EOFError):
    """The peer closed the connection (or broke the framing, which is treated the same)."""


class Stream:
    """A connected stream socket carrying multipart messages; sends and receives never block."""

    def __init__(self, sock: socket.socket):
        sock.setblocking(False)
        self.sock = sock
        self._in = bytearray()
        self._scratch = memoryview(bytearray(_CHUNK))  # reads land here: recv(n) would allocate n bytes each time
        self._out = bytearray()
        self._eof = False
        self.name: bytes | None = None  # who is at the other end, once known

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def pollable(self) -> int:
        """What to register with a poller."""
        return self.sock.fileno()

    @property
    def pending(self) -> bool:
        """Whether sent bytes still wait for the socket to become writable (then call `flush`)."""
        return bool(self._out)

    def send(self, frames: list[bytes]) -> None:
        """Send `frames` as one message; raises `Closed` if the peer is gone."""
        lengths = struct.pack(f"!{len(frames)}I", *map(len, frames))
        head = _HEAD.pack(len(lengths) + sum(map(len, frames)), len(frames))
        if self._out:
            self._out += head
            self._out += lengths
            for frame in frames:
                self._out += frame
            return
        data = b"".join([head, lengths, *frames])
        sent = self._write(data)
        if sent < len(data):
            self._out += memoryview(data)[sent:]

    def flush(self) -> bool:
        """Write what waits; True once nothing does."""
        while self._out:
            sent = self._write(self._out)
            if not sent:
                return False
            del self._out[:sent]
        return True

    def _write(self, data: bytes | bytearray) -> int:
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:  # EPIPE, ECONNRESET, or a socket already closed
            raise Closed(str(exc)) from None

    def receive(self) -> list[list[bytes]]:
        """The complete messages that have arrived; `Closed` once the peer has closed and all were read."""
        read = 0
        while read < READ_LIMIT and not self._eof:
            try:
                size = self.sock.recv_into(self._scratch)
            except BlockingIOError:
                break
            except OSError as exc:
                raise Closed(str(exc)) from None
            if not size:
                self._eof = True
                break
            self._in += self._scratch[:size]
            read += size
            if size < _CHUNK:  # the socket is empty: asking again would only raise BlockingIOError
                break
        messages = self._messages()
        if self._eof and not messages:
            raise Closed("the peer closed the connection")
        return messages

    def _messages(self) -> list[list[bytes]]:
        messages = []
        offset, end = 0, len(self._in)
        with memoryview(self._in) as data:  # frames are copied out of the buffer once
            while end - offset >= _HEAD.size:
                size, count = _HEAD.unpack_from(data, offset)
                start = offset + _HEAD.size
                if end - start < size:
                    break
                table = _LENGTH.size * count
                lengths = struct.unpack_from(f"!{count}I", data, start) if table <= size else ()
                if table > size or table + sum(lengths) != size:
                    raise Closed("a message whose frame lengths do not add up")
                position = start + table
                frames = []
                for length in lengths:
                    frames.append(data[position : position + length].tobytes())
                    position += length
                messages.append(frames)
                offset = start + size
        if offset:
            del self._in[:offset]
        return messages

    def close(self, grace: float = 0.0) -> None:
        """Close the socket, first giving what waits to be sent up to `grace` seconds to go."""
        deadline = time.monotonic() + grace
        with contextlib.suppress(Closed):
            while not self.flush() and (left := deadline - time.monotonic()) > 0:
                select.select([], [self.sock], [], left)
        self.sock.close()
