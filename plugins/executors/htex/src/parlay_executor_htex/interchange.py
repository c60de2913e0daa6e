"""The interchange: a process between the submitting executor and the node managers.

It queues tasks by priority, hands them to managers with free capacity in batches, forwards results
and losses back, watches heartbeats, and stops when its parent does. Payloads are opaque bytes here:
nothing from the network is ever unpickled, and a malformed message is logged and dropped.

The submitting process starts it (`start`) with one end of a socket pair, its only client: no port is
opened for clients, so no other process can submit tasks. Managers on other hosts connect over TCP
(CurveZMQ unless encryption is off); managers on this host over a Unix socket in the run's private
folder, and only processes of the same user are accepted there.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import Any

import zmq

from parlay_executor_htex import protocol as p
from parlay_executor_htex import transport as wire
from parlay_executor_htex.security import server_socket
from parlay_executor_htex.stream import Closed, Stream

logger = logging.getLogger("parlay.htex.interchange")

#: TCP peers to ignore at most: the oldest is forgotten first.
_IGNORED = 4096


class Manager:
    """What the interchange knows of one registered manager."""

    __slots__ = (
        "block_id",
        "capacity",
        "done",
        "draining",
        "functions",
        "hostname",
        "info",
        "last_seen",
        "outstanding",
    )

    def __init__(self, info: dict[str, Any]):
        self.info = info
        self.block_id = str(info.get("block_id"))
        self.hostname = str(info.get("hostname"))
        self.capacity = p.manager_capacity(info)
        self.outstanding: set[int] = set()
        self.done = 0  # tasks it returned results of
        self.functions: set[int] = set()
        self.draining = False
        self.last_seen = time.monotonic()

    def free(self) -> int:
        """How many more tasks it may be sent."""
        return 0 if self.draining else self.capacity - len(self.outstanding)

    def describe(self, identity: bytes) -> dict[str, Any]:
        return {
            "manager": identity.hex(),
            "block_id": self.block_id,
            "hostname": self.hostname,
            "workers": self.info.get("workers"),
            "tasks": len(self.outstanding),
            "done": self.done,
            "draining": self.draining,
            "log": self.info.get("log"),
            "pid": self.info.get("pid"),
            "python": self.info.get("python"),
            "parlay": self.info.get("parlay"),
            "cpu_count": self.info.get("cpu_count"),
            "total_memory": self.info.get("total_memory"),
        }


class Interchange:
    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.context = zmq.Context()
        self.authenticator = None
        cert_dir = config.get("cert_dir")
        self.client = Stream(socket.socket(fileno=int(config["client_fd"])))
        self.workers = server_socket(self.context, zmq.ROUTER, cert_dir)
        if cert_dir:
            from zmq.auth.thread import ThreadAuthenticator

            from parlay_executor_htex.security import authorized_dir

            self.authenticator = ThreadAuthenticator(self.context)
            self.authenticator.start()
            self.authenticator.configure_curve(domain="*", location=authorized_dir(cert_dir))
        self.workers.setsockopt(zmq.LINGER, 0)
        self.workers.setsockopt(zmq.ROUTER_MANDATORY, 1)  # an unknown destination raises instead of vanishing
        low, high = config["worker_port_range"]
        self.worker_port = self.workers.bind_to_random_port(
            f"tcp://{config['worker_address']}", min_port=low, max_port=high
        )
        self.poller = zmq.Poller()
        self.poller.register(self.client.fileno(), zmq.POLLIN)
        self.poller.register(self.workers, zmq.POLLIN)
        self.writing: set[int] = set()  # streams polled for writability: their sends wait for the socket
        self.listener: socket.socket | None = None
        self.local: dict[int, Stream] = {}  # connections of managers on this host, by file descriptor
        self.local_named: dict[bytes, Stream] = {}  # the same, by manager identity once it registered
        if config.get("ipc_dir"):
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(local_address(config["ipc_dir"]))
            self.listener.listen(128)
            self.listener.setblocking(False)
            self.poller.register(self.listener.fileno(), zmq.POLLIN)
        self.managers: dict[bytes, Manager] = {}
        self.ignored: dict[bytes, None] = {}  # TCP peers refused or that broke the protocol, oldest first
        # every block whose managers registered -> tasks its managers that are gone had finished: whether a
        # block's workers ever ran is still known after its managers were lost
        self.block_tasks: dict[str, int] = {}
        self.queue: list[tuple[int, int, int, bytes]] = []  # (priority, task id, function id, payload)
        self.functions: dict[int, bytes] = {}
        self.heartbeat_period = float(config["heartbeat_period"])
        self.heartbeat_threshold = float(config["heartbeat_threshold"])
        self.parent_pid = int(config["parent_pid"])
        self.running = True

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        client = self.client.fileno()
        listener = self.listener.fileno() if self.listener else None
        next_beat = time.monotonic() + self.heartbeat_period
        timeout_ms = int(min(self.heartbeat_period, 1.0) * 1000)
        while self.running:
            events = dict(self.poller.poll(timeout_ms))
            try:
                if client in events:
                    self.client.flush()
                    for frames in self.client.receive():
                        self._from_client(frames)
                if self.workers in events:
                    self._drain()
                for fd in events.keys() & self.local.keys():
                    self._from_local(fd)
                if listener in events:
                    self._accept()
                self._dispatch()
                now = time.monotonic()
                if now >= next_beat:
                    next_beat = now + self.heartbeat_period
                    self._heartbeat(now)
            except Closed:  # only the client's closing reaches here: managers' is handled where it happens
                logger.info("the submitting process closed its connection; stopping")
                break
            self._watch_writes()
        self._stop_managers()

    def _watch_writes(self) -> None:
        """Poll for writability exactly the streams whose sends wait for their socket."""
        for fd, stream in ((self.client.fileno(), self.client), *self.local.items()):
            if stream.pending != (fd in self.writing):
                self.writing ^= {fd}
                self.poller.modify(fd, zmq.POLLIN | (zmq.POLLOUT if stream.pending else 0))

    def _drain(self) -> None:
        """Handle the managers' waiting messages, up to a bound so the client is not starved."""
        for _ in range(10_000):
            if not wire.readable(self.workers):
                return
            identity, *frames = wire.receive(self.workers)
            try:
                self._from_manager(identity, frames)
            except Closed:
                raise
            except Exception as exc:  # whatever arrives, the interchange keeps serving the others
                self._ignore(identity, exc)

    def _ignore(self, identity: bytes, exc: Exception) -> None:
        """Hear no more from a TCP peer that broke the protocol or was refused (ZeroMQ cannot close one
        peer's connection): a manager is lost, and whatever the peer sends from now on is dropped unread."""
        if identity in self.managers:
            self._lose_manager(identity, _why(exc))
        else:
            logger.warning("ignoring %s from now on: %s", identity.hex(), _why(exc))
        self.ignored[identity] = None
        if len(self.ignored) > _IGNORED:
            del self.ignored[next(iter(self.ignored))]

    # --- managers on this host -------------------------------------------------------------------

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            if not _same_user(sock):
                logger.warning("refused a local connection from another user")
                sock.close()
                continue
            stream = Stream(sock)
            self.local[stream.fileno()] = stream
            self.poller.register(stream.fileno(), zmq.POLLIN)

    def _from_local(self, fd: int) -> None:
        stream = self.local[fd]
        try:
            stream.flush()
            messages = stream.receive()
        except Closed as exc:
            self._drop_local(fd, f"its connection closed ({exc})")
            return
        for frames in messages:
            try:
                self._from_manager(stream.name or self._name_local(stream, frames), frames)
            except Closed:
                raise
            except Exception as exc:  # close this connection, and only this one
                self._drop_local(fd, _why(exc))
                return

    def _name_local(self, stream: Stream, frames: list[bytes]) -> bytes:
        """A local manager's first message must be its REGISTER: the id in it names the connection."""
        if p.kind_of(frames) != p.REGISTER:
            raise p.ProtocolError("the first message of a connection must be REGISTER")
        name = p.manager_id(p.unpack_json(frames))
        if name in self.local_named or name in self.managers or name in self.ignored:
            raise p.ProtocolError(f"manager id {name.hex()} is taken")
        stream.name = name
        self.local_named[name] = stream
        return name

    def _drop_local(self, fd: int, reason: str) -> None:
        stream = self.local.pop(fd)
        self.poller.unregister(fd)
        self.writing.discard(fd)
        if stream.name in self.managers:
            self._lose_manager(stream.name, reason)
        else:
            logger.warning("closed a connection from this host of no registered manager: %s", reason)
        if stream.name is not None:
            del self.local_named[stream.name]
        stream.close()

    # --- the client -------------------------------------------------------------------------------

    def _from_client(self, frames: list[bytes]) -> None:
        try:
            kind = p.kind_of(frames)
            if kind == p.TASKS:
                entries = p.task_entries(frames)
                if self.queue or not self._forward(frames, entries):
                    push = heapq.heappush
                    for task_id, priority, function, payload in p.unpack_tasks(frames, entries):
                        push(self.queue, (priority, task_id, function, payload))
            elif kind == p.FUNCTION:
                number, function = p.unpack_function(frames)
                self.functions[number] = function
            elif kind == p.COMMAND:
                self._to_client(p.pack_json(p.REPLY, self._answer(frames)))
            else:
                raise p.ProtocolError(f"{p.NAMES[kind]} is not a client message")
        except Closed:
            raise
        except Exception as exc:  # a bug of the submitting side: its only connection stays open
            logger.warning("dropped a malformed message from the submitting process: %s", _why(exc))

    def _answer(self, frames: list[bytes]) -> dict[str, Any]:
        """The REPLY to a COMMAND, an error if it cannot be done: the client pairs each COMMAND with a REPLY."""
        command: dict[str, Any] = {}
        try:
            command = p.unpack_json(frames)
            return {"op": command.get("op"), "reply": self._command(command)}
        except Closed:
            raise
        except Exception as exc:
            logger.warning("could not do command %s: %s", p.brief(command.get("op")), _why(exc))
            return {"op": command.get("op"), "error": _why(exc)}

    def _command(self, command: dict[str, Any]) -> Any:
        op = command.get("op")
        if op == "managers":
            reply: Any = [m.describe(i) for i, m in self.managers.items()]
        elif op == "blocks":
            reply = dict(self.block_tasks)
            for manager in self.managers.values():
                reply[manager.block_id] += manager.done
        elif op == "hold_block":
            held = [i for i, m in self.managers.items() if m.block_id == str(command["block_id"])]
            for identity in held:
                self.managers[identity].draining = True
            reply = {"held": [i.hex() for i in held]}
        elif op == "block_lost":
            lost = [i for i, m in self.managers.items() if m.block_id == str(command["block_id"])]
            for identity in lost:
                self._lose_manager(identity, str(command.get("reason", "its block ended")))
            reply = {"lost": [i.hex() for i in lost]}
        elif op == "shutdown":
            self.running = False
            reply = {"stopping": True}
        else:
            raise p.ProtocolError(f"unknown command {p.brief(op)}")
        return reply

    def _to_client(self, frames: list[bytes]) -> None:
        self.client.send(frames)

    # --- managers ---------------------------------------------------------------------------------

    def _from_manager(self, identity: bytes, frames: list[bytes]) -> None:
        """Handle a manager's message; raises if it breaks the protocol, which ends what the interchange
        hears from that peer."""
        manager = self.managers.get(identity)
        if manager is None:
            if identity not in self.ignored:
                self._register(identity, frames)
            return
        kind = p.kind_of(frames)
        manager.last_seen = time.monotonic()
        if kind == p.RESULTS:
            done = p.result_ids(frames)
            manager.outstanding.difference_update(done)
            manager.done += len(done)
            self._to_client(frames)
        elif kind == p.LOST:
            manager.outstanding.difference_update(p.unpack_lost(frames)[0])
            self._to_client(frames)
        elif kind == p.CAPACITY:
            manager.capacity = p.unpack_capacity(frames)
        elif kind == p.DRAIN:
            manager.draining = True
            logger.info("manager %s (block %s) is draining", identity.hex(), manager.block_id)
            # the answer follows every task already sent to it on the same ordered connection: once the
            # manager reads it, it holds all it will ever get and may finish them and leave
            self._to_manager(identity, [p.header(p.DRAIN)])
        elif kind != p.HEARTBEAT:
            raise p.ProtocolError(f"{p.NAMES[kind]} is not a message of a registered manager")

    def _register(self, identity: bytes, frames: list[bytes]) -> None:
        """Register a manager from its first message, which must be a REGISTER of the same versions."""
        kind = p.kind_of(frames)
        if kind != p.REGISTER:
            raise p.ProtocolError(f"{p.NAMES[kind]} from a manager that has not registered")
        info = p.unpack_json(frames)
        expected = {"python": self.config["python"], "parlay": self.config["parlay"]}
        mismatch = {k: info.get(k) for k, v in expected.items() if info.get(k) != v}
        if mismatch:
            reason = f"version mismatch: manager has {p.brief(mismatch)}, the submitting side has {expected}"
            self._to_manager(identity, p.pack_json(p.REGISTERED, {"accepted": False, "reason": reason}))
            raise p.ProtocolError(f"refused: {reason}")
        manager = self.managers[identity] = Manager(info)
        self.block_tasks.setdefault(manager.block_id, 0)
        logger.info("manager %s registered: %s", identity.hex(), info)
        self._to_manager(identity, p.pack_json(p.REGISTERED, {"accepted": True}))

    def _to_manager(self, identity: bytes, frames: list[bytes]) -> bool:
        stream = self.local_named.get(identity)
        if stream is not None:
            try:
                stream.send(frames)
                return True
            except Closed:  # noticed, and the manager lost, when its connection is next read
                return False
        try:
            wire.send(self.workers, [identity, *frames])
            return True
        except zmq.ZMQError as exc:
            logger.warning("cannot reach manager %s: %s", identity.hex(), exc)
            return False

    def _dispatch(self) -> None:
        """Give each manager with free capacity a batch of the highest-priority tasks."""
        if not self.queue:
            return
        pop = heapq.heappop
        for identity, manager in list(self.managers.items()):
            free = manager.free()
            if free <= 0:
                continue
            batch = [pop(self.queue) for _ in range(min(free, len(self.queue)))]
            if self._send_functions(identity, manager, {f for _, _, f, _ in batch}) and self._to_manager(
                identity, p.pack_tasks([(tid, prio, f, payload) for prio, tid, f, payload in batch])
            ):
                manager.outstanding.update(tid for _, tid, _, _ in batch)
            else:
                for item in batch:
                    heapq.heappush(self.queue, item)
                self._lose_manager(identity, "it cannot be reached")
            if not self.queue:
                return

    def _forward(self, frames: list[bytes], entries: list[tuple[int, int, int, int]]) -> bool:
        """Pass a TASKS message on unchanged to the first manager that can take all of it, when its
        tasks share one priority (so queueing could not reorder them); False if none can."""
        if len({prio for _, prio, _, _ in entries}) > 1:
            return False
        for identity, manager in self.managers.items():
            if manager.free() < len(entries):
                continue
            if not self._send_functions(identity, manager, {f for _, _, f, _ in entries}):
                return False
            if not self._to_manager(identity, frames):
                return False  # the tasks are queued; _dispatch finds the manager gone
            manager.outstanding.update(tid for tid, _, _, _ in entries)
            return True
        return False

    def _send_functions(self, identity: bytes, manager: Manager, numbers: set[int]) -> bool:
        """Send the manager the functions among `numbers` it has not had yet."""
        for number in numbers - manager.functions:
            function = self.functions.get(number)
            if function is None:  # never sent by the client: the worker answers the task with that error
                continue
            if not self._to_manager(identity, [p.header(p.FUNCTION), p.FUNC_ID.pack(number), function]):
                return False
            manager.functions.add(number)
        return True

    def _heartbeat(self, now: float) -> None:
        for identity, manager in list(self.managers.items()):
            if now - manager.last_seen > self.heartbeat_threshold:
                self._lose_manager(identity, f"no heartbeat for {now - manager.last_seen:.0f} s")
            else:
                self._to_manager(identity, [p.header(p.HEARTBEAT)])
        if os.getppid() != self.parent_pid:
            logger.warning("the submitting process %d is gone; stopping", self.parent_pid)
            self.running = False

    def _lose_manager(self, identity: bytes, reason: str) -> None:
        manager = self.managers.pop(identity)
        self.block_tasks[manager.block_id] += manager.done
        logger.warning(
            "manager %s (block %s) lost after running %d tasks: %s",
            identity.hex(),
            manager.block_id,
            manager.done,
            reason,
        )
        if manager.outstanding:
            detail = {"kind": "ManagerLost", "reason": reason, **manager.describe(identity)}
            self._to_client([p.header(p.LOST), p.pack_ids(sorted(manager.outstanding)), json.dumps(detail).encode()])
        self._to_manager(identity, [p.header(p.STOP)])

    def _stop_managers(self) -> None:
        for identity in list(self.managers):
            self._to_manager(identity, [p.header(p.STOP)])

    def close(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()
        for stream in (self.client, *self.local.values()):
            stream.close()
        if self.listener is not None:
            self.listener.close()
        self.context.destroy(linger=0)


def _why(exc: Exception) -> str:
    """What a peer did wrong, for the log: a protocol error says it; anything else also names its type."""
    return str(exc) if isinstance(exc, p.ProtocolError) else repr(exc)


def local_address(ipc_dir: str) -> str:
    """The Unix socket local managers connect to, in the run's private folder."""
    return os.path.join(ipc_dir, "managers")


def _same_user(sock: socket.socket) -> bool:
    """Whether the process at the other end of a Unix socket runs as this user (where the OS can tell)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return True  # the folder's permissions alone keep other users out
    credentials = struct.Struct("3i")
    _pid, uid, _gid = credentials.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, credentials.size))
    return uid == os.getuid()


def start(config: dict[str, Any], stderr_path: str, timeout: float) -> tuple[subprocess.Popen, Stream, int]:
    """Start an interchange process; return it, the stream to it and its worker port.

    `config` holds everything `Interchange` reads but `client_fd`; raises `RuntimeError` if the
    interchange has not reported its port within `timeout` seconds (it is then killed).
    """
    ours, theirs = socket.socketpair()
    fd = theirs.fileno()
    with open(stderr_path, "ab") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from parlay_executor_htex.interchange import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            pass_fds=[fd],
        )
    theirs.close()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({**config, "client_fd": fd}).encode())
    proc.stdin.close()
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    proc.stdout.close()
    if not line:
        proc.kill()
        proc.wait()
        ours.close()
        raise RuntimeError(f"the interchange did not start within {timeout:g} s")
    return proc, Stream(ours), json.loads(line)["worker_port"]


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the submitting process's to handle
    config = json.load(sys.stdin)
    os.makedirs(config["logdir"], exist_ok=True)
    logging.basicConfig(
        filename=os.path.join(config["logdir"], "interchange.log"),
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    interchange = Interchange(config)
    print(json.dumps({"worker_port": interchange.worker_port}), flush=True)
    try:
        interchange.run()
    finally:
        interchange.close()


if __name__ == "__main__":
    main()
