"""`HighThroughputExecutor`: the submitting side of htex.

Tasks are packed in the caller's thread and queued; one I/O thread owns the socket pair to the
interchange: it sends queued tasks in batches (a function's bytes once per run), settles futures from
result batches, turns loss reports into `WorkerLost`/`ManagerLost`, and notices at once when the
interchange process dies (its end of the pair closes).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import select
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import parlay
from parlay.errors import (
    BadStateException,
    ConfigurationError,
    ExecutorError,
    InvalidResourceSpecification,
    ManagerLost,
    TaskCancelled,
    WorkerLost,
)
from parlay.executors.blocks import BlockProviderExecutor
from parlay.futures import ExecutorFuture
from parlay.serialize import function_id, pack_arguments, settle
from parlay_executor_htex import interchange
from parlay_executor_htex import protocol as p
from parlay_executor_htex.resources import cpu_sets, worker_count
from parlay_executor_htex.security import create_keys
from parlay_executor_htex.stream import Closed

_START_TIMEOUT = 30.0
_COMMAND_TIMEOUT = 10.0


class HighThroughputExecutor(BlockProviderExecutor):
    """Tasks go through an interchange process to one manager per node and its worker processes.

    Option names and meanings follow Parsl's executor of the same name; `priority` is the one
    resource-specification key (lower runs first).
    """

    resource_keys = frozenset({"priority"})

    def __init__(
        self,
        label: str = "htex",
        provider: Any = None,
        address: str | None = None,
        worker_port_range: tuple[int, int] = (54000, 55000),
        interchange_port_range: tuple[int, int] = (55000, 56000),
        max_workers_per_node: int | None = None,
        cores_per_worker: float = 1.0,
        mem_per_worker: float | None = None,
        cpu_affinity: str = "none",
        available_accelerators: int | Sequence[str] = (),
        prefetch_capacity: int | None = None,
        heartbeat_period: float = 30,
        heartbeat_threshold: float = 120,
        drain_period: float | None = None,
        worker_logdir_root: str | None = None,
        encrypted: bool = True,
        launch_cmd: str | None = None,
        block_error_handler: Any = True,
    ):
        if provider is None:
            from parlay_provider_local import LocalProvider

            provider = LocalProvider()
        super().__init__(label, provider, block_error_handler)
        _check(
            max_workers_per_node is None or _is_int(max_workers_per_node, 1),
            "max_workers_per_node",
            max_workers_per_node,
            "an integer >= 1 or None",
        )
        _check(
            _is_number(cores_per_worker) and cores_per_worker > 0, "cores_per_worker", cores_per_worker, "a number > 0"
        )
        _check(
            mem_per_worker is None or (_is_number(mem_per_worker) and mem_per_worker > 0),
            "mem_per_worker",
            mem_per_worker,
            "a number of GB > 0 or None",
        )
        _check(
            prefetch_capacity is None or _is_int(prefetch_capacity, 0),
            "prefetch_capacity",
            prefetch_capacity,
            "an integer >= 0, or None to adapt to task length",
        )
        _check(
            _is_number(heartbeat_period) and heartbeat_period > 0, "heartbeat_period", heartbeat_period, "seconds > 0"
        )
        _check(
            _is_number(heartbeat_threshold) and heartbeat_threshold > heartbeat_period,
            "heartbeat_threshold",
            heartbeat_threshold,
            "seconds, more than heartbeat_period",
        )
        _check(
            drain_period is None or (_is_number(drain_period) and drain_period > 0),
            "drain_period",
            drain_period,
            "seconds > 0 or None",
        )
        for name, ports in (
            ("worker_port_range", worker_port_range),
            ("interchange_port_range", interchange_port_range),
        ):
            _check(
                len(ports) == 2 and all(_is_int(x, 1) for x in ports) and ports[0] < ports[1] <= 65535,
                name,
                ports,
                "(low, high) ports with low < high <= 65535",
            )
        if isinstance(available_accelerators, int) and not isinstance(available_accelerators, bool):
            available_accelerators = [str(i) for i in range(available_accelerators)]
        _check(
            all(isinstance(a, str) and a and "," not in a for a in available_accelerators),
            "available_accelerators",
            available_accelerators,
            "a count or a list of device names",
        )
        try:
            cpu_sets(cpu_affinity, 1)
        except (ValueError, TypeError):
            _check(False, "cpu_affinity", cpu_affinity, "none, block, block-reverse, alternating or 'cpus:cpus'")
        self.address = address
        self.worker_port_range = tuple(worker_port_range)
        self.interchange_port_range = tuple(interchange_port_range)
        self.max_workers_per_node = max_workers_per_node
        self.cores_per_worker = cores_per_worker
        self.mem_per_worker = mem_per_worker
        self.cpu_affinity = cpu_affinity
        self.available_accelerators = list(available_accelerators)
        self.prefetch_capacity = prefetch_capacity
        self.heartbeat_period = heartbeat_period
        self.heartbeat_threshold = heartbeat_threshold
        self.drain_period = drain_period
        self.worker_logdir_root = worker_logdir_root
        self.encrypted = encrypted
        self.launch_cmd = launch_cmd

        self._futures: dict[int, Future] = {}
        # Tasks waiting for the I/O thread, already in wire form: no object per task lingers while a
        # burst of submissions outpaces the socket.
        self._outgoing_lock = threading.Lock()
        self._outgoing_meta = bytearray()
        self._outgoing_payloads = bytearray()
        self._outgoing_functions: list[tuple[int, bytes]] = []
        self._commands: collections.deque[tuple[list[bytes], Future]] = collections.deque()
        self._replies: collections.deque[Future] = collections.deque()
        self._sent_functions: set[int] = set()
        self._blocks_seen: set[str] = set()  # blocks whose managers registered
        self._task_ids = iter(range(1, 2**63))
        self._wake_r, self._wake_w = os.pipe()
        self._wake_pending = False
        self._closing = False
        self._stopping = False  # the interchange was told to shut down: its connection closing is expected
        self._broken: BaseException | None = None
        self._interchange: subprocess.Popen | None = None
        self._io: threading.Thread | None = None

    # --- what the kernel asks -----------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        return len(self._futures)

    @property
    def workers_per_node(self) -> int:
        return worker_count(
            self.cores_per_worker, self.mem_per_worker, len(self.available_accelerators), self.max_workers_per_node
        )

    def handle_block_statuses(self, statuses: dict[str, Any]) -> None:
        with contextlib.suppress(ExecutorError):
            self._blocks_seen.update(m["block_id"] for m in self.command("managers"))
        super().handle_block_statuses(statuses)

    def block_worked(self, block_id: str) -> bool:
        return block_id in self._blocks_seen

    def idle_blocks(self) -> list[str]:
        """Blocks whose managers run nothing (and blocks whose managers have not registered yet)."""
        busy = {m["block_id"] for m in self.command("managers") if m["tasks"]}
        return [block_id for block_id in self.blocks if block_id not in busy]

    def scale_in(self, blocks: int, block_ids: list[str] | None = None) -> list[str]:
        """Stop sending the blocks tasks, then cancel their jobs."""
        chosen = block_ids if block_ids is not None else list(self.blocks)[::-1][:blocks]
        if self._interchange is not None and self._interchange.poll() is None:
            for block_id in chosen:
                with contextlib.suppress(ExecutorError):
                    self.command("hold_block", block_id=block_id)
        return super().scale_in(blocks, block_ids=chosen)

    def _block_ended(self, block_id: str, status: Any) -> None:
        with contextlib.suppress(ExecutorError):
            self.command("block_lost", block_id=block_id, reason=f"its job ended {status.state.name}")

    def validate_resource_specification(self, spec: dict[str, Any]) -> None:
        super().validate_resource_specification(spec)
        priority = spec.get("priority")
        if priority is not None and not (_is_int(priority, -(2**31)) and priority < p.NO_PRIORITY):
            raise InvalidResourceSpecification(
                {"priority"}, f"priority={priority!r}: expected an integer (lower runs first)", self.label
            )

    # --- starting and stopping ----------------------------------------------------------------------

    def _start_service(self) -> None:
        self._dir = os.path.join(self.run_dir, self.label)
        os.makedirs(self._dir, exist_ok=True)
        self._cert_dir = create_keys(os.path.join(self._dir, "certificates")) if self.encrypted else None
        self._worker_address = self.address or self._default_address()
        loopback = self._worker_address.startswith("127.") or self._worker_address == "localhost"
        # on one host, Unix sockets are quicker than TCP over loopback; their folder is the user's alone
        self._ipc_dir = tempfile.mkdtemp(prefix="parlay-htex-")
        config = {
            "ipc_dir": self._ipc_dir,
            "worker_address": "127.0.0.1" if loopback else "*",
            "worker_port_range": list(self.worker_port_range),
            "cert_dir": self._cert_dir,
            "heartbeat_period": self.heartbeat_period,
            "heartbeat_threshold": self.heartbeat_threshold,
            "logdir": self._dir,
            "parent_pid": os.getpid(),
            "python": p.python_version(),
            "parlay": parlay.__version__,
        }
        self._interchange_log = os.path.join(self._dir, "interchange.log")
        try:
            self._interchange, self._link, self.worker_port = interchange.start(
                config, os.path.join(self._dir, "interchange.stderr"), _START_TIMEOUT
            )
        except RuntimeError as exc:
            raise BadStateException(self.label, f"{exc}: {self._interchange_tail()}") from None
        self._io = threading.Thread(target=self._io_loop, name=f"parlay-{self.label}-io", daemon=True)
        self._io.start()

    def _default_address(self) -> str:
        from parlay_provider_local import LocalProvider

        return "127.0.0.1" if isinstance(self.provider, LocalProvider) else socket.getfqdn()

    def _get_launch_command(self, block_id: str) -> str:
        logdir = self.worker_logdir_root or self._dir
        if self.launch_cmd is not None:
            return self.launch_cmd.format(
                block_id=block_id,
                port=self.worker_port,
                address=self._worker_address,
                logdir=logdir,
                cert_dir=self._cert_dir or "",
            )
        loopback = self._worker_address.startswith("127.") or self._worker_address == "localhost"
        options = {
            "--addresses": self._worker_address,
            "--port": self.worker_port,
            "--block-id": block_id,
            "--logdir": logdir,
            "--cores-per-worker": self.cores_per_worker,
            "--prefetch-capacity": self.prefetch_capacity,
            "--heartbeat-period": self.heartbeat_period,
            "--heartbeat-threshold": self.heartbeat_threshold,
            "--cpu-affinity": self.cpu_affinity,
            "--max-workers-per-node": self.max_workers_per_node,
            "--mem-per-worker": self.mem_per_worker,
            "--drain-period": self.drain_period,
            "--cert-dir": self._cert_dir,
            "--ipc": interchange.local_address(self._ipc_dir) if loopback else None,
            "--available-accelerators": ",".join(self.available_accelerators) or None,
        }
        words = [sys.executable, "-m", "parlay_executor_htex.manager"]
        for flag, value in options.items():
            if value is not None:
                words += [flag, str(value)]
        return shlex.join(words)

    def _stop_service(self) -> None:
        if self._interchange is not None and self._interchange.poll() is None:
            self._stopping = True
            with contextlib.suppress(ExecutorError):  # it may be too busy or broken to answer: it is killed below
                self.command("shutdown", timeout=3)
            try:
                self._interchange.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._interchange.kill()
                self._interchange.wait()
        self._closing = True
        self._wake()
        if self._io is not None:
            self._io.join(timeout=10)
        self._fail_all(TaskCancelled(f"executor {self.label} shut down before the task finished"))
        if self._io is not None:
            self._link.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        shutil.rmtree(self._ipc_dir, ignore_errors=True)

    def set_bad_state_and_fail_all(self, exception: BaseException) -> None:
        self._broken = exception
        self._fail_all(exception)

    def _fail_all(self, exception: BaseException) -> None:
        while self._futures:
            _, future = self._futures.popitem()
            if not future.done():
                future.set_exception(exception)

    # --- submitting ---------------------------------------------------------------------------------

    def _submit(
        self, func: Callable[..., Any], resource_specification: dict[str, Any], args: tuple, kwargs: dict
    ) -> Future:
        if self._broken is not None:
            raise self._broken
        number, function = function_id(func)
        arguments = pack_arguments(func, args, kwargs)
        priority = resource_specification.get("priority", p.NO_PRIORITY)
        task_id = next(self._task_ids)
        future = ExecutorFuture()
        future.set_running_or_notify_cancel()
        self._futures[task_id] = future
        with self._outgoing_lock:
            if number not in self._sent_functions:
                self._sent_functions.add(number)
                self._outgoing_functions.append((number, function))
            self._outgoing_meta += p.TASK_META.pack(task_id, priority, number, len(arguments))
            self._outgoing_payloads += arguments
        self._wake()
        return future

    def command(self, op: str, timeout: float = _COMMAND_TIMEOUT, **fields: Any) -> Any:
        """Ask the interchange something (`managers`, `hold_block`, `block_lost`, `shutdown`)."""
        answer: Future = Future()
        self._commands.append((p.pack_json(p.COMMAND, {"op": op, **fields}), answer))
        self._wake()
        try:
            return answer.result(timeout)
        except TimeoutError:
            raise ExecutorError(self.label, f"the interchange did not answer {op!r} within {timeout:g} s") from None

    def _wake(self) -> None:
        # tasks submitted from a result's callbacks run on the I/O thread, which sends them next anyway
        if not self._wake_pending and threading.current_thread() is not self._io:
            self._wake_pending = True
            with contextlib.suppress(OSError):  # closed at shutdown
                os.write(self._wake_w, b"x")

    # --- the I/O thread -----------------------------------------------------------------------------

    def _io_loop(self) -> None:
        link = self._link
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        poller.register(link, select.POLLIN)
        writing = False
        while not self._closing:
            events = dict(poller.poll(100))
            if self._wake_r in events:
                self._wake_pending = False
                os.read(self._wake_r, 4096)
            try:
                if link.fileno() in events:
                    link.flush()
                    self._receive()
                self._send()
            except Closed:
                if not self._stopping:
                    self._interchange_died()
                return
            if link.pending != writing:  # wait for the socket to take the rest
                writing = not writing
                poller.modify(link, select.POLLIN | (select.POLLOUT if writing else 0))

    def _send(self) -> None:
        while self._commands:
            frames, answer = self._commands.popleft()
            self._replies.append(answer)
            self._link.send(frames)
        if not self._outgoing_meta:
            return
        with self._outgoing_lock:
            functions, self._outgoing_functions = self._outgoing_functions, []
            meta, self._outgoing_meta = self._outgoing_meta, bytearray()
            payloads, self._outgoing_payloads = self._outgoing_payloads, bytearray()
        for number, function in functions:  # before the first task that uses it
            self._link.send([p.header(p.FUNCTION), p.FUNC_ID.pack(number), function])
        self._link.send([p.header(p.TASKS), meta, payloads])

    def _receive(self) -> None:
        for frames in self._link.receive():
            kind = p.kind_of(frames)
            if kind == p.RESULTS:
                pop = self._futures.pop
                for task_id, payload in p.unpack_results(frames):
                    future = pop(task_id, None)
                    if future is not None:
                        settle(future, payload)
            elif kind == p.LOST:
                detail = json.loads(frames[2])
                for task_id in p.lost_ids(frames):
                    future = self._futures.pop(task_id, None)
                    if future is not None:
                        future.set_exception(_lost_error(detail))
            elif kind == p.REPLY and self._replies:
                self._replies.popleft().set_result(p.unpack_json(frames)["reply"])

    def _interchange_died(self) -> None:
        assert self._interchange is not None
        try:
            how = f"exited with code {self._interchange.wait(timeout=_COMMAND_TIMEOUT)}"
        except subprocess.TimeoutExpired:
            how = "closed its connection but is still running"
        error = BadStateException(
            self.label, f"the interchange (pid {self._interchange.pid}) {how}; {self._interchange_tail()}"
        )
        self.set_bad_state_and_fail_all(error)
        while self._replies:
            self._replies.popleft().set_exception(error)

    def _interchange_tail(self) -> str:
        tails = []
        for path in (self._interchange_log, os.path.join(self._dir, "interchange.stderr")):
            try:
                with open(path, errors="replace") as stream:
                    text = stream.read()[-1500:].strip()
            except OSError:
                continue
            if text:
                tails.append(f"{path}:\n{text}")
        return "\n".join(tails) or "it left no log"

    def __repr__(self) -> str:
        return f"HighThroughputExecutor(label={self.label!r}, provider={self.provider!r})"


def _lost_error(detail: dict[str, Any]) -> BaseException:
    if detail.get("kind") == "WorkerLost":
        return WorkerLost(detail.get("worker"), detail.get("hostname", "?"), detail.get("detail", ""))
    where = f"block {detail.get('block_id')}, log {detail.get('log')}: {detail.get('reason')}"
    return ManagerLost(detail.get("manager"), detail.get("hostname", "?"), where)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(ok: bool, field: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigurationError(f"HighThroughputExecutor.{field}={value!r}: expected {expected}")
