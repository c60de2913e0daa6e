"""`HighThroughputExecutor`: the submitting side of htex.

Tasks are packed in the caller's thread and queued; one I/O thread owns the socket pair to the
interchange: it sends queued tasks in batches (a function's bytes once per run), settles futures from
result batches, turns loss reports into `WorkerLost`/`ManagerLost`, and notices at once when the
interchange process dies (its end of the pair closes): the tasks it held fail with `InterchangeLost` (the
kernel retries them when `retries` allows) and a new interchange, with new blocks, takes its place.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import attrs

import parlay
from parlay.addresses import get_all_addresses
from parlay.errors import (
    AddressWarning,
    BadStateException,
    ExecutorError,
    InterchangeLost,
    InvalidResourceSpecification,
    ManagerLost,
    TaskCancelled,
    WorkerLost,
)
from parlay.executors.blocks import BlockProviderExecutor
from parlay.futures import ExecutorFuture
from parlay.options import Check, amount, count, declare, flag, invalid, name, option, optional, state, text
from parlay.providers.base import ExecutionProvider
from parlay.serialize import function_id, pack_arguments, settle
from parlay_executor_htex import interchange
from parlay_executor_htex import protocol as p
from parlay_executor_htex.resources import cpu_sets, worker_count
from parlay_executor_htex.security import client_keys_text, create_keys
from parlay_executor_htex.stream import Closed

logger = logging.getLogger("parlay.htex.executor")

_START_TIMEOUT = 30.0
_COMMAND_TIMEOUT = 10.0
#: Interchanges that may die in a row, with no result in between, before the executor gives up.
MAX_RESTARTS = 3
#: On blocks whose hosts have not the run's files (cloud instances, pods): the variable the provider sets to the
#: run's client keys, and where managers log unless `worker_logdir_root` says.
KEYS_VARIABLE = "PARLAY_HTEX_KEYS"
REMOTE_LOGDIR = "/tmp/parlay-logs"


def _local_provider() -> ExecutionProvider:
    """Parsl's default provider: blocks on this machine (the local provider plugin, imported when used)."""
    from parlay.plugins import registry

    return registry.load("providers", "local")()


def _is_port_range(value: Any) -> bool:
    return (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(port, int) and not isinstance(port, bool) and port >= 1 for port in value)
        and value[0] < value[1] <= 65535
    )


