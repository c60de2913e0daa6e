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


def start_worker(env: dict[str, str], log_path: str) -> tuple[subprocess.Popen, Connection]:
    """Start `python -m parlay.worker` with `env`, its output to `log_path`; the process and the
    connection to talk to it."""
    parent, child = socket.socketpair()
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


def serve(conn: Connection) -> None:
    """Run tasks from `conn` until it closes."""
    from parlay.serialize import deserialize, pack_exception, pack_result, unpack_arguments

    functions: dict[int, Any] = {}
    conn.send_bytes(READY)
    while True:
        try:
            data = memoryview(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the executor went away
        try:
            number, has_function = _TASK.unpack_from(data)
            offset = _TASK.size
            if has_function:
                (size,) = _LENGTH.unpack_from(data, offset)
                offset += _LENGTH.size
                functions[number] = deserialize(data[offset : offset + size])
                offset += size
            args, kwargs = unpack_arguments(data[offset:])
            reply = pack_result(functions[number](*args, **kwargs))
        except BaseException as exc:  # the task's failure, whatever it is, goes back to the submitter
            reply = pack_exception(exc)
        del data
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
