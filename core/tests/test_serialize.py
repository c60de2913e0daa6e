"""Serialization: pickle first, dill only where needed, one serialization per function, errors that
name what failed."""

import pickle
import subprocess
import sys
import textwrap

import pytest

from parlay import python_app, serialize
from parlay.errors import DeserializationError, RemoteException, RemoteTraceback, SerializationError
from parlay.execution import PythonRunner
from parlay.serialize import (
    deserialize,
    pack_apply,
    pack_exception,
    pack_result,
    serialize_function,
    unpack_apply,
    unpack_result,
)


@python_app
def double(x):
    return 2 * x


def plain(x):
    return x + 1


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("no pickling me")


class NeedsTwoArguments(Exception):
    def __init__(self, a, b):
        super().__init__(a)


@pytest.mark.parametrize("value", [1, "text", b"bytes", [1, {"a": (2, 3)}], None, {1, 2}, 3.5])
def test_data_round_trips_with_pickle(value):
    data = serialize.serialize(value)
    assert data[:1] == b"P"
    assert deserialize(data) == value


def test_app_functions_travel_by_reference_without_dill():
    data = serialize.serialize(double.func)
    assert data[:1] == b"P"
    assert b"_app_function" in data
    assert deserialize(data) is double.func
    assert deserialize(serialize.serialize(PythonRunner(double.func)))(21) == 42
    assert serialize.serialize(plain)[:1] == b"P"


def test_lambdas_and_local_functions_use_dill():
    offset = 5

    def local(x):
        return x + offset

    for func in (lambda x: x * 3, local):
        data = serialize.serialize(func)
        assert data[:1] == b"D"
        assert deserialize(data)(1) == func(1)


def test_main_functions_run_in_another_interpreter(tmp_path):
    script = textwrap.dedent(
        """
        import math, subprocess, sys
        from parlay.serialize import serialize
        SCALE = 3
        def area(r):
            return SCALE * math.pi * r * r
        sys.stdout.buffer.write(serialize(area))
        """
    )
    data = subprocess.check_output([sys.executable, "-c", script])
    assert data[:1] == b"D"
    loader = "import sys; from parlay.serialize import deserialize; print(deserialize(sys.stdin.buffer.read())(1))"
    out = subprocess.run([sys.executable, "-c", loader], input=data, capture_output=True, check=True)
    assert float(out.stdout) == pytest.approx(3 * 3.141592653589793)


def test_task_round_trip():
    func, args, kwargs = unpack_apply(pack_apply(PythonRunner(plain), (1, "a"), {"k": [1, 2], "inputs": []}))
    assert func(1) == 2
    assert args == (1, "a")
    assert kwargs == {"k": [1, 2], "inputs": []}


def test_function_serialized_once_per_run(monkeypatch):
    runner = PythonRunner(plain)
    calls = []
    real = serialize.serialize
    monkeypatch.setattr(serialize, "serialize", lambda obj: calls.append(obj) or real(obj))
    for n in range(5):
        pack_apply(runner, (n,), {})
    assert calls.count(runner) == 1


def test_worker_deserializes_a_function_once(monkeypatch):
    packed = [pack_apply(PythonRunner(double.func), (n,), {}) for n in range(3)]
    serialize._worker_functions.clear()
    calls = []
    real = serialize.deserialize
    monkeypatch.setattr(serialize, "deserialize", lambda data: calls.append(len(data)) or real(data))
    funcs = {id(unpack_apply(p)[0]) for p in packed}
    assert len(funcs) == 1
    assert len(calls) == 3 + 1  # each task's arguments, and the function once


def test_unserializable_argument_is_named():
    with pytest.raises(SerializationError) as info:
        pack_apply(PythonRunner(plain), (1,), {"stream": (x for x in "abc")})
    assert "keyword argument 'stream' of task function plain" in str(info.value)
    assert info.value.__cause__ is not None
    with pytest.raises(SerializationError, match="positional argument 1 of task function plain"):
        pack_apply(PythonRunner(plain), (1, (x for x in "abc")), {})


def test_result_round_trip():
    assert unpack_result(pack_result({"answer": 42})) == {"answer": 42}


def test_unserializable_result_becomes_an_error():
    with pytest.raises(SerializationError, match="result of type generator"):
        unpack_result(pack_result(x for x in "abc"))


def raise_value_error():
    raise ValueError("remote failure")


def test_exception_round_trip_with_remote_traceback():
    try:
        raise_value_error()
    except ValueError as exc:
        packed = pack_exception(exc)
    with pytest.raises(ValueError, match="remote failure") as info:
        unpack_result(packed)
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "raise_value_error" in str(cause)


@pytest.mark.parametrize("exc", [Unpicklable("x"), NeedsTwoArguments(1, 2)])
def test_exceptions_that_cannot_travel_are_replaced(exc):
    with pytest.raises(RemoteException) as info:
        unpack_result(pack_exception(exc))
    assert info.value.type_name.endswith(type(exc).__qualname__)


def test_garbage_is_a_deserialization_error():
    with pytest.raises(DeserializationError, match="unknown serialization header"):
        deserialize(b"Zjunk")
    with pytest.raises(DeserializationError, match="cannot deserialize"):
        deserialize(b"P" + pickle.dumps(1)[:-3])


def test_functions_that_are_not_weak_referenceable_still_serialize():
    assert deserialize(serialize_function(len)) is len


def test_dill_is_imported_only_when_needed():
    code = "import sys; from parlay.serialize import serialize; serialize([1, 2]); print('dill' in sys.modules)"
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "False"
