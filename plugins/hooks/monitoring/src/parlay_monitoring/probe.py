"""What monitoring records where each try runs, inside the worker process that runs it (no process of its own).

The kernel calls a probe's `start()` on the worker just before the task's function and `stop(token, error)`
just after; the dict `stop` returns travels back with the result (`parlay_task_reported`). Every probe's
report is `{REPORT_KEY: (hostname, pid, block_id, started, ended, interval, samples)}`: `started` is when the
function began (the try's running time), `block_id` what an htex worker finds in `PARLAY_WORKER_BLOCK_ID`.

`ResourceProbe` adds samples of the process (`SAMPLE_FIELDS`): one every `interval` seconds while the function
runs, from a daemon thread shared by the tasks of that process, and one at the end (CPU times and peaks are
cumulative, so the end's is the try's largest). The sample at the end reads `/proc/self` through descriptors
kept open (a few microseconds; psutil elsewhere);
the periodic ones use psutil, add up the process's live children as Parsl's monitor does, and name the CPU. CPU
times and context switches are cumulative over the process's life and include its reaped children.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from parlay import machine

#: The key of monitoring's report among the reports of a try's probes.
REPORT_KEY = "parlay_monitoring"
#: What each sample holds, in order.
SAMPLE_FIELDS = (
    "timestamp",
    "time_user",
    "time_system",
    "memory_resident",
    "memory_virtual",
    "memory_percent",
    "disk_read",
    "disk_write",
    "ctx_switches_voluntary",
    "ctx_switches_involuntary",
    "children_count",
    "status",
    "cpu_num",
)


class WhereProbe:
    """Where and when a try ran: host, process, block, the function's start and end."""

    __slots__ = ()

    def start(self) -> float:
        return time.time()

    def stop(self, started: float, error: BaseException | None) -> dict[str, Any]:
        ended = time.time()
        here = _Process.get()
        return {REPORT_KEY: (here.hostname, here.pid, here.block_id, started, ended, None, ())}

    def __reduce__(self) -> tuple[Any, ...]:
        return (where_probe, ())


class _Token:
    """One try's state while it runs: the tasks of a process may overlap (threads), so it is not the probe's."""

    __slots__ = ("due", "samples", "started")

    def __init__(self) -> None:
        self.samples: list[tuple] = []
        self.started = 0.0
        self.due = 0.0


class ResourceProbe:
    """`WhereProbe` plus samples of the process's resources: every `interval` seconds while the function runs
    (none when `interval` is 0), and at the end."""

    __slots__ = ("interval",)

    def __init__(self, interval: float):
        self.interval = float(interval)

    def start(self) -> _Token:
        token = _Token()
        token.started = time.time()
        if self.interval > 0:
            _Process.get().sampler(self.interval).add(token)
        return token

    def stop(self, token: _Token, error: BaseException | None) -> dict[str, Any]:
        ended = time.time()
        here = _Process.get()
        if self.interval > 0:
            here.sampler(self.interval).remove(token)
        token.samples.append(here.quick_sample())
        report = (here.hostname, here.pid, here.block_id, token.started, ended, self.interval, token.samples)
        return {REPORT_KEY: report}

    def __reduce__(self) -> tuple[Any, ...]:
        return (resource_probe, (self.interval,))


_WHERE = WhereProbe()
_RESOURCE: dict[float, ResourceProbe] = {}


def where_probe() -> WhereProbe:
    """The process's one `WhereProbe` (what unpickling a probe returns: no object per task)."""
    return _WHERE


def resource_probe(interval: float) -> ResourceProbe:
    """The process's one `ResourceProbe` for `interval`."""
    probe = _RESOURCE.get(interval)
    if probe is None:
        probe = _RESOURCE[interval] = ResourceProbe(interval)
    return probe


