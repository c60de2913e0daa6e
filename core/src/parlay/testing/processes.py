"""This machine's processes as Linux's /proc shows them: what tests check has ended, or is still there.

Zombies count as ended everywhere. Light on purpose: fake scheduler commands import it.
"""

from __future__ import annotations

import os


def stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, session id) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            fields = stream.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1]), int(fields[3])


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    found = stat(pid)
    return found is not None and found[0] != "Z"


def pids() -> list[int]:
    """Every process id, live or zombie."""
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def live() -> dict[int, tuple[int, int]]:
    """Every live process: pid -> (parent pid, session id)."""
    found = {}
    for pid in pids():
        info = stat(pid)
        if info is not None and info[0] != "Z":
            found[pid] = (info[1], info[2])
    return found


def cmdline(pid: int) -> str:
    """A process's command line, its arguments joined by spaces ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            return stream.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    return [child for child, (parent, _) in live().items() if parent == pid]


def descendants(pid: int) -> set[int]:
    """The live processes below `pid`, however deep."""
    below: dict[int, list[int]] = {}
    for child, (parent, _) in live().items():
        below.setdefault(parent, []).append(child)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in below.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def session_members(sid: int) -> list[int]:
    """The live processes of session `sid`."""
    return [pid for pid, (_, session) in live().items() if session == sid]


def mentioning(text: str) -> list[tuple[int, str]]:
    """The live processes whose command line contains `text`, with that command line."""
    found = []
    for pid in live():
        line = cmdline(pid)
        if text in line:
            found.append((pid, line))
    return found
