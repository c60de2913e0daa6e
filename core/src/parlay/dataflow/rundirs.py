"""Run directories: `runinfo/000`, `runinfo/001`, ... one per DataFlowKernel."""

from __future__ import annotations

import contextlib
import errno
import os

from parlay.errors import ConfigurationError

#: Written and removed when a run directory is made: a folder that takes no file fails at `load()`, not mid-run.
_PROBE = ".parlay-write-check"


def run_numbers(root: str) -> list[int]:
    """The numbers of the existing run directories under `root`, ascending."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(root, n)))


def make_run_dir(root: str) -> str:
    """Create the next run directory under `root` (safe against concurrent runs) and check that a file can be
    written there; a folder that is read-only, full or not ours raises `ConfigurationError` naming it."""
    made = None
    try:
        os.makedirs(root, exist_ok=True)
        number = (run_numbers(root) or [-1])[-1] + 1
        while made is None:
            path = os.path.join(root, f"{number:03d}")
            try:
                os.mkdir(path)
                made = path
            except FileExistsError:
                number += 1
        _check_writable(made)
    except OSError as exc:
        if made is not None:
            with contextlib.suppress(OSError):
                os.rmdir(made)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            remedy = "free some space there, or choose another folder with Config(run_dir=...)"
        else:
            remedy = "choose a folder parlay can write to with Config(run_dir=...)"
        raise ConfigurationError(
            f"cannot write a run directory in {os.path.abspath(root)}: {exc.strerror or exc}; {remedy}"
        ) from exc
    return made


def _check_writable(path: str) -> None:
    probe = os.path.join(path, _PROBE)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"parlay")
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        with contextlib.suppress(OSError):  # not there when it could not be made
            os.unlink(probe)
