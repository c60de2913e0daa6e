"""A container's processes on this host: everything descended from its first process or left in its session
(the stand-in's substitute for a container's cgroup), their memory, and killing them all."""

from __future__ import annotations

import contextlib
import os
import signal

_PAGE = os.sysconf("SC_PAGE_SIZE")


def process_table() -> dict[int, tuple[int, int, int]]:
    """Every live process of this host (zombies aside): pid -> (parent pid, session id, resident bytes)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rpartition(")")[2].split()
            with open(f"/proc/{entry}/statm") as stream:
                resident = int(stream.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue  # it ended while we looked
        # after the command name: state, ppid, pgrp, session
        if fields[0] != "Z":
            table[int(entry)] = (int(fields[1]), int(fields[3]), resident)
    return table


def members(root: int, table: dict[int, tuple[int, int, int]]) -> set[int]:
    """`root`, its descendants (even those in sessions of their own) and the processes left in its session."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    stack = [root, *(pid for pid, (_, session, _) in table.items() if session == root)]
    found: set[int] = set()
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack += children.get(pid, [])
    return found & set(table)


def resident_bytes(root: int, table: dict[int, tuple[int, int, int]]) -> int:
    """The memory a container's processes hold."""
    return sum(table[pid][2] for pid in members(root, table))


def kill_all(root: int, signum: int = signal.SIGKILL) -> None:
    """Signal every process of the container started as `root` (found before any is signalled, so that
    none is reparented away first); again for what was forked meanwhile."""
    for _ in range(3):
        pids = members(root, process_table())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)
        if signum != signal.SIGKILL:
            return
