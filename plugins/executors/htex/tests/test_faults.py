"""htex under fire: workers, managers and the interchange really killed; strangers and garbage on its
sockets; version mismatches; and no process left behind."""

import contextlib
import json
import os
import signal
import socket
import stat
import time

import pytest
import zmq
import zmq.auth

import parlay
from parlay import Config, python_app
from parlay.errors import (
    BadStateException,
    ConfigurationError,
    InterchangeLost,
    InvalidResourceSpecification,
    ManagerLost,
    WorkerLost,
)
from parlay.testing import TIMEOUT, processes
from parlay.testing import workflow_apps as apps
from parlay.testing.executors import process_alive
from parlay_executor_htex import HighThroughputExecutor
from parlay_executor_htex import protocol as p
from parlay_executor_htex.executor import MAX_RESTARTS
from parlay_executor_htex.security import client_socket
from parlay_executor_htex.stream import Closed, Stream


@python_app
def pid():
    return os.getpid()


@python_app
def echo(x):
    return x


@python_app
def nap(seconds):
    time.sleep(seconds)
    return seconds


def htex(**options):
    options.setdefault("max_workers_per_node", 2)
    options.setdefault("heartbeat_period", 0.5)
    options.setdefault("heartbeat_threshold", 2)
    return HighThroughputExecutor(**options)


@pytest.fixture
def dfk(tmp_path):
    with parlay.load(Config(executors=[htex()], run_dir=str(tmp_path / "runinfo"))) as kernel:
        yield kernel


def executor_of(dfk):
    return dfk.executors["htex"]


def wait_until(predicate, what):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def processes_of(run_dir):
    """Live processes whose command line mentions this run's folder (interchange, managers, workers)."""
    return processes.mentioning(run_dir)


def test_killed_worker_fails_its_task_and_is_replaced(dfk):
    worker = pid().result(TIMEOUT)
    os.kill(worker, signal.SIGKILL)
    # the dead worker's next task, if it gets one, is lost; the pool goes on with a replacement
    results = [echo(i) for i in range(20)]
    outcomes = [f.exception(TIMEOUT) for f in results]
    assert all(e is None or isinstance(e, WorkerLost) for e in outcomes)
    assert [echo(i).result(TIMEOUT) for i in range(10)] == list(range(10))


def test_worker_lost_names_the_worker(dfk, tmp_path):
    @python_app
    def suicide():
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(WorkerLost) as info:
        suicide().result(TIMEOUT)
    text = str(info.value)
    assert "killed by SIGKILL" in text and "worker_" in text


def test_killed_worker_is_retried(tmp_path):
    with parlay.load(Config(executors=[htex()], run_dir=str(tmp_path / "runinfo"), retries=1)):
        assert apps.die_first_time(str(tmp_path / "marker")).result(TIMEOUT) == "survived"


@pytest.mark.parametrize(
    "connection, reason",
    [("local", "its connection closed"), ("tcp", "no heartbeat for")],
    ids=["on the submitting host", "over TCP"],
)
def test_killed_manager_fails_its_tasks_with_manager_lost(tmp_path, tcp_launch_cmd, connection, reason):
    """A manager on the submitting host is missed as its socket closes; one over TCP when its heartbeats stop."""
    options = {"launch_cmd": tcp_launch_cmd} if connection == "tcp" else {}
    with parlay.load(Config(executors=[htex(**options)], run_dir=str(tmp_path / "runinfo"))) as dfk:
        executor = executor_of(dfk)
        echo(0).result(TIMEOUT)
        [manager] = executor.command("managers")
        running = nap(60)
        wait_until(lambda: executor.command("managers")[0]["tasks"] == 1, "the task to reach the manager")
        os.kill(manager["pid"], signal.SIGKILL)
        with pytest.raises(ManagerLost) as info:
            running.result(TIMEOUT)
    text = str(info.value)
    assert manager["hostname"] in text
    assert "block 0" in text
    assert manager["log"] in text
    assert reason in text


def test_killed_interchange_fails_its_tasks_at_once_and_another_takes_over(dfk):
    executor = executor_of(dfk)
    running = [nap(60) for _ in range(4)]
    wait_until(lambda: executor.outstanding == 4, "tasks to be outstanding")
    old = executor._interchange.pid
    started = time.monotonic()
    os.kill(old, signal.SIGKILL)
    for future in running:
        with pytest.raises(InterchangeLost, match=rf"the interchange \(pid {old}\) exited with code -9"):
            future.result(TIMEOUT)
    assert time.monotonic() - started < 15
    assert echo(1).result(TIMEOUT) == 1, "later tasks run on the new interchange"
    assert executor._interchange.pid != old
    assert not process_alive(old)


def test_with_retries_a_killed_interchange_loses_no_task(tmp_path):
    run_dir = str(tmp_path / "runinfo")
    with parlay.load(Config(executors=[htex()], retries=2, run_dir=run_dir)) as dfk:
        executor = executor_of(dfk)
        futures = [nap(0.02 * (n % 3)) for n in range(300)]
        wait_until(lambda: sum(f.done() for f in futures) >= 30, "some tasks to finish")
        old = executor._interchange.pid
        os.kill(old, signal.SIGKILL)
        assert [f.result(TIMEOUT) for f in futures] == [0.02 * (n % 3) for n in range(300)]
        assert executor._interchange.pid != old
    assert processes_of(run_dir) == [], "nothing of the run is left"


