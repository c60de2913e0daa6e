"""How fast the htex interchange routes tasks as simulated managers are added, up to 2,048 of 32
workers each (the scale of Parsl's published HTEX run).

    python benchmarks/bench_interchange_scale.py [--tasks 200000] [--managers 1,16,128,1024,2048]

A real interchange process is started; this process plays the client (over the socket pair the
interchange is started with) and every manager (over real ZeroMQ sockets on loopback). A simulated
manager registers, then answers each task batch at once with a results batch, so the figure is the
interchange's routing rate (client -> manager -> client), bounded by this one process's ability to play
everyone on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

import zmq

import parlay
from parlay_executor_htex import interchange
from parlay_executor_htex import protocol as p
from parlay_executor_htex.stream import Stream


def start_interchange(logdir: str) -> tuple[subprocess.Popen, Stream, int]:
    config = {
        "worker_address": "127.0.0.1",
        "worker_port_range": [54000, 55000],
        "cert_dir": None,
        "heartbeat_period": 60,
        "heartbeat_threshold": 3600,
        "logdir": logdir,
        "parent_pid": os.getpid(),
        "python": p.python_version(),
        "parlay": parlay.__version__,
    }
    return interchange.start(config, os.path.join(logdir, "interchange.stderr"), timeout=30)


def run(managers: int, tasks: int, workers: int) -> float:
    proc, client, worker_port = start_interchange(tempfile.mkdtemp(prefix="parlay-scale-"))
    context = zmq.Context()
    context.set(zmq.MAX_SOCKETS, managers + 16)  # one socket per simulated manager
    try:
        sims = []
        for n in range(managers):
            sock = context.socket(zmq.DEALER)
            sock.setsockopt(zmq.IDENTITY, b"sim-%06d" % n)
            sock.connect(f"tcp://127.0.0.1:{worker_port}")
            info = {"block_id": str(n), "hostname": f"node{n}", "workers": workers, "prefetch": 0}
            sock.send_multipart(
                p.pack_json(p.REGISTER, {**info, "python": p.python_version(), "parlay": parlay.__version__})
            )
            sims.append(sock)
        for sock in sims:
            assert p.unpack_json(sock.recv_multipart())["accepted"]
        client.send([p.header(p.FUNCTION), p.FUNC_ID.pack(1), b"noop"])
        poller = zmq.Poller()
        for sock in sims:
            poller.register(sock, zmq.POLLIN)
        poller.register(client, zmq.POLLIN)
        started = time.perf_counter()
        for first in range(0, tasks, 10_000):
            batch = [(tid, p.NO_PRIORITY, 1, b"") for tid in range(first, min(tasks, first + 10_000))]
            client.send(p.pack_tasks(batch))
        done = 0
        while done < tasks:
            client.flush()
            for sock, _ in poller.poll(1000):
                if sock == client.fileno():
                    done += sum(len(m[1]) // p.RESULT_META.size for m in client.receive() if p.kind_of(m) == p.RESULTS)
                    continue
                while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    frames = sock.recv_multipart()
                    if p.kind_of(frames) == p.TASKS:
                        sock.send_multipart(p.pack_results([(t[0], b"") for t in p.unpack_tasks(frames)]))
        return tasks / (time.perf_counter() - started)
    finally:
        context.destroy(linger=0)
        client.close()
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--managers", default="1,16,128,1024,2048")
    parser.add_argument("--workers", type=int, default=32, help="workers per simulated manager")
    args = parser.parse_args()
    print(f"interchange routing rate, {args.tasks:,} no-op tasks, {args.workers} workers per manager")
    print(f"{'managers':>10}{'workers':>10}{'tasks/s':>12}")
    for managers in (int(m) for m in args.managers.split(",")):
        rate = run(managers, args.tasks, args.workers)
        print(f"{managers:>10,}{managers * args.workers:>10,}{rate:>12,.0f}", flush=True)


if __name__ == "__main__":
    main()