class _Process:
    """What this process knows of itself, found once (again after a fork)."""

    _current: _Process | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.hostname = socket.gethostname()
        self.block_id = os.environ.get("PARLAY_WORKER_BLOCK_ID")
        self._samplers: dict[float, _Sampler] = {}
        self._files: dict[str, int] | None = None
        self._total_memory = machine.total_memory() or 0
        try:
            self._page = os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            self._page = 4096

    @classmethod
    def get(cls) -> _Process:
        current = cls._current
        if current is None or current.pid != os.getpid():
            with cls._lock:
                current = cls._current
                if current is None or current.pid != os.getpid():
                    current = cls._current = _Process()
        return current

    def sampler(self, interval: float) -> _Sampler:
        sampler = self._samplers.get(interval)
        if sampler is None:
            with self._lock:
                sampler = self._samplers.get(interval)
                if sampler is None:
                    sampler = self._samplers[interval] = _Sampler(interval)
        return sampler

    # --- samples ----------------------------------------------------------------------------------

    def quick_sample(self) -> tuple:
        """This process now, cheaply: getrusage and `/proc/self/statm` held open (psutil where there is no
        `/proc`), without I/O counts. No children are counted: a task's have been reaped at its end."""
        files = self._files
        if files is None:
            files = self._files = _open_proc_files()
        if "statm" not in files:
            return psutil_sample(with_children=False)
        import resource

        mine = resource.getrusage(resource.RUSAGE_SELF)
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            statm = os.pread(files["statm"], 256, 0).split()
            vms, rss = int(statm[0]) * self._page, int(statm[1]) * self._page
        except (OSError, IndexError, ValueError):
            vms = rss = 0
        return (
            time.time(),
            mine.ru_utime + reaped.ru_utime,
            mine.ru_stime + reaped.ru_stime,
            rss,
            vms,
            100.0 * rss / self._total_memory if self._total_memory else None,
            None,  # bytes read and written: in the periodic samples (/proc/self/io costs as much as the rest)
            None,
            mine.ru_nvcsw + reaped.ru_nvcsw,
            mine.ru_nivcsw + reaped.ru_nivcsw,
            0,
            "running",
            None,  # the CPU it runs on: in the periodic samples (reading it here would double this one's cost)
        )


def _open_proc_files() -> dict[str, int]:
    files = {}
    for name in ("statm",):
        try:
            files[name] = os.open(f"/proc/{os.getpid()}/{name}", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
    return files


_psutil_process: Any = None


def psutil_sample(with_children: bool = True) -> tuple:
    """This process, and (`with_children`) its live descendants added in, through psutil."""
    global _psutil_process
    import psutil

    process = _psutil_process
    if process is None or process.pid != os.getpid():
        process = _psutil_process = psutil.Process()
    with process.oneshot():
        times = process.cpu_times()
        memory = process.memory_info()
        user, system = times.user + times.children_user, times.system + times.children_system
        rss, vms = memory.rss, memory.vms
        percent = process.memory_percent()
        switches = process.num_ctx_switches()
        voluntary, involuntary = switches.voluntary, switches.involuntary
        read, write = _io(process)
        status = process.status()
        cpu = str(process.cpu_num()) if hasattr(process, "cpu_num") else None
    children = process.children(recursive=True) if with_children else []
    for child in children:
        try:
            with child.oneshot():
                times = child.cpu_times()
                memory = child.memory_info()
                switches = child.num_ctx_switches()
                child_read, child_write = _io(child)
                percent += child.memory_percent()
        except psutil.Error:  # it ended meanwhile
            continue
        user, system = user + times.user, system + times.system
        rss, vms = rss + memory.rss, vms + memory.vms
        voluntary, involuntary = voluntary + switches.voluntary, involuntary + switches.involuntary
        if read is not None and child_read is not None:
            read, write = read + child_read, write + child_write
    count = len(children)
    return (time.time(), user, system, rss, vms, percent, read, write, voluntary, involuntary, count, status, cpu)


def _io(process: Any) -> tuple[int | None, int | None]:
    try:
        counters = process.io_counters()
    except Exception:  # not on this platform, or not allowed
        return None, None
    return getattr(counters, "read_chars", counters.read_bytes), getattr(counters, "write_chars", counters.write_bytes)


class _Sampler:
    """A daemon thread that samples the process every `interval` seconds for each running try whose next
    sample is due. Adding and removing a try only touches a dict: no wake-up per task."""

    def __init__(self, interval: float):
        self.interval = interval
        self._tokens: dict[int, _Token] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._run, name="parlay-monitoring-sampler", daemon=True).start()

    def add(self, token: _Token) -> None:
        token.due = token.started + self.interval
        with self._lock:
            self._tokens[id(token)] = token

    def remove(self, token: _Token) -> None:
        with self._lock:
            self._tokens.pop(id(token), None)

    def _run(self) -> None:
        tick = min(self.interval / 4, 60.0)  # a due sample is at most a quarter interval late
        while True:
            time.sleep(tick)
            now = time.time()
            with self._lock:
                due = [token for token in self._tokens.values() if token.due <= now]
            if not due:
                continue
            try:
                sample = psutil_sample()
            except Exception:  # psutil missing or refusing: fall back on the quick sample
                sample = _Process.get().quick_sample()
            with self._lock:
                for token in due:
                    if id(token) in self._tokens:
                        token.samples.append(sample)
                        token.due += self.interval * max(1, int((now - token.due) / self.interval) + 1)