def _is_cpu_policy(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        cpu_sets(value, 1)
    except ValueError:
        return False
    return True


def _is_devices(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(isinstance(device, str) and device and "," not in device for device in value)
    return count(0).test(value)


def _devices(value: int | Sequence[str]) -> list[str]:
    """The devices `available_accelerators` names: a count, or their names."""
    return [str(i) for i in range(value)] if isinstance(value, int) else list(value)


_PORTS = Check(_is_port_range, "(low, high) ports with 1 <= low < high <= 65535")


class _Outbox:
    """Tasks waiting for the I/O thread, already in wire form: no object per task lingers while a burst of
    submissions outpaces the socket. A plain slotted object, since its fields are reassigned with each task
    and batch, which the executor's attrs `__setattr__` would slow."""

    __slots__ = ("functions", "lock", "meta", "payloads", "sent", "wake_pending")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.meta = bytearray()  # each task's fixed-size header
        self.payloads = bytearray()  # each task's packed arguments, in the same order
        self.functions: list[tuple[int, bytes]] = []  # functions to send before the tasks that use them
        self.sent: set[int] = set()  # numbers of the functions sent or queued
        self.wake_pending = False  # the I/O thread was woken and has not looked yet


@declare(defaults={"label": "htex", "provider": attrs.Factory(_local_provider)})
class HighThroughputExecutor(BlockProviderExecutor):
    """Tasks go through an interchange process to one manager per node and its worker processes.

    Option names and meanings follow Parsl's executor of the same name; `priority` is the one
    resource-specification key (lower runs first).
    """

    resource_keys = frozenset({"priority"})

    address: str | None = option(
        None,
        "the address workers connect to, or several separated by commas of which each manager uses the first that "
        "answers (default: loopback when blocks run on this host, else every address of this host)",
        optional(Check(lambda value: all(map(name.test, value.split(","))), "a host name or IP address, or several")),
    )
    address_probe_timeout: float = option(
        30, "seconds a manager tries the addresses before its block fails, naming those it tried", amount("seconds")
    )
    worker_port_range: tuple[int, int] = option(
        (54000, 55000), "the ports the interchange may listen on for workers", _PORTS
    )
    interchange_port_range: tuple[int, int] = option(
        (55000, 56000),
        "accepted for Parsl's configs; unused (the interchange talks to this process over a socket pair)",
        _PORTS,
    )
    max_workers_per_node: int | None = option(
        None, "workers per node at most (default: as many as cores, memory and accelerators allow)", optional(count(1))
    )
    cores_per_worker: float = option(1.0, "cores each worker takes; below 1, workers share cores", amount("cores"))
    mem_per_worker: float | None = option(
        None, "gigabytes of memory each worker takes (default: no limit)", optional(amount("gigabytes"))
    )
    cpu_affinity: str = option(
        "none",
        "how workers are pinned to CPUs: `none`, `block`, `block-reverse`, `alternating`, or each worker's CPUs "
        "as `'0,1:2,3'`",
        Check(_is_cpu_policy, "none, block, block-reverse, alternating or 'cpus:cpus'"),
    )
    available_accelerators: int | Sequence[str] = option(
        (),
        "accelerators of each node, a count or device names: one worker per device, with `CUDA_VISIBLE_DEVICES`, "
        "`ROCR_VISIBLE_DEVICES` and `ZE_AFFINITY_MASK` set",
        Check(_is_devices, "a count or a list of device names"),
    )
    prefetch_capacity: int | None = option(
        None, "tasks a manager holds beyond its workers (default: adapts to task length)", optional(count(0))
    )
    heartbeat_period: float = option(30, "seconds between heartbeats, both ways", amount("seconds"))
    heartbeat_threshold: float = option(
        120, "seconds without a heartbeat after which a manager or the interchange counts as lost", amount("seconds")
    )
    drain_period: float | None = option(
        None,
        "seconds after which a manager takes no more tasks and ends once its tasks finish (default: never)",
        optional(amount("seconds")),
    )
    worker_logdir_root: str | None = option(
        None,
        "where managers and workers log (default: `runinfo/NNN/<label>`, or `/tmp/parlay-logs` on cloud blocks)",
        optional(Check(lambda value: isinstance(value, (str, os.PathLike)), "a directory path")),
    )
    encrypted: bool = option(True, "encrypt and authenticate managers' connections over the network (CurveZMQ)", flag)
    launch_cmd: str | None = option(
        None,
        "the command each block runs instead of the manager; may use `{block_id}`, `{port}`, `{address}`, `{logdir}` "
        "and `{cert_dir}`",
        optional(text),
    )

    worker_port: int | None = state()  # where the interchange listens for workers, once started
    _futures: dict[int, Future] = state(factory=dict)  # task id -> future, until settled
    _outbox: _Outbox = state(factory=_Outbox)
    _commands: collections.deque[tuple[list[bytes], Future]] = state(factory=collections.deque)
    _replies: collections.deque[Future] = state(factory=collections.deque)
    _block_tasks: dict[str, int] = state(factory=dict)  # block whose managers registered -> tasks they finished
    _task_ids: Iterator[int] = state(factory=lambda: itertools.count(1))
    _closing: bool = state(False)
    _stopping: bool = state(False)  # the interchange was told to shut down: its connection closing is expected
    _broken: BaseException | None = state()
    _interchange: subprocess.Popen | None = state()
    _io: threading.Thread | None = state()
    _wake_r: int = state(-1)  # the pipe that wakes the I/O thread
    _wake_w: int = state(-1)
    _ipc_dir: str | None = state()  # the private folder of the interchange's Unix socket
    _interchange_config: dict[str, Any] = state(factory=dict)  # what each interchange is started with
    _restarts: int = state(0)  # interchanges that died since the last result
    _restart_lock: threading.Lock = state(factory=threading.Lock)  # a restart and the shutdown exclude each other

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_threshold <= self.heartbeat_period:
            raise invalid(
                self,
                "heartbeat_threshold",
                self.heartbeat_threshold,
                f"expected seconds, more than heartbeat_period={self.heartbeat_period!r}",
            )

    # --- what the kernel asks -----------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        return len(self._futures)

    @property
    def workers_per_node(self) -> int:
        return worker_count(
            self.cores_per_worker,
            self.mem_per_worker,
            len(_devices(self.available_accelerators)),
            self.max_workers_per_node,
        )

    def handle_block_statuses(self, statuses: dict[str, Any]) -> None:
        """Learn from the interchange which blocks' managers registered (it remembers them after they are
        lost) before judging the blocks that ended: until it answers, no block is judged."""
        if self._broken is None and any(status.terminal for status in statuses.values()):
            self._block_tasks.update(self.command("blocks"))
        super().handle_block_statuses(statuses)

    def tasks_run_by(self, block_id: str) -> int | None:
        return self._block_tasks.get(block_id)

    def nodes(self) -> list[dict]:
        """The managers registered with the interchange now, one per node."""
        return [{"id": m["manager"], **m} for m in self.command("managers")]

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
        self._wake_r, self._wake_w = os.pipe()
        self._dir = os.path.join(self.run_dir, self.label)
        os.makedirs(self._dir, exist_ok=True)
        self._cert_dir = create_keys(os.path.join(self._dir, "certificates")) if self.encrypted else None
        self._worker_address = self.address or self._default_address()
        loopback = _loopback(self._worker_address)
        if loopback and not self.provider.blocks_on_this_host:
            text = (
                f"executor {self.label}: workers will be told to connect to {self._worker_address}, a loopback "
                f"address, but {type(self.provider).__name__} runs blocks on other hosts; give HighThroughputExecutor "
                "an address they can reach (parlay.addresses.address_by_interface('ib0'), for example)"
            )
            warnings.warn_explicit(text, AddressWarning, "parlay", 0)
        # on one host, Unix sockets are quicker than TCP over loopback; their folder is the user's alone
        self._ipc_dir = tempfile.mkdtemp(prefix="parlay-htex-")
        self._interchange_config = {
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
        self._start_interchange()
        self._io = threading.Thread(target=self._io_loop, name=f"parlay-{self.label}-io", daemon=True)
        self._io.start()

    def _start_interchange(self) -> None:
        try:
            self._interchange, self._link, self.worker_port = interchange.start(
                self._interchange_config, os.path.join(self._dir, "interchange.stderr"), _START_TIMEOUT
            )
        except RuntimeError as exc:
            raise BadStateException(self.label, f"{exc}: {self._interchange_tail()}") from None

    def _default_address(self) -> str:
        if self.provider.blocks_on_this_host:
            return "127.0.0.1"
        return ",".join(get_all_addresses()) or "127.0.0.1"

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
        loopback = _loopback(self._worker_address)
        shared = self.provider.shares_filesystem
        if not shared and self._cert_dir:  # the block's host has not the run's files: the provider brings the keys
            self.provider.secret_environment[KEYS_VARIABLE] = client_keys_text(self._cert_dir)
        options = {
            "--addresses": self._worker_address,
            "--port": self.worker_port,
            "--address-probe-timeout": self.address_probe_timeout,
            "--block-id": block_id,
            "--logdir": logdir if shared or self.worker_logdir_root else REMOTE_LOGDIR,
            "--cores-per-worker": self.cores_per_worker,
            "--prefetch-capacity": self.prefetch_capacity,
            "--heartbeat-period": self.heartbeat_period,
            "--heartbeat-threshold": self.heartbeat_threshold,
            "--cpu-affinity": self.cpu_affinity,
            "--max-workers-per-node": self.max_workers_per_node,
            "--mem-per-worker": self.mem_per_worker,
            "--drain-period": self.drain_period,
            "--cert-dir": self._cert_dir if shared else None,
            "--cert-env": KEYS_VARIABLE if self._cert_dir and not shared else None,
            "--ipc": interchange.local_address(self._ipc_dir) if loopback and shared else None,
            "--available-accelerators": ",".join(_devices(self.available_accelerators)) or None,
        }
        words = [sys.executable if shared else "python3", "-m", "parlay_executor_htex.manager"]
        for argument, value in options.items():
            if value is not None:
                words += [argument, str(value)]
        return shlex.join(words)

    def _stop_service(self) -> None:
        """Stop the interchange and the I/O thread, fail the tasks left and remove the private folder; after a
        start that failed or was interrupted part way too, undoing what it had done."""
        with self._restart_lock:  # no interchange starts after this
            self._stopping = True
        if self._interchange is not None and self._interchange.poll() is None:
            if self._io is not None and self._io.is_alive():  # else nobody would send the request
                with contextlib.suppress(ExecutorError):  # it may be too busy or broken to answer: killed below
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
        if self._interchange is not None:
            self._link.close()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        if self._ipc_dir is not None:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)

    def set_bad_state_and_fail_all(self, exception: BaseException) -> None:
        if self._broken is None:  # the first cause stays the one new submissions are told
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
        outbox = self._outbox
        with outbox.lock:  # with its wire form: a restart takes both or neither
            self._futures[task_id] = future
            if number not in outbox.sent:
                outbox.sent.add(number)
                outbox.functions.append((number, function))
            outbox.meta += p.TASK_META.pack(task_id, priority, number, len(arguments))
            outbox.payloads += arguments
        self._wake()
        return future

    def command(self, op: str, timeout: float = _COMMAND_TIMEOUT, **fields: Any) -> Any:
        """Ask the interchange something (`managers`, `blocks`, `hold_block`, `block_lost`, `shutdown`)."""
        answer: Future = Future()
        self._commands.append((p.pack_json(p.COMMAND, {"op": op, **fields}), answer))
        self._wake()
        try:
            return answer.result(timeout)
        except TimeoutError:
            raise ExecutorError(self.label, f"the interchange did not answer {op!r} within {timeout:g} s") from None

    def _wake(self) -> None:
        # tasks submitted from a result's callbacks run on the I/O thread, which sends them next anyway
        outbox = self._outbox
        if not outbox.wake_pending and threading.current_thread() is not self._io:
            outbox.wake_pending = True
            with contextlib.suppress(OSError):  # closed at shutdown
                os.write(self._wake_w, b"x")

    # --- the I/O thread -----------------------------------------------------------------------------

    def _io_loop(self) -> None:
        """Serve the interchange; when it dies, start another (`_restart`) or, failing that, end."""
        while True:
            try:
                self._serve(self._link)
                return
            except Closed:
                if self._stopping or not self._restart():
                    return

    def _serve(self, link: Any) -> None:
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        poller.register(link, select.POLLIN)
        writing = False
        while not self._closing:
            events = dict(poller.poll(100))
            if self._wake_r in events:
                # Read first, then clear: a submission that saw the flag set before it was cleared is sent by
                # the `_send` below; one after it writes a new byte. Cleared first, a byte written in between
                # would be read here with the flag left set and the pipe empty: every later wake-up lost.
                os.read(self._wake_r, 4096)
                self._outbox.wake_pending = False
            if link.fileno() in events:
                link.flush()
                self._receive()
            self._send()
            if link.pending != writing:  # wait for the socket to take the rest
                writing = not writing
                poller.modify(link, select.POLLIN | (select.POLLOUT if writing else 0))

    def _send(self) -> None:
        while self._commands:
            frames, answer = self._commands.popleft()
            self._replies.append(answer)
            self._link.send(frames)
        outbox = self._outbox
        if not outbox.meta:
            return
        with outbox.lock:
            functions, outbox.functions = outbox.functions, []
            meta, outbox.meta = outbox.meta, bytearray()
            payloads, outbox.payloads = outbox.payloads, bytearray()
        for number, function in functions:  # before the first task that uses it
            self._link.send([p.header(p.FUNCTION), p.FUNC_ID.pack(number), function])
        self._link.send([p.header(p.TASKS), meta, payloads])

    def _receive(self) -> None:
        for frames in self._link.receive():
            try:
                kind = p.kind_of(frames)
                if kind == p.RESULTS:
                    if self._restarts:
                        self._restarts = 0
                    pop = self._futures.pop
                    for task_id, payload in p.unpack_results(frames):
                        future = pop(task_id, None)
                        if future is not None:
                            settle(future, payload)
                elif kind == p.LOST:
                    ids, detail = p.unpack_lost(frames)
                    for task_id in ids:
                        future = self._futures.pop(task_id, None)
                        if future is not None:
                            future.set_exception(_lost_error(detail))
                elif kind == p.REPLY:
                    if self._replies:
                        self._answer(self._replies.popleft(), frames)
                else:
                    raise p.ProtocolError(f"{p.NAMES[kind]} is not a message for the submitting side")
            except p.ProtocolError as exc:  # an interchange's bug: this thread must go on, or every future hangs
                logger.warning("dropped a malformed message from the interchange: %s", exc)

    def _answer(self, answer: Future, frames: list[bytes]) -> None:
        """Give a command's future the interchange's REPLY: its result, or an error saying why there is none."""
        try:
            reply = p.unpack_json(frames)
        except p.ProtocolError as exc:
            reply = {"error": f"a malformed reply: {exc}"}
        if "error" in reply:
            op = p.brief(reply.get("op"))
            answer.set_exception(ExecutorError(self.label, f"the interchange could not do {op}: {reply['error']}"))
        else:
            answer.set_result(reply.get("reply"))

    def _interchange_died(self) -> str:
        """How the interchange ended, with the end of its log."""
        assert self._interchange is not None
        try:
            how = f"exited with code {self._interchange.wait(timeout=_COMMAND_TIMEOUT)}"
        except subprocess.TimeoutExpired:
            how = "closed its connection but is still running"
        return f"the interchange (pid {self._interchange.pid}) {how}; {self._interchange_tail()}"

    def _restart(self) -> bool:
        """The interchange died: fail the tasks it held with `InterchangeLost` (the kernel retries them when
        `retries` allows), cancel the blocks whose managers served it, and start a new interchange and as
        many new blocks. After `MAX_RESTARTS` deaths with no result in between, or a failed start, fail
        everything instead (`BadStateException`); False then."""
        how = self._interchange_died()
        self._link.close()
        self._restarts += 1
        if self._restarts > MAX_RESTARTS:
            how = f"{how}\n(the interchange died {self._restarts} times in a row before any result: parlay gave up)"
            return self._give_up(BadStateException(self.label, how))
        logger.error("executor %s: %s; starting a new interchange", self.label, how)
        lost = InterchangeLost(self.label, f"{how}\nparlay starts a new interchange and new blocks")
        outbox = self._outbox
        with outbox.lock:  # what was queued for the dead interchange is lost with it
            futures, self._futures = self._futures, {}
            outbox.meta, outbox.payloads, outbox.functions, outbox.sent = bytearray(), bytearray(), [], set()
        while self._replies:
            self._replies.popleft().set_exception(lost)
        for future in futures.values():  # a retry submits again, into the new interchange's queue
            if not future.done():
                future.set_exception(lost)
        old_blocks = BlockProviderExecutor.scale_in(self, len(self.blocks))  # the dead one's managers cannot move
        with self._restart_lock:
            if self._stopping:
                return False
            with contextlib.suppress(FileNotFoundError):  # the dead interchange's socket
                os.unlink(interchange.local_address(self._ipc_dir))
            try:
                self._start_interchange()
            except BadStateException as exc:
                return self._give_up(exc)
        logger.info("executor %s: interchange pid %d took over", self.label, self._interchange.pid)
        self.scale_out(max(len(old_blocks), self.provider.init_blocks))
        return True

    def _give_up(self, error: BaseException) -> bool:
        self.set_bad_state_and_fail_all(error)
        while self._replies:
            self._replies.popleft().set_exception(error)
        return False

    def _interchange_tail(self) -> str:
        tails = []
        for path in (self._interchange_log, os.path.join(self._dir, "interchange.stderr")):
            try:
                with open(path, errors="replace") as stream:
                    tail = stream.read()[-1500:].strip()
            except OSError:
                continue
            if tail:
                tails.append(f"{path}:\n{tail}")
        return "\n".join(tails) or "it left no log"


def _loopback(addresses: str) -> bool:
    """Whether every one of comma-separated `addresses` is a loopback address."""
    return all(a.startswith("127.") or a in ("localhost", "::1") for a in addresses.split(","))


def _lost_error(detail: dict[str, Any]) -> BaseException:
    if detail.get("kind") == "WorkerLost":
        return WorkerLost(detail.get("worker"), detail.get("hostname", "?"), detail.get("detail", ""))
    where = f"block {detail.get('block_id')}, log {detail.get('log')}: {detail.get('reason')}"
    if "done" in detail:
        where += f" (after running {detail['done']} tasks)"
    return ManagerLost(detail.get("manager"), detail.get("hostname", "?"), where)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
