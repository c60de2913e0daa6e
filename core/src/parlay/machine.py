"""What this node has, as executors and monitoring report it: the CPUs this process may use and the
physical memory."""

from __future__ import annotations

import os


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity, where the system has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def total_memory() -> int | None:
    """This node's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
