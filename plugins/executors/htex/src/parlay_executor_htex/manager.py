"""The node manager (`parlay-htex-manager`): one per node of a block, started by the provider's launcher.

It registers with the interchange, starts its worker processes (`parlay.worker`), takes batches of
tasks up to its capacity, hands them to idle workers, sends results back in batches, reports workers
that die (and replaces them), exchanges heartbeats, and drains when told to, when `drain_period` ends, or
shortly before its batch job's walltime ends (`PARLAY_BLOCK_DEADLINE`, exported by cluster providers), so
no task is lost to the scheduler's limit.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from multiprocessing.connection import Connection
from typing import Any

import zmq

import parlay
from parlay import machine
from parlay.addresses import tcp_url
from parlay.worker import READY, pack_task, start_worker
from parlay_executor_htex import protocol as p
from parlay_executor_htex import transport as wire
from parlay_executor_htex.resources import cpu_sets, worker_count
from parlay_executor_htex.security import client_socket, keys_from_text
from parlay_executor_htex.stream import Closed, Stream

logger = logging.getLogger("parlay.htex.manager")

ACCELERATOR_VARIABLES = ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK")


#: Tasks shorter than this (seconds, on average) count as short: the manager then asks for more tasks than
#: it has workers and queues a second task at each worker, so no worker waits for the next round trip.
SHORT_TASK = 0.01
#: With short tasks and automatic prefetch, extra tasks to hold per worker.
AUTO_PREFETCH_PER_WORKER = 16
#: What is due within this many seconds (the result of a task, or the next task after the last result,
#: on average) is waited for without sleeping, for up to twice that long, while a CPU is free: waking a
#: sleeping process costs tens of microseconds on virtual machines, as much as such a task.
SPIN_WITHIN = 0.0005
#: The longest wait for a next task that counts as such, seconds: a chain resuming after a pause is soon
#: recognised as quick again.
PAUSE = 10 * SPIN_WITHIN
#: Seconds before the block's walltime ends when the manager stops taking tasks (at most half the block's life).
DEADLINE_MARGIN = 60.0
#: Seconds a stopping manager waits for its last messages to leave.
STOP_GRACE = 5.0


class Worker:
    __slots__ = ("conn", "known", "last_done", "proc", "rank", "ready", "sent", "tasks")

    def __init__(self, rank: int, proc: subprocess.Popen, conn: Connection):
        self.rank = rank
        self.proc = proc
        self.conn = conn
        self.known: set[int] = set()
        self.ready = False
        self.tasks: collections.deque[tuple[int, int, bytes]] = collections.deque()  # in the order sent
        self.sent: collections.deque[float] = collections.deque()  # when each was sent
        self.last_done = 0.0  # when the worker finished its previous task


class NodeManager:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.id = uuid.uuid4().bytes
        self.hostname = socket.gethostname()
        self.workers_total = worker_count(
            args.cores_per_worker, args.mem_per_worker, len(args.available_accelerators), args.max_workers_per_node
        )
        self.cpus = cpu_sets(args.cpu_affinity, self.workers_total)
        self.cpu_count = machine.cpu_count()
        self.idle_since = 0.0  # when the results that left every worker idle were sent; 0 while any works
        # moving average of the time from then to the next task, seconds; starts where spinning would begin
        self.turnaround = SPIN_WITHIN
        self.context = zmq.Context()
        self.link = self.connect()
        self.functions: dict[int, bytes] = {}
        self.queue: collections.deque[tuple[int, int, bytes]] = collections.deque()  # task id, function, payload
        self.workers: dict[int, Worker] = {}
        self.task_time = 1.0  # moving average of task durations, seconds; pessimistic until measured
        self.measured = False  # whether a task has finished here yet
        self.capacity = self.workers_total + (args.prefetch_capacity or 0)
        self.results: list[tuple[int, bytes]] = []
        self.lost: list[tuple[int, dict[str, Any]]] = []
        self.running = True
        self.draining = False
        self.drain_acknowledged = False  # the interchange's answer to DRAIN: no task can be on its way after it
        self.started = time.monotonic()
        self.last_heard = time.monotonic()
        self.deadline = block_deadline(os.environ.get("PARLAY_BLOCK_DEADLINE"), self.started)
        self.log_path = os.path.join(args.logdir, "manager.log")

    def connect(self) -> wire.Link | Stream:
        """Reach the interchange: over its Unix socket when on its host, else over ZeroMQ and TCP."""
        if self.args.ipc:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.args.ipc)
            except OSError as exc:
                sock.close()
                raise SystemExit(f"cannot reach the interchange at {self.args.ipc}: {exc}") from None
            return Stream(sock)
        address = first_answering(self.args.addresses.split(","), self.args.port, self.args.address_probe_timeout)
        logger.info("the interchange answers at %s:%d", address, self.args.port)
        zsock = client_socket(self.context, zmq.DEALER, self.args.cert_dir)
        zsock.setsockopt(zmq.IDENTITY, self.id)
        zsock.setsockopt(zmq.LINGER, 0)
        zsock.connect(tcp_url(address, self.args.port))
        return wire.Link(zsock)

    # --- workers ----------------------------------------------------------------------------------

    def spawn(self, rank: int) -> Worker:
        env = {
            **os.environ,
            "PARLAY_WORKER_RANK": str(rank),
            "PARLAY_WORKER_COUNT": str(self.workers_total),
            "PARLAY_WORKER_POOL_ID": self.id.hex(),
            "PARLAY_WORKER_BLOCK_ID": str(self.args.block_id),
        }
        if self.args.available_accelerators:
            accelerator = self.args.available_accelerators[rank % len(self.args.available_accelerators)]
            env.update(dict.fromkeys(ACCELERATOR_VARIABLES, accelerator))
        cpus = self.cpus[rank] if rank < len(self.cpus) else None
        if cpus:
            env.update(OMP_NUM_THREADS=str(len(cpus)), GOMP_CPU_AFFINITY=",".join(map(str, cpus)))
        log = os.path.join(self.args.logdir, f"worker_{rank}.log")
        proc, conn = start_worker(env, log, stall=self.args.heartbeat_period)  # a stalled write is a broken worker
        if cpus:
            os.sched_setaffinity(proc.pid, cpus)
        worker = Worker(rank, proc, conn)
        self.workers[worker.conn.fileno()] = worker
        return worker

    def worker_died(self, worker: Worker, how: str = "") -> None:
        """Forget a worker that ended (or, with `how`, was killed for it), report its task lost, replace it."""
        code = worker.proc.wait()
        del self.workers[worker.conn.fileno()]
        worker.conn.close()
        how = how or (f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}")
        logger.warning("worker %d (pid %d) %s", worker.rank, worker.proc.pid, how)
        if worker.tasks:
            running, *waiting = worker.tasks
            self.queue.extendleft(reversed(waiting))  # never started: another worker runs them
            self.lost.append(
                (
                    running[0],
                    {
                        "kind": "WorkerLost",
                        "worker": f"{self.id.hex()[:8]}-{worker.rank}",
                        "hostname": self.hostname,
                        "block_id": self.args.block_id,
                        "detail": f"pid {worker.proc.pid} {how}; log {self.args.logdir}/worker_{worker.rank}.log",
                    },
                )
            )
        if worker.ready and self.running:
            self.spawn(worker.rank)
        elif self.running:
            logger.error("worker %d died before it was ready; not restarting it", worker.rank)

    # --- the loop ---------------------------------------------------------------------------------

    def register(self) -> None:
        info = {
            "id": self.id.hex(),
            "block_id": self.args.block_id,
            "hostname": self.hostname,
            "workers": self.workers_total,
            "prefetch": self.capacity - self.workers_total,
            "python": p.python_version(),
            "parlay": parlay.__version__,
            "pid": os.getpid(),
            "cpu_count": self.cpu_count,
            "total_memory": machine.total_memory(),
            "log": self.log_path,
        }
        self.link.send(p.pack_json(p.REGISTER, info))
        deadline = time.monotonic() + self.args.heartbeat_threshold
        try:
            while not (messages := self.link.receive()):
                self.link.flush()
                left = deadline - time.monotonic()
                if left <= 0 or not zmq.select([self.link.pollable], [], [], left)[0]:
                    raise SystemExit(
                        f"the interchange did not answer the registration within {self.args.heartbeat_threshold} s"
                    )
        except Closed as exc:
            raise SystemExit(f"the interchange closed the connection: {exc}") from None
        frames, *early = messages
        try:
            kind = p.kind_of(frames)
            if kind != p.REGISTERED:
                raise p.ProtocolError(f"{p.NAMES[kind]} is not REGISTERED")
            answer = p.unpack_json(frames)
        except p.ProtocolError as exc:
            raise SystemExit(f"the interchange answered the registration with something else: {exc}") from None
        if not answer.get("accepted"):
            raise SystemExit(f"the interchange refused this manager: {answer.get('reason')}")
        logger.info("registered with %d workers", self.workers_total)
        self.handle(early)  # tasks may follow the answer closely enough to arrive with it

    def run(self) -> None:
        self.register()
        for rank in range(self.workers_total):
            self.spawn(rank)
        poller = zmq.Poller()
        link = self.link.pollable
        poller.register(link, zmq.POLLIN)
        registered: set[int] = set()
        writing = False
        next_beat = time.monotonic() + self.args.heartbeat_period
        while self.running:
            if registered != self.workers.keys():  # a worker died or was replaced
                for fd in self.workers.keys() - registered:
                    poller.register(fd, zmq.POLLIN)
                for fd in registered - self.workers.keys():
                    poller.unregister(fd)
                registered = set(self.workers)
            try:
                self.step(self.wait(poller), link)
                now = time.monotonic()
                if now >= next_beat:
                    next_beat = now + self.args.heartbeat_period
                    self.link.send([p.header(p.HEARTBEAT)])
                    if now - self.last_heard > self.args.heartbeat_threshold:
                        logger.error("the interchange has been silent for %.0f s; stopping", now - self.last_heard)
                        self.running = False
                self.check_drain(now)
            except Closed as exc:
                logger.error("the interchange closed the connection (%s); stopping", exc)
                self.running = False
            if self.link.pending != writing:  # wait for the socket to take the rest
                writing = not writing
                poller.modify(link, zmq.POLLIN | (zmq.POLLOUT if writing else 0))
        self.stop()

    def wait(self, poller: zmq.Poller) -> list[tuple[Any, int]]:
        """The poll's events; taken without sleeping when `spin_deadline` says they are due soon."""
        deadline = self.spin_until()
        while time.monotonic() < deadline:
            if events := poller.poll(0):
                return events
            os.sched_yield()  # a process waiting for this CPU goes first
        return poller.poll(200)

    def spin_until(self) -> float:
        # counted only when it can matter: with long tasks no worker's result is waited for this way, and
        # `idle_since` is set only while no worker has a task
        busy = sum(1 for worker in self.workers.values() if worker.tasks) if self.task_time < SPIN_WITHIN else 0
        return spin_deadline(time.monotonic(), self.cpu_count, busy, self.task_time, self.idle_since, self.turnaround)

    def step(self, events: list[tuple[Any, int]], link: Any) -> None:
        """Handle what the poll reported, hand out tasks and send results."""
        for what, _ in events:
            if what == link:
                self.link.flush()
                self.handle(self.link.receive())
            elif what in self.workers:
                self.from_worker(self.workers[what])
        if self.queue:
            self.assign()
        if self.results or self.lost:
            self.send_results()

    def handle(self, messages: list[list[bytes]]) -> None:
        for frames in messages:
            self.last_heard = time.monotonic()
            try:
                kind = p.kind_of(frames)
                if kind == p.TASKS:
                    tasks = p.unpack_tasks(frames)
                    if self.idle_since:
                        since = min(time.monotonic() - self.idle_since, PAUSE)
                        self.turnaround = moving_average(self.turnaround, since)
                        self.idle_since = 0.0
                    for task_id, _, function, payload in tasks:
                        self.queue.append((task_id, function, payload))
                elif kind == p.FUNCTION:
                    number, function_bytes = p.unpack_function(frames)
                    self.functions[number] = function_bytes
                elif kind == p.DRAIN:
                    self.drain_acknowledged = True
                elif kind == p.STOP:
                    logger.info("told to stop")
                    self.running = False
                    return
                elif kind != p.HEARTBEAT:
                    raise p.ProtocolError(f"{p.NAMES[kind]} is not a message for a registered manager")
            except p.ProtocolError as exc:  # the interchange is this manager's only peer: drop the message alone
                logger.warning("dropped a malformed message from the interchange: %s", exc)

    def from_worker(self, worker: Worker) -> None:
        try:
            reply = worker.conn.recv_bytes()
        except BlockingIOError:  # the rest of a message did not come within `stall`
            self.kill_worker(worker, "stopped in the middle of a message")
            return
        except (EOFError, OSError):
            self.worker_died(worker)
            return
        if not worker.ready:
            if reply == READY:
                worker.ready = True
            else:
                self.kill_worker(worker, "said something else than that it was ready")
            return
        if not worker.tasks:
            self.kill_worker(worker, "answered a task it was not given")
            return
        task_id = worker.tasks.popleft()[0]
        started = worker.sent.popleft()
        now = time.monotonic()
        # a task queued at the worker behind another began when that one ended
        took = now - max(started, worker.last_done)
        self.task_time = moving_average(self.task_time, took) if self.measured else took
        self.measured = True
        worker.last_done = now
        self.results.append((task_id, reply))
        self.adapt_capacity()

    def kill_worker(self, worker: Worker, what: str) -> None:
        """Kill a worker that broke the protocol: nothing it sends after can be trusted."""
        worker.proc.kill()
        self.worker_died(worker, f"broke the protocol ({what}) and was killed")

    def adapt_capacity(self) -> None:
        """With automatic prefetch, ask for extra tasks while tasks are short, and for none when long."""
        if self.args.prefetch_capacity is not None:
            return
        short = self.task_time < SHORT_TASK
        wanted = self.workers_total * (1 + AUTO_PREFETCH_PER_WORKER if short else 1)
        if wanted != self.capacity:
            self.capacity = wanted
            self.link.send([p.header(p.CAPACITY), p.FUNC_ID.pack(wanted)])

    def assign(self) -> None:
        """Give queued tasks to ready workers: one each, and a second in line while tasks are short."""
        depth = 2 if self.task_time < SHORT_TASK else 1
        for level in range(depth):
            for worker in list(self.workers.values()):
                if not self.queue:
                    return
                if worker.ready and len(worker.tasks) <= level:
                    self.send_task(worker, self.queue.popleft())

    def send_task(self, worker: Worker, task: tuple[int, int, bytes]) -> None:
        _, number, payload = task
        function = None
        if number not in worker.known:
            function = self.functions.get(number)  # None if the interchange never sent it: the worker says so
            if function is not None:
                worker.known.add(number)
        worker.tasks.append(task)
        worker.sent.append(time.monotonic())
        with contextlib.suppress(OSError):  # its death is noticed on the next poll and the task reported lost
            worker.conn.send_bytes(pack_task(number, function, payload))

    def send_results(self) -> None:
        if self.results:
            self.link.send(p.pack_results(self.results))
            self.results = []
            if not self.queue and not any(worker.tasks for worker in self.workers.values()):
                self.idle_since = time.monotonic()
        for task_id, detail in self.lost:
            self.link.send([p.header(p.LOST), p.pack_ids([task_id]), json.dumps(detail).encode()])
        self.lost = []

    def check_drain(self, now: float) -> None:
        if not (self.args.drain_period or self.deadline or self.draining):
            return
        if not self.draining:
            if self.args.drain_period and now - self.started > self.args.drain_period:
                self.start_draining("drain period over")
            elif self.deadline and now > self.deadline - self.drain_margin():
                self.start_draining(f"the block's walltime ends in {self.deadline - now:.0f} s")
        if (
            self.draining
            and self.drain_acknowledged
            and not self.queue
            and not any(w.tasks for w in self.workers.values())
        ):
            self.send_results()
            logger.info("drained")
            self.running = False

    def drain_margin(self) -> float:
        """How long before the walltime ends to stop taking tasks: enough for a few tasks of the usual
        length to finish (at least a minute), but never more than half the block's life."""
        assert self.deadline is not None
        return min(max(DEADLINE_MARGIN, 3 * self.task_time), (self.deadline - self.started) / 2)

    def start_draining(self, why: str) -> None:
        logger.info("%s: taking no more tasks", why)
        self.draining = True
        self.link.send([p.header(p.DRAIN)])

    def stop(self) -> None:
        for worker in self.workers.values():
            if worker.proc.poll() is None:
                worker.proc.terminate()
        deadline = time.monotonic() + 2
        for worker in self.workers.values():
            try:
                worker.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
        self.link.close(grace=STOP_GRACE)  # the last results of a drain must reach the interchange
        self.context.destroy(linger=0)