def test_an_interchange_that_keeps_dying_ends_the_executor(dfk):
    executor = executor_of(dfk)
    for _ in range(MAX_RESTARTS):
        old = executor._interchange.pid
        os.kill(old, signal.SIGKILL)
        wait_until(lambda old=old: executor._interchange.pid != old, "a new interchange")
    os.kill(executor._interchange.pid, signal.SIGKILL)
    with pytest.raises(BadStateException, match="died 4 times in a row before any result"):
        wait_until(lambda: executor._broken is not None, "the executor to give up")
        echo(1).result(TIMEOUT)


def forged(task_id, canary):
    """What an intruder sends: a registration, then a result for another's task, which runs code when unpickled."""
    info = {"id": "ab" * 16, "python": p.python_version(), "parlay": parlay.__version__, "workers": 0}
    return [p.pack_json(p.REGISTER, info), p.pack_results([(task_id, canary.payload)])]


def outstanding_task(executor, seconds):
    """A task that runs for `seconds`, once the executor has it, and its id."""
    future = nap(seconds)
    wait_until(lambda: executor.outstanding == 1, "the task to be outstanding")
    [task_id] = executor._futures
    return future, task_id


def test_strangers_without_the_run_keys_get_nothing_processed_or_unpickled(dfk, canary):
    executor = executor_of(dfk)
    echo(0).result(TIMEOUT)  # the real manager has registered
    waiting, task_id = outstanding_task(executor, 3)
    context = zmq.Context()
    server_key, _ = zmq.auth.load_certificate(os.path.join(executor._cert_dir, "server.key"))
    strangers = [context.socket(zmq.DEALER) for _ in range(3)]  # the first holds no keys at all
    _, other_keys, other_server = strangers
    other_keys.curve_publickey, other_keys.curve_secretkey = zmq.curve_keypair()
    other_keys.curve_serverkey = server_key
    other_server.curve_publickey, other_server.curve_secretkey = zmq.curve_keypair()
    other_server.curve_serverkey, _ = zmq.curve_keypair()
    for stranger in strangers:
        stranger.setsockopt(zmq.LINGER, 0)
        stranger.connect(f"tcp://127.0.0.1:{executor.worker_port}")
        for frames in forged(task_id, canary):
            stranger.send_multipart(frames)
    assert not waiting.done()  # what they forged was sent while the task was outstanding
    assert waiting.result(TIMEOUT) == 3
    assert [echo(i).result(TIMEOUT) for i in range(20)] == list(range(20))
    assert not any(stranger.poll(500) for stranger in strangers), "the interchange answered a stranger"
    assert len(executor.command("managers")) == 1
    log = open(executor._interchange_log).read()
    assert log.count(" registered: ") == 1 and "ignoring" not in log  # no frame of theirs was even read
    assert not canary.sung
    # the same from a peer holding the run's keys is unpickled: the keys alone kept the strangers out
    insider = client_socket(context, zmq.DEALER, executor._cert_dir)
    insider.setsockopt(zmq.LINGER, 0)
    insider.connect(f"tcp://127.0.0.1:{executor.worker_port}")
    target, task_id = outstanding_task(executor, 30)
    for frames in forged(task_id, canary):
        insider.send_multipart(frames)
    assert target.result(TIMEOUT) is None and canary.sung
    context.destroy(linger=0)


