"""Multipart send and receive on pyzmq sockets without pyzmq's per-frame Python layer.

`Socket.send_multipart` combines enum flags for every frame and `recv_multipart` checks an enum option,
which costs more than the send itself for the small messages of a task chain; these call the compiled
socket methods with plain integer flags. Same semantics: frames are copied, a send blocks at the
high-water mark, errors raise `zmq.ZMQError`.
"""

from __future__ import annotations

import zmq
from zmq.backend import Socket as _CompiledSocket

_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_send = _CompiledSocket.send
_recv = _CompiledSocket.recv
_get = _CompiledSocket.get


def send(sock: zmq.Socket, frames: list[bytes]) -> None:
    """Send `frames` as one multipart message."""
    last = len(frames) - 1
    for index, frame in enumerate(frames):
        _send(sock, frame, _SNDMORE if index < last else 0)


def receive(sock: zmq.Socket) -> list[bytes]:
    """Receive one multipart message (blocking)."""
    frames = [_recv(sock)]
    while _get(sock, _RCVMORE):
        frames.append(_recv(sock))
    return frames


def readable(sock: zmq.Socket) -> bool:
    """Whether a message is waiting on `sock`."""
    return bool(_get(sock, _EVENTS) & _POLLIN)


class Link:
    """A manager's ZeroMQ connection to the interchange, with the interface of `stream.Stream`."""

    pending = False  # ZeroMQ queues what the socket cannot take yet

    def __init__(self, sock: zmq.Socket):
        self.sock = sock
        self.pollable = sock

    def send(self, frames: list[bytes]) -> None:
        send(self.sock, frames)

    def flush(self) -> bool:
        return True

    def receive(self) -> list[list[bytes]]:
        """The messages waiting, up to a bound so the manager's workers are not starved."""
        messages: list[list[bytes]] = []
        while len(messages) < 10_000 and readable(self.sock):
            messages.append(receive(self.sock))
        return messages

    def close(self, grace: float = 0.0) -> None:
        """Close the socket, first giving what waits to be sent up to `grace` seconds to go."""
        self.sock.close(linger=int(grace * 1000))