def first_answering(addresses: list[str], port: int, timeout: float) -> str:
    """The first of the submitting host's `addresses` to accept a TCP connection on `port`, all tried at once
    and again until `timeout` seconds have passed; SystemExit naming each address and why it failed."""
    answers: queue.Queue[tuple[str, str | None]] = queue.Queue()
    deadline = time.monotonic() + timeout

    def probe(address: str) -> None:
        while True:
            try:
                socket.create_connection((address, port), timeout=max(0.1, deadline - time.monotonic())).close()
            except OSError as exc:
                if time.monotonic() + 1 < deadline:  # a refusal may be an interchange not listening yet
                    time.sleep(1)
                    continue
                answers.put((address, str(exc) or type(exc).__name__))
                return
            answers.put((address, None))
            return

    for address in addresses:
        threading.Thread(target=probe, args=(address,), name=f"probe-{address}", daemon=True).start()
    failures = []
    for _ in addresses:
        address, error = answers.get()
        if error is None:
            return address
        failures.append(f"{address}:{port} ({error})")
    raise SystemExit(f"cannot reach the interchange at any address tried for {timeout:g} s: {', '.join(failures)}")


def moving_average(average: float, sample: float) -> float:
    """`average` with `sample` given a fifth of the weight."""
    return 0.8 * average + 0.2 * sample


