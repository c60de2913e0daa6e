"""The interchange: a process between the submitting executor and the node managers.

It queues tasks by priority, hands them to managers with free capacity in batches, forwards results
and losses back, watches heartbeats, and stops when its parent does. Payloads are opaque bytes here:
nothing from the network is ever unpickled, and a malformed message is logged and dropped.

    python -m parlay_executor_htex.interchange < config.json
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import signal
import sys
import time
from typing import Any

import zmq

from parlay_executor_htex import protocol as p
from parlay_executor_htex import transport as wire
from parlay_executor_htex.security import server_socket

logger = logging.getLogger("parlay.htex.interchange")


class Manager:
    """What the interchange knows of one registered manager."""

    __slots__ = ("block_id", "capacity", "draining", "functions", "hostname", "info", "last_seen", "outstanding")

    def __init__(self, info: dict[str, Any]):
        self.info = info
        self.block_id = str(info.get("block_id"))
        self.hostname = str(info.get("hostname"))
        self.capacity = int(info["workers"]) + int(info.get("prefetch", 0))
        self.outstanding: set[int] = set()
        self.functions: set[int] = set()
        self.draining = False
        self.last_seen = time.monotonic()

    def describe(self, identity: bytes) -> dict[str, Any]:
        return {
            "manager": identity.hex(),
            "block_id": self.block_id,
            "hostname": self.hostname,
            "workers": self.info.get("workers"),
            "tasks": len(self.outstanding),
            "draining": self.draining,
            "log": self.info.get("log"),
            "pid": self.info.get("pid"),
            "python": self.info.get("python"),
            "parlay": self.info.get("parlay"),
        }


class Interchange:
    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.context = zmq.Context()
        self.authenticator = None
        cert_dir = config.get("cert_dir")
        self.client = server_socket(self.context, zmq.ROUTER, cert_dir)
        self.workers = server_socket(self.context, zmq.ROUTER, cert_dir)
        if cert_dir:
            from zmq.auth.thread import ThreadAuthenticator

            from parlay_executor_htex.security import authorized_dir

            self.authenticator = ThreadAuthenticator(self.context)
            self.authenticator.start()
            self.authenticator.configure_curve(domain="*", location=authorized_dir(cert_dir))
        for sock in (self.client, self.workers):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # an unknown destination raises instead of vanishing
        self.client_port = _bind(self.client, config["client_address"], config["client_port_range"])
        self.worker_port = _bind(self.workers, config["worker_address"], config["worker_port_range"])
        if config.get("ipc_dir"):  # processes on this host skip TCP
            self.client.bind(f"ipc://{config['ipc_dir']}/client")
            self.workers.bind(f"ipc://{config['ipc_dir']}/workers")
        self.client_id: bytes | None = None
        self.managers: dict[bytes, Manager] = {}
        self.queue: list[tuple[int, int, int, bytes]] = []  # (priority, task id, function id, payload)
        self.functions: dict[int, bytes] = {}
        self.heartbeat_period = float(config["heartbeat_period"])
        self.heartbeat_threshold = float(config["heartbeat_threshold"])
        self.parent_pid = int(config["parent_pid"])
        self.running = True

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.client, zmq.POLLIN)
        poller.register(self.workers, zmq.POLLIN)
        next_beat = time.monotonic() + self.heartbeat_period
        timeout_ms = int(min(self.heartbeat_period, 1.0) * 1000)
        while self.running:
            events = dict(poller.poll(timeout_ms))
            if self.client in events:
                self._drain(self.client, self._from_client)
            if self.workers in events:
                self._drain(self.workers, self._from_manager)
            self._dispatch()
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + self.heartbeat_period
                self._heartbeat(now)
        self._stop_managers()

    def _drain(self, sock: zmq.Socket, handle: Any) -> None:
        """Handle every message waiting on `sock`, up to a bound so neither side starves."""
        for _ in range(10_000):
            if not wire.readable(sock):
                return
            identity, *frames = wire.receive(sock)
            try:
                handle(identity, frames)
            except Exception as exc:  # whatever arrives, the interchange keeps serving the others
                logger.warning("dropped a malformed message from %s: %r", identity.hex(), exc)

    # --- the client -------------------------------------------------------------------------------

    def _from_client(self, identity: bytes, frames: list[bytes]) -> None:
        kind = p.kind_of(frames)
        self.client_id = identity
        if kind == p.TASKS:
            push = heapq.heappush
            for task_id, priority, function, payload in p.unpack_tasks(frames):
                push(self.queue, (priority, task_id, function, payload))
        elif kind == p.FUNCTION:
            (number,) = p.FUNC_ID.unpack(frames[1])
            self.functions[number] = frames[2]
        elif kind == p.COMMAND:
            self._command(p.unpack_json(frames))
        else:
            raise p.ProtocolError(f"{p.NAMES[kind]} is not a client message")

    def _command(self, command: dict[str, Any]) -> None:
        op = command.get("op")
        if op == "managers":
            reply: Any = [m.describe(i) for i, m in self.managers.items()]
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
            raise p.ProtocolError(f"unknown command {op!r}")
        self._to_client(p.pack_json(p.REPLY, {"op": op, "reply": reply}))

    def _to_client(self, frames: list[bytes]) -> None:
        if self.client_id is None:
            logger.warning("no client to send %s to", p.NAMES[frames[0][1]])
            return
        try:
            wire.send(self.client, [self.client_id, *frames])
        except zmq.ZMQError as exc:
            logger.warning("cannot reach the client: %s", exc)

    # --- managers ---------------------------------------------------------------------------------

    def _from_manager(self, identity: bytes, frames: list[bytes]) -> None:
        kind = p.kind_of(frames)
        manager = self.managers.get(identity)
        if kind == p.REGISTER:
            self._register(identity, p.unpack_json(frames))
            return
        if manager is None:
            logger.warning("%s from unregistered manager %s dropped", p.NAMES[kind], identity.hex())
            return
        manager.last_seen = time.monotonic()
        if kind == p.RESULTS:
            manager.outstanding.difference_update(p.result_ids(frames))
            self._to_client(frames)
        elif kind == p.LOST:
            manager.outstanding.difference_update(p.lost_ids(frames))
            self._to_client(frames)
        elif kind == p.CAPACITY:
            (manager.capacity,) = p.FUNC_ID.unpack(frames[1])
        elif kind == p.DRAIN:
            manager.draining = True
            logger.info("manager %s (block %s) is draining", identity.hex(), manager.block_id)
        elif kind != p.HEARTBEAT:
            raise p.ProtocolError(f"{p.NAMES[kind]} is not a manager message")

    def _register(self, identity: bytes, info: dict[str, Any]) -> None:
        expected = {"python": self.config["python"], "parlay": self.config["parlay"]}
        mismatch = {k: info.get(k) for k, v in expected.items() if info.get(k) != v}
        if mismatch:
            reason = f"version mismatch: manager has {mismatch}, the submitting side has {expected}"
            logger.warning("manager %s refused: %s", identity.hex(), reason)
            self._to_manager(identity, p.pack_json(p.REGISTERED, {"accepted": False, "reason": reason}))
            return
        self.managers[identity] = Manager(info)
        logger.info("manager %s registered: %s", identity.hex(), info)
        self._to_manager(identity, p.pack_json(p.REGISTERED, {"accepted": True}))

    def _to_manager(self, identity: bytes, frames: list[bytes]) -> bool:
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
            free = manager.capacity - len(manager.outstanding)
            if free <= 0 or manager.draining:
                continue
            batch = [pop(self.queue) for _ in range(min(free, len(self.queue)))]
            new_functions = {f for _, _, f, _ in batch if f not in manager.functions}
            for number in new_functions:
                self._to_manager(identity, [p.header(p.FUNCTION), p.FUNC_ID.pack(number), self.functions[number]])
            if self._to_manager(identity, p.pack_tasks([(tid, prio, f, payload) for prio, tid, f, payload in batch])):
                manager.functions |= new_functions
                manager.outstanding.update(tid for _, tid, _, _ in batch)
            else:
                for item in batch:
                    heapq.heappush(self.queue, item)
                self._lose_manager(identity, "it cannot be reached")
            if not self.queue:
                return

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
        logger.warning("manager %s (block %s) lost: %s", identity.hex(), manager.block_id, reason)
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
        self.context.destroy(linger=0)


def _bind(sock: zmq.Socket, address: str, port_range: list[int]) -> int:
    return sock.bind_to_random_port(f"tcp://{address}", min_port=port_range[0], max_port=port_range[1])


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
    print(json.dumps({"client_port": interchange.client_port, "worker_port": interchange.worker_port}), flush=True)
    try:
        interchange.run()
    finally:
        interchange.close()


if __name__ == "__main__":
    main()