def listening_tcp_ports(pid):
    """The TCP ports process `pid` listens on, from its socket inodes and the kernel's socket tables."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as stream:
            for line in stream.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_interchange_opens_no_port_for_clients(dfk):
    executor = executor_of(dfk)
    assert listening_tcp_ports(executor._interchange.pid) == {executor.worker_port}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_other_users_cannot_reach_the_local_socket(dfk, canary):
    executor = executor_of(dfk)
    address = os.path.join(executor._ipc_dir, "managers")
    echo(0).result(TIMEOUT)  # the real manager has registered
    waiting, task_id = outstanding_task(executor, 5)

    def connect_as_nobody():
        """In a child running as `nobody`, which sends a forged registration and result once connected:
        'refused' (no access), 'closed' (connected, then dropped) or 'open'."""
        read, write = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                os.setgid(65534)
                os.setuid(65534)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(address)
                    stream = Stream(sock)
                    with contextlib.suppress(Closed):  # it may have hung up already
                        for frames in forged(task_id, canary):
                            stream.send(frames)
                    sock.settimeout(TIMEOUT)
                    try:
                        outcome = b"closed" if sock.recv(1) == b"" else b"open"
                    except ConnectionResetError:  # closed with what was sent unread
                        outcome = b"closed"
                except PermissionError:
                    outcome = b"refused"
                os.write(write, outcome)
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(child, 0)
        with os.fdopen(read, "rb") as stream:
            return stream.read().decode()

    assert stat.S_IMODE(os.stat(executor._ipc_dir).st_mode) == 0o700
    assert connect_as_nobody() == "refused"
    # even with the folder opened up, the interchange checks who is connecting and hangs up
    os.chmod(executor._ipc_dir, 0o755)
    os.chmod(address, 0o777)
    try:
        assert connect_as_nobody() == "closed"
        assert not waiting.done()  # what it forged was sent while the task was outstanding
    finally:
        os.chmod(executor._ipc_dir, 0o700)
    assert open(executor._interchange_log).read().count("refused a local connection from another user") == 1
    assert waiting.result(TIMEOUT) == 5
    assert echo("still serving").result(TIMEOUT) == "still serving"
    assert not canary.sung


def test_keys_are_private(dfk):
    cert_dir = executor_of(dfk)._cert_dir
    assert os.stat(cert_dir).st_mode & 0o777 == 0o700
    for name in os.listdir(cert_dir):
        path = os.path.join(cert_dir, name)
        if os.path.isfile(path):
            assert os.stat(path).st_mode & 0o077 == 0


def test_manager_with_another_python_is_refused(tmp_path):
    config = Config(executors=[htex(encrypted=False)], run_dir=str(tmp_path / "runinfo"))
    with parlay.load(config) as dfk:
        executor = executor_of(dfk)
        echo(0).result(TIMEOUT)  # the real manager has registered
        context = zmq.Context()
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://127.0.0.1:{executor.worker_port}")
        sock.send_multipart(p.pack_json(p.REGISTER, {"python": "2.7", "parlay": "0.0.1", "workers": 1}))
        assert sock.poll(TIMEOUT * 1000)
        answer = p.unpack_json(sock.recv_multipart())
        context.destroy(linger=0)
        assert answer["accepted"] is False
        assert "version mismatch" in answer["reason"] and "2.7" in answer["reason"]
        assert len(executor.command("managers")) == 1


def test_priority(tmp_path):
    config = Config(executors=[htex(max_workers_per_node=1)], run_dir=str(tmp_path / "runinfo"))
    order = str(tmp_path / "order")

    @python_app
    def record(tag, path):
        with open(path, "a") as stream:
            stream.write(f"{tag}\n")

    with parlay.load(config):
        blocker = nap(1)
        futures = [
            record(tag, order, parsl_resource_specification={"priority": prio})
            for tag, prio in (("low", 10), ("high", 1), ("middle", 5))
        ]
        futures.append(record("none", order))
        blocker.result(TIMEOUT)
        for future in futures:
            future.result(TIMEOUT)
    assert open(order).read().split() == ["high", "middle", "low", "none"]


def test_bad_priority_and_options(dfk):
    with pytest.raises(InvalidResourceSpecification, match="priority='soon'"):
        echo(1, parsl_resource_specification={"priority": "soon"}).result(TIMEOUT)
    with pytest.raises(InvalidResourceSpecification, match=r"\['cores'\] are not supported"):
        echo(1, parsl_resource_specification={"cores": 4}).result(TIMEOUT)
    with pytest.raises(ConfigurationError, match=r"HighThroughputExecutor\.heartbeat_threshold=1"):
        HighThroughputExecutor(heartbeat_period=5, heartbeat_threshold=1)
    with pytest.raises(ConfigurationError, match="cpu_affinity='sideways'"):
        HighThroughputExecutor(cpu_affinity="sideways")
    with pytest.raises(ConfigurationError, match="max_workers_per_node=0"):
        HighThroughputExecutor(max_workers_per_node=0)


def test_cleanup_leaves_no_process(tmp_path):
    run_dir = str(tmp_path / "runinfo")
    dfk = parlay.load(Config(executors=[htex()], run_dir=run_dir))
    executor = executor_of(dfk)
    nap(60)
    workers = {pid().result(TIMEOUT) for _ in range(10)}
    [manager] = executor.command("managers")
    pids = {executor._interchange.pid, manager["pid"], *workers} | {p for p, _ in processes_of(run_dir)}
    assert all(process_alive(p) for p in pids)
    dfk.cleanup()
    wait_until(lambda: not any(process_alive(p) for p in pids), "every process of the run to end")


def test_manager_reports_affinity_and_accelerators(tmp_path):
    @python_app
    def environment():
        return os.environ.get("CUDA_VISIBLE_DEVICES"), tuple(sorted(os.sched_getaffinity(0)))

    executor = htex(available_accelerators=["0", "1"], cpu_affinity="block", max_workers_per_node=None)
    with parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"))):
        seen = {environment().result(TIMEOUT) for _ in range(20)}
    devices = {device for device, _ in seen}
    assert devices <= {"0", "1"} and devices
    cpus = {c for _, c in seen}
    assert all(len(c) == max(1, os.cpu_count() // 2) for c in cpus)


def test_managers_command(dfk):
    echo(0).result(TIMEOUT)
    [manager] = executor_of(dfk).command("managers")
    assert manager["block_id"] == "0"
    assert manager["workers"] == 2
    assert json.dumps(manager)