def spin_deadline(now: float, cpus: int, busy: int, task_time: float, idle_since: float, turnaround: float) -> float:
    """Until when a manager polls without sleeping (0: it sleeps): while `busy` workers run tasks averaging
    under `SPIN_WITHIN` and a CPU is free, or, once all are idle (results sent at `idle_since`), while the
    next task of a quick succession such as a chain is due. Never on a node of one CPU."""
    if cpus < 2:
        return 0.0
    if busy:
        return now + 2 * task_time if task_time < SPIN_WITHIN and busy < cpus else 0.0
    if idle_since and turnaround < SPIN_WITHIN:
        return idle_since + 2 * turnaround
    return 0.0


def block_deadline(text: str | None, now: float) -> float | None:
    """The block's walltime deadline (epoch seconds in `PARLAY_BLOCK_DEADLINE`) on the monotonic clock."""
    try:
        return now + float(text) - time.time() if text else None
    except ValueError:
        logger.warning("ignoring PARLAY_BLOCK_DEADLINE=%r: not a number of seconds", text)
        return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parlay-htex-manager", description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", required=True, help="interchange addresses, comma separated")
    parser.add_argument("--port", type=int, required=True, help="the interchange's worker port")
    parser.add_argument(
        "--address-probe-timeout", type=float, default=30, help="seconds to find an address that answers"
    )
    parser.add_argument("--cert-dir", default=None, help="the run's CurveZMQ keys (omit when unencrypted)")
    parser.add_argument(
        "--cert-env", default=None, help="an environment variable holding the keys, on hosts without the run's files"
    )
    parser.add_argument("--ipc", default=None, help="the interchange's Unix socket, when on its host")
    parser.add_argument("--block-id", default="0")
    parser.add_argument("--logdir", required=True)
    parser.add_argument("--max-workers-per-node", type=int, default=None)
    parser.add_argument("--cores-per-worker", type=float, default=1.0)
    parser.add_argument("--mem-per-worker", type=float, default=None, help="GB")
    parser.add_argument(
        "--prefetch-capacity", type=int, default=None, help="tasks to hold beyond the workers (default: adapt)"
    )
    parser.add_argument("--heartbeat-period", type=float, default=30)
    parser.add_argument("--heartbeat-threshold", type=float, default=120)
    parser.add_argument("--drain-period", type=float, default=None)
    parser.add_argument("--cpu-affinity", default="none")
    parser.add_argument("--available-accelerators", default="", type=lambda s: [a for a in s.split(",") if a])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.cert_env:
        text = os.environ.pop(args.cert_env, None)  # the workers (user code) do not inherit it
        if not text:
            sys.exit(f"parlay-htex-manager: --cert-env {args.cert_env}, but that variable is not set")
        args.cert_dir = keys_from_text(text)
    args.logdir = os.path.join(args.logdir, f"block-{args.block_id}", f"{os.getpid()}")
    os.makedirs(args.logdir, exist_ok=True)
    logging.basicConfig(
        filename=os.path.join(args.logdir, "manager.log"),
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    manager = NodeManager(args)
    try:
        manager.run()
    except SystemExit as exc:
        if exc.code not in (None, 0):
            logger.error("%s", exc.code)
            print(f"parlay-htex-manager: {exc.code}", file=sys.stderr)
        manager.stop()
        raise
    finally:
        if args.cert_env:  # the keys were written here from the environment: leave no copy on the host
            shutil.rmtree(args.cert_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
