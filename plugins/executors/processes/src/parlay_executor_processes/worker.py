"""A worker process: receives packed tasks on the socket whose descriptor is its first argument, runs
them one at a time and sends back packed results."""

from __future__ import annotations

import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any


def _stop(signum: int, frame: Any) -> None:
    from parlay.execution import kill_running_commands

    kill_running_commands()  # bash commands run in sessions of their own: take them down with us
    os._exit(128 + signum)


def main(fd: int) -> None:
    from parlay.serialize import pack_exception, pack_result, unpack_apply

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the submitter decides
    conn = Connection(fd)
    conn.send_bytes(b"ready")
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the executor went away
        try:
            func, args, kwargs = unpack_apply(data)
            reply = pack_result(func(*args, **kwargs))
        except BaseException as exc:  # the task's failure, whatever it is, goes back to the submitter
            reply = pack_exception(exc)
        del data
        conn.send_bytes(reply)


if __name__ == "__main__":
    main(int(sys.argv[1]))
