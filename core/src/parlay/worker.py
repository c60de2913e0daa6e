"""A worker process, shared by the executors that run tasks in processes of their own.

`python -m parlay.worker FD` talks over the socket whose descriptor is FD: it says `ready` once its
imports worked, then answers each task message with a packed result, one task at a time. A task
message names its function by number and carries the function's bytes only the first time this
worker sees it.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

_TASK = struct.Struct("!IB")  # function number, whether the function's bytes follow
_LENGTH = struct.Struct("!I")
READY = b"ready"


def pack_task(function_number: int, function: bytes | None, arguments: bytes) -> bytes:
    """A task message: the function number, the function's bytes if the worker lacks them, the arguments."""
    if function is None:
        return _TASK.pack(function_number, 0) + arguments
    return _TASK.pack(function_number, 1) + _LENGTH.pack(len(function)) + function + arguments


def start_worker(env: dict[str, str], log_path: str, stall: float = 0.0) -> tuple[subprocess.Popen, Connection]:
    """Start `python -m parlay.worker` with `env`, its output to `log_path`; the process and the
    connection to talk to it. With `stall`, a read from the worker that waits that many seconds for the
    rest of a message fails (`BlockingIOError`): a worker that breaks its framing cannot hang its reader."""
    parent, child = socket.socketpair()
    if stall:
        seconds = int(stall)
        timeval = struct.pack("ll", seconds, int((stall - seconds) * 1e6))
        parent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "parlay.worker", str(child.fileno())],
            pass_fds=[child.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    child.close()
    return proc, Connection(parent.detach())


def _stop(signum: int, frame: Any) -> None:
    from parlay.execution import kill_running_commands

    kill_running_commands()  # bash commands run in sessions of their own: take them down with us
    os._exit(128 + signum)


def unpack_task(data: memoryview) -> tuple[int, memoryview | None, memoryview]:
    """(function number, the function's bytes if carried, the packed arguments) of a `pack_task` message;
    `ValueError` for bytes `pack_task` cannot have made."""
    if len(data) < _TASK.size:
        raise ValueError(f"a task message of {len(data)} bytes, too short for its header")
    number, has_function = _TASK.unpack_from(data)
    if not has_function:
        return number, None, data[_TASK.size :]
    start = _TASK.size + _LENGTH.size
    if has_function != 1 or len(data) < start:
        raise ValueError("a task message with a malformed function header")
    (size,) = _LENGTH.unpack_from(data, _TASK.size)
    if size > len(data) - start:
        raise ValueError(f"a task message too short for its function's {size} bytes")
    return number, data[start : start + size], data[start + size :]


def serve(conn: Connection) -> None:
    """Run tasks from `conn` until it closes; each message gets one reply."""
    from parlay.serialize import deserialize, pack_exception, pack_result, unpack_arguments

    functions: dict[int, Any] = {}
    conn.send_bytes(READY)
    while True:
        try:
            data = memoryview(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the executor went away
        function = arguments = None  # views of `data`: released with it before the reply is sent
        try:
            number, function, arguments = unpack_task(data)
            if function is not None:
                functions[number] = deserialize(function)
            elif number not in functions:
                raise ValueError(f"a task of function {number}, which this worker never received")
            args, kwargs = unpack_arguments(arguments)
            reply = pack_result(functions[number](*args, **kwargs))
        except BaseException as exc:  # the task's failure, whatever it is, goes back to the submitter
            reply = pack_exception(exc)
        del function, arguments, data
        conn.send_bytes(reply)


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the process that started this worker dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before the request took effect
            _stop(signal.SIGTERM, None)


def main(fd: int) -> None:
    signal.signal(signal.SIGTERM, _stop)
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the submitter decides
    serve(Connection(fd))


if __name__ == "__main__":
    main(int(sys.argv[1]))
