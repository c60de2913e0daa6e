"""A task's stdout and stderr files, as the dashboard serves them: only the paths the database records for
that task, only regular files, at most `cap` bytes (the end of a longer file)."""

from __future__ import annotations

import ast
import os
import stat
from dataclasses import dataclass

#: The most bytes of one file the dashboard sends (the file's end, when it is longer).
CAP = 1 << 20


@dataclass
class Excerpt:
    path: str
    size: int
    data: bytes
    skipped: int  # bytes at the start of the file not sent


def recorded_path(value: str | None) -> str | None:
    """The path in a task's `task_stdout`/`task_stderr` column: a path, or the text of a `(path, mode)` tuple."""
    if not value:
        return None
    value = value.strip()
    if value.startswith("("):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        if isinstance(parsed, tuple) and parsed and isinstance(parsed[0], str):
            return parsed[0]
    return value


def candidates(path: str, rundir: str | None) -> list[str]:
    """Where a recorded path may be: itself when absolute; else relative to the folder the run started in (the
    parent of `runinfo/`, where its run directory was made), then to the run directory."""
    path = os.path.expanduser(path)
    if os.path.isabs(path):
        return [path]
    found = []
    if rundir:
        found += [os.path.join(os.path.dirname(os.path.dirname(rundir)), path), os.path.join(rundir, path)]
    return found


def locate(path: str, rundir: str | None) -> tuple[str, int] | None:
    """The first candidate of `path` that is a regular file, and its size."""
    for candidate in candidates(path, rundir):
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            return candidate, st.st_size
    return None


def read(path: str, rundir: str | None, *, cap: int = CAP, tail: int | None = None) -> Excerpt | None:
    """The end of the first candidate of `path` that is a regular file (at most `cap`, or `tail`, bytes); None
    when there is none."""
    limit = cap if tail is None else max(0, min(tail, cap))
    for candidate in candidates(path, rundir):
        try:  # non-blocking: a FIFO at that path must not hang the server
            fd = os.open(candidate, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        with os.fdopen(fd, "rb") as stream:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            size = st.st_size
            skipped = max(0, size - limit)
            stream.seek(skipped)
            data = stream.read(limit)
        if skipped:  # start at a line
            newline = data.find(b"\n", 0, 4096)
            if newline >= 0:
                data, skipped = data[newline + 1 :], skipped + newline + 1
        return Excerpt(candidate, size, data, skipped)
    return None
