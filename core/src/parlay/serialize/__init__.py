"""Serialization for executors that run tasks in other processes.

Pickle (protocol 5) first; dill only for what pickle cannot do (functions defined in `__main__`,
lambdas, closures), imported on first need. A function is serialized once per run and deserialized
once per worker. App functions in importable modules travel by reference, never by value.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import pickle
import struct
import sys
import traceback
import types
import weakref
from collections.abc import Callable
from typing import Any

from parlay.errors import DeserializationError, RemoteException, RemoteTraceback, SerializationError

_PICKLE, _DILL = b"P", b"D"
_RESULT, _EXCEPTION = b"R", b"E"
_LENGTH = struct.Struct("!I")


class _Pickler(pickle.Pickler):
    """Pickles an app's function as a reference to its app; refuses what only dill can carry."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is not types.FunctionType:
            return NotImplemented
        module = sys.modules.get(obj.__module__)
        if module is None or "<locals>" in obj.__qualname__ or not _importable(obj.__module__):
            raise pickle.PicklingError("needs dill")  # workers have neither the script nor its local scopes
        target: Any = module
        for part in obj.__qualname__.split("."):
            target = getattr(target, part, None)
        if target is obj:
            return NotImplemented  # an ordinary module-level function: pickle's reference is right
        if getattr(target, "func", None) is obj:
            return _app_function, (obj.__module__, obj.__qualname__)
        raise pickle.PicklingError("needs dill")


@functools.cache
def _importable(module: str) -> bool:
    """Whether a worker (which gets this process's sys.path) can import `module` by its name."""
    if module == "__main__":
        return False
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _app_function(module: str, qualname: str) -> Callable[..., Any]:
    target: Any = __import__(module, fromlist=["_"])
    for part in qualname.split("."):
        target = getattr(target, part)
    return target.func


def serialize(obj: Any) -> bytes:
    """Bytes for `obj`: pickle where it can, dill where it must."""
    stream = io.BytesIO()
    stream.write(_PICKLE)
    try:
        _Pickler(stream, protocol=5).dump(obj)
        return stream.getvalue()
    except (pickle.PicklingError, TypeError, AttributeError) as pickle_error:
        import dill

        try:
            return _DILL + dill.dumps(obj, protocol=5, recurse=True)
        except Exception as dill_error:
            raise dill_error from pickle_error


def deserialize(data: bytes | memoryview) -> Any:
    """The object `serialize` made the bytes from."""
    data = memoryview(data)
    kind, payload = bytes(data[:1]), data[1:]
    try:
        if kind == _PICKLE:
            return pickle.loads(payload)
        if kind == _DILL:
            import dill

            return dill.loads(payload)
    except Exception as exc:
        raise DeserializationError(f"cannot deserialize: {type(exc).__name__}: {exc}") from exc
    raise DeserializationError(f"unknown serialization header {kind!r}")


# --- tasks ----------------------------------------------------------------------------------------

_function_cache: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
_worker_functions: dict[bytes, Any] = {}
_WORKER_CACHE_SIZE = 128


def function_id(func: Any) -> tuple[int, bytes]:
    """A number naming `func` for this run, and its bytes: executors send the bytes to a worker once,
    then only the number."""
    data = serialize_function(func)
    number = _function_numbers.get(data)
    if number is None:
        number = _function_numbers[data] = len(_function_numbers) + 1
    return number, data


_function_numbers: dict[bytes, int] = {}


def serialize_function(func: Any) -> bytes:
    """`serialize(func)`, once per function object."""
    try:
        return _function_cache[func]
    except (KeyError, TypeError):
        pass
    try:
        data = serialize(func)
    except Exception as exc:
        raise SerializationError(f"cannot serialize task function {_name(func)}: {exc}") from exc
    with contextlib.suppress(TypeError):  # not weak-referenceable: serialized every time
        _function_cache[func] = data
    return data


def pack_arguments(func: Any, args: tuple, kwargs: dict[str, Any]) -> bytes:
    """A task's arguments as bytes. If they cannot be serialized, the error names the argument that failed."""
    try:
        return serialize((args, kwargs))
    except Exception as exc:
        for n, arg in enumerate(args):
            _argument(arg, f"positional argument {n}", func)
        for name, value in kwargs.items():
            _argument(value, f"keyword argument {name!r}", func)
        raise SerializationError(f"cannot serialize the arguments of task function {_name(func)}: {exc}") from exc


def unpack_arguments(data: bytes | memoryview) -> tuple[tuple, dict[str, Any]]:
    """The arguments and keyword arguments `pack_arguments` packed."""
    return deserialize(data)


def load_function(data: bytes) -> Any:
    """`deserialize` for functions, cached: a worker deserializes each function once."""
    func = _worker_functions.get(data)
    if func is None:
        func = deserialize(data)
        if len(_worker_functions) >= _WORKER_CACHE_SIZE:
            _worker_functions.pop(next(iter(_worker_functions)))
        _worker_functions[data] = func
    return func


def pack_apply(func: Any, args: tuple, kwargs: dict[str, Any]) -> bytes:
    """One task as bytes: the function (serialized once per run), then its arguments."""
    function = serialize_function(func)
    return _LENGTH.pack(len(function)) + function + pack_arguments(func, args, kwargs)


def unpack_apply(data: bytes | memoryview) -> tuple[Any, tuple, dict[str, Any]]:
    """The function, arguments and keyword arguments `pack_apply` packed."""
    data = memoryview(data)
    (size,) = _LENGTH.unpack_from(data)
    func = load_function(bytes(data[_LENGTH.size : _LENGTH.size + size]))
    return (func, *unpack_arguments(data[_LENGTH.size + size :]))


def _argument(value: Any, where: str, func: Any) -> bytes:
    try:
        return serialize(value)
    except Exception as exc:
        raise SerializationError(
            f"cannot serialize {where} of task function {_name(func)}: {type(exc).__name__}: {exc}"
        ) from exc


def _name(func: Any) -> str:
    inner = getattr(func, "func", func)
    return getattr(inner, "__qualname__", None) or repr(inner)


# --- results --------------------------------------------------------------------------------------


def pack_result(value: Any) -> bytes:
    """A task's result as bytes; a result that cannot be serialized becomes an error naming its type."""
    try:
        return _RESULT + serialize(value)
    except Exception as exc:
        error = SerializationError(f"cannot serialize the task's result of type {type(value).__qualname__}: {exc}")
        return pack_exception(error)


def settle(future: Any, data: bytes | memoryview) -> None:
    """Give an executor's future the result or exception `data` carries."""
    try:
        result = unpack_result(data)
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


def pack_exception(exc: BaseException) -> bytes:
    """An exception with its formatted traceback; a stand-in `RemoteException` if it cannot be pickled."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        body = serialize(exc)
        deserialize(body)  # some exceptions pickle but cannot be rebuilt
    except Exception:
        body = serialize(RemoteException(f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc)))
    return _EXCEPTION + _LENGTH.pack(len(body)) + body + tb.encode()


def unpack_result(data: bytes | memoryview) -> Any:
    """The result `pack_result` packed, or raise the exception `pack_exception` packed."""
    data = memoryview(data)
    if data[:1] == _RESULT:
        return deserialize(data[1:])
    (size,) = _LENGTH.unpack_from(data, 1)
    start = 1 + _LENGTH.size
    exc = deserialize(data[start : start + size])
    exc.__cause__ = RemoteTraceback(bytes(data[start + size :]).decode())
    raise exc
