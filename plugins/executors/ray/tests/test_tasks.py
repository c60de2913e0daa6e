"""What only Ray can get wrong: workers that die, Ray's own retries, cancellation through Ray, resource
specifications, large objects and the object store, and a connection the user opened. The tests share one
local cluster of two CPUs and one custom `widget` resource (the `user_ray` fixture)."""

import os
import signal
import time

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import ConfigurationError, InvalidResourceSpecification, SerializationError, WorkerLost
from parlay.testing import TIMEOUT
from parlay.testing import workflow_apps as apps
from parlay_executor_ray import RayExecutor

pytestmark = pytest.mark.usefixtures("user_ray")


@python_app
def die_every_time(counter):
    with open(counter, "a") as stream:
        stream.write("x")
    os.kill(os.getpid(), signal.SIGKILL)


@python_app
def hang_until_killed(pid_file):
    with open(pid_file, "w") as stream:
        stream.write(str(os.getpid()))
    time.sleep(300)


@python_app
def wait_for(gate, started):
    open(started, "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)
    return "released"


@python_app
def touch(path):
    open(path, "w").close()
    return path


@python_app
def assigned_resources():
    import ray

    return ray.get_runtime_context().get_assigned_resources()


@python_app
def length(data):
    return len(data), type(data).__name__


@python_app
def pattern(size):
    return bytes(range(256)) * (size // 256)


class Payload:
    """A large argument that counts how often it is pickled; the worker receives plain bytes."""

    pickled = 0

    def __init__(self, size):
        self.data = bytes(size)

    def __sizeof__(self):
        return len(self.data)

    def __reduce__(self):
        Payload.pickled += 1
        return bytes, (self.data,)


def config(tmp_path, executor=None, **options):
    return Config(executors=[executor or RayExecutor()], run_dir=str(tmp_path / "runinfo"), **options)


def wait_until(condition):
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- workers that die --------------------------------------------------------------------------------


def test_killed_worker_is_worker_lost_and_ray_does_not_retry(tmp_path):
    counter = tmp_path / "calls"
    with parlay.load(config(tmp_path)):
        with pytest.raises(WorkerLost, match="WorkerCrashedError") as info:
            die_every_time(str(counter)).result(TIMEOUT)
        assert type(info.value.__cause__).__name__ == "WorkerCrashedError"
        assert apps.identity("next").result(TIMEOUT) == "next"
    assert counter.read_text() == "x", "Ray ran the task again"


def test_parlay_retries_decide(tmp_path):
    counter = tmp_path / "calls"
    with parlay.load(config(tmp_path, retries=2)):
        with pytest.raises(WorkerLost):
            die_every_time(str(counter)).result(TIMEOUT)
        assert apps.die_first_time(str(tmp_path / "marker")).result(TIMEOUT) == "survived"
    assert counter.read_text() == "xxx", "one try and two retries, each run once"


def test_worker_killed_from_outside(tmp_path):
    pid_file = tmp_path / "pid"
    with parlay.load(config(tmp_path)):
        future = hang_until_killed(str(pid_file))
        wait_until(lambda: pid_file.exists() and pid_file.read_text())
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        with pytest.raises(WorkerLost, match=r"worker of Ray task [0-9a-f]+ on this process's Ray cluster died"):
            future.result(TIMEOUT)
        assert apps.identity(1).result(TIMEOUT) == 1


# --- cancellation ------------------------------------------------------------------------------------


def test_cancel_tasks_queued_in_ray(tmp_path):
    gate = tmp_path / "gate"
    with parlay.load(config(tmp_path)):
        running = [wait_for(str(gate), str(tmp_path / f"started{n}")) for n in range(2)]
        wait_until(lambda: all((tmp_path / f"started{n}").exists() for n in range(2)))
        queued = [touch(str(tmp_path / f"queued{n}")) for n in range(3)]
        kept = touch(str(tmp_path / "kept"))
        assert all(future.cancel() for future in queued)
        assert all(future.cancelled() for future in queued)
        assert not running[0].cancel(), "a task that runs is not cancelled"
        gate.touch()
        assert [future.result(TIMEOUT) for future in running] == ["released", "released"]
        assert kept.result(TIMEOUT) == str(tmp_path / "kept")
        assert apps.identity(1).result(TIMEOUT) == 1
    assert not any((tmp_path / f"queued{n}").exists() for n in range(3)), "a cancelled task ran"


def test_cancel_a_task_waiting_for_a_resource_no_node_has(tmp_path):
    executor = RayExecutor(reject_infeasible=False)
    with parlay.load(config(tmp_path, executor)):
        waiting = touch(str(tmp_path / "never"), resource_specification={"resources": {"gadget": 1}})
        time.sleep(0.5)
        assert waiting.cancel()
        assert waiting.cancelled()
    assert not (tmp_path / "never").exists()


def test_shutdown_cancels_what_is_queued_and_running(tmp_path):
    gate = tmp_path / "gate"
    dfk = parlay.load(config(tmp_path))
    running = [wait_for(str(gate), str(tmp_path / f"started{n}")) for n in range(2)]
    queued = touch(str(tmp_path / "queued"))
    wait_until(lambda: all((tmp_path / f"started{n}").exists() for n in range(2)))
    dfk.cleanup()
    for future in [*running, queued]:
        with pytest.raises(parlay.errors.TaskCancelled):
            future.result(TIMEOUT)
    assert not (tmp_path / "queued").exists()
    with parlay.load(config(tmp_path)):
        assert apps.identity("cluster still usable").result(TIMEOUT) == "cluster still usable"


# --- resource specifications -------------------------------------------------------------------------


def test_resource_specification_reaches_ray(tmp_path):
    spec = {"num_cpus": 2, "memory": 64, "resources": {"widget": 1}}
    with parlay.load(config(tmp_path)):
        assigned = assigned_resources(resource_specification=spec).result(TIMEOUT)
        assert assigned["CPU"] == 2 and assigned["widget"] == 1
        assert assigned["memory"] == 64 * 2**20, "memory is given in megabytes"
        assert assigned_resources(parsl_resource_specification={"cores": 0.5}).result(TIMEOUT)["CPU"] == 0.5


@pytest.mark.parametrize(
    "spec, keys, message",
    [
        ({"disk": 10}, {"disk"}, r"keys \['disk'\] are not supported \(accepted: cores, gpus, memory, num_cpus"),
        ({"num_cpus": 16}, {"num_cpus"}, "no live node of the Ray cluster has 16 CPU \\(the most a node has: 2\\)"),
        ({"resources": {"gadget": 1}}, {"resources"}, "has 1 gadget \\(the most a node has: 0\\)"),
        ({"gpus": 1}, {"gpus"}, "has 1 GPU"),
        ({"memory": -1}, {"memory"}, r"resource_specification\['memory'\]=-1: expected a number >= 0"),
        ({"cores": 1, "num_cpus": 1}, {"cores", "num_cpus"}, "gives both 'cores' and 'num_cpus'"),
        ({"resources": {"CPU": 1}}, {"resources"}, "ask for CPU with the key 'num_cpus'"),
        ({"resources": ["widget"]}, {"resources"}, "expected a dict of names to amounts"),
    ],
)
def test_resource_specification_it_cannot_honour(tmp_path, spec, keys, message):
    with parlay.load(config(tmp_path)), pytest.raises(InvalidResourceSpecification, match=message) as info:
        apps.identity(1, resource_specification=spec).result(TIMEOUT)
    assert info.value.invalid_keys == keys


# --- large objects and serialization -----------------------------------------------------------------


def test_large_argument_goes_through_the_object_store_once(tmp_path):
    executor = RayExecutor()
    payload = Payload(40 * 2**20)
    Payload.pickled = 0
    with parlay.load(config(tmp_path, executor)):
        futures = [length(payload) for _ in range(3)]
        assert [f.result(TIMEOUT) for f in futures] == [(40 * 2**20, "bytes")] * 3
        assert Payload.pickled == 1, "put in the object store once, for the three tasks"
        assert len(executor._shared) == 0, "released once its tasks were over"


def test_without_sharing_ray_pickles_a_large_argument_per_task(tmp_path):
    payload = Payload(40 * 2**20)
    Payload.pickled = 0
    with parlay.load(config(tmp_path, RayExecutor(put_threshold=0))):
        assert [length(payload).result(TIMEOUT) for _ in range(3)] == [(40 * 2**20, "bytes")] * 3
    assert Payload.pickled == 3


def test_large_result(tmp_path):
    size = 40 * 2**20
    with parlay.load(config(tmp_path)):
        result = pattern(size).result(TIMEOUT)
        assert len(result) == size and result[:256] == bytes(range(256))
        assert length(result).result(TIMEOUT) == (size, "bytes")


def test_unserializable_argument_is_named(tmp_path):
    with parlay.load(config(tmp_path)):
        future = apps.identity(x for x in "generators cannot travel")
        with pytest.raises(SerializationError, match="positional argument 0 of task function identity"):
            future.result(TIMEOUT)


def test_remote_exception_keeps_type_and_traceback(tmp_path):
    with parlay.load(config(tmp_path)), pytest.raises(ValueError, match="boom") as info:
        apps.fail().result(TIMEOUT)
    assert type(info.value.__cause__).__name__ == "RemoteTraceback"
    assert "in fail" in str(info.value.__cause__)


# --- a connection the user opened --------------------------------------------------------------------


def test_the_users_connection_is_used_and_left_open(tmp_path):
    import ray

    with parlay.load(config(tmp_path)):
        assert apps.identity(1).result(TIMEOUT) == 1
    assert ray.is_initialized()


def test_options_that_need_a_connection_of_its_own_are_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="already connected to Ray"):
        parlay.load(config(tmp_path, RayExecutor(num_cpus=2)))
