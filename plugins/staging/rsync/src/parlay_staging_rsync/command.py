"""Running the rsync program: an argument list (no shell), in a session of its own with no terminal (so an
ssh password prompt fails instead of waiting), bounded by a timeout, and an error quoting its exit code and
what it printed on failure."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Sequence

#: What rsync's exit codes mean (rsync(1), EXIT VALUES).
EXIT_CODES = {
    1: "syntax or usage error",
    2: "protocol incompatibility",
    3: "errors selecting input/output files, dirs",
    4: "requested action not supported",
    5: "error starting client-server protocol",
    6: "daemon unable to append to log-file",
    10: "error in socket I/O",
    11: "error in file I/O",
    12: "error in rsync protocol data stream",
    13: "errors with program diagnostics",
    14: "error in IPC code",
    20: "received SIGUSR1 or SIGINT",
    21: "some error returned by waitpid()",
    22: "error allocating core memory buffers",
    23: "partial transfer due to error",
    24: "partial transfer due to vanished source files",
    25: "the --max-delete limit stopped deletions",
    30: "timeout in data send/receive",
    35: "timeout waiting for daemon connection",
    255: "the remote shell failed (unreachable host, refused login or key)",
}
#: The longest tail of rsync's error output an error quotes.
MAX_MESSAGE = 2000
#: Seconds rsync has, once asked to stop (SIGTERM), to remove its temporary files before it is killed.
GRACE = 5.0


class RsyncError(RuntimeError):
    """rsync failed, could not be started, or ran out of time; the message quotes it."""


def run(args: Sequence[str], timeout: float | None) -> str:
    """Run the command `args` (rsync and its arguments) and return what it printed on stdout."""
    shown = shlex.join(args)
    try:
        process = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # no controlling terminal; its ssh is stopped with it
        )
    except FileNotFoundError:
        raise RsyncError(f"cannot run {shown}: no program {args[0]!r} here (install rsync)") from None
    except OSError as exc:
        raise RsyncError(f"cannot run {shown}: {exc}") from None
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise RsyncError(f"{shown} did not finish within {timeout:g} s (the timeout option): stopped it") from None
    except BaseException:
        _stop(process)
        raise
    if process.returncode != 0:
        raise RsyncError(failure(shown, process.returncode, err))
    return out


def failure(shown: str, code: int, stderr: str) -> str:
    """The message of a failed run: the command, its exit code and its meaning, and rsync's error output."""
    meaning = f"killed by signal {-code}" if code < 0 else EXIT_CODES.get(code, "see rsync(1), EXIT VALUES")
    message = stderr.strip()
    if len(message) > MAX_MESSAGE:
        message = "..." + message[-MAX_MESSAGE:]
    return f"{shown} exited with code {code} ({meaning}): {message or 'it printed no error'}"


def _stop(process: subprocess.Popen) -> None:
    """Stop rsync and what it started (ssh): SIGTERM first, so that it removes its temporary files, then
    SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=GRACE)
            break
        except subprocess.TimeoutExpired:
            continue
    for stream in (process.stdout, process.stderr):
        with contextlib.suppress(OSError):
            stream.close()
