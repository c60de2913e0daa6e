"""Memoization: a task's hash from its function and arguments, the in-run memo table, and checkpoints
(this run's, and those of earlier runs).

Teach parlay to hash a new type by registering it::

    @parlay.dataflow.memoization.id_for_memo.register(MyType)
    def _(obj, output_ref=False):
        return obj.stable_bytes()
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import os
import pickle
import threading
import types
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from parlay.dataflow.rundirs import run_numbers
from parlay.dataflow.taskrecord import TaskRecord
from parlay.errors import BadCheckpoint, UnhashableArgument
from parlay.execution import RESERVED_KWARGS
from parlay.files import File

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "tasks.pkl"
#: Reserved keyword arguments that do not change a task's result. `label` is hashed: a function may read it.
_NOT_HASHED = RESERVED_KWARGS - {"inputs", "outputs", "label"}


@functools.singledispatch
def id_for_memo(obj: object, output_ref: bool = False) -> bytes:
    """Stable bytes identifying `obj` for memoization; register an implementation for new types."""
    raise UnhashableArgument(
        f"cannot hash a value of type {type(obj).__module__}.{type(obj).__qualname__} for memoization; "
        "register how with @parlay.dataflow.memoization.id_for_memo.register"
    )


@id_for_memo.register(str)
@id_for_memo.register(int)
@id_for_memo.register(float)
@id_for_memo.register(bool)
@id_for_memo.register(complex)
@id_for_memo.register(bytes)
@id_for_memo.register(type(None))
def _(obj: object, output_ref: bool = False) -> bytes:
    return pickle.dumps(obj, protocol=5)


@id_for_memo.register(list)
@id_for_memo.register(tuple)
def _(obj: list | tuple, output_ref: bool = False) -> bytes:
    return _tagged(type(obj).__name__, (id_for_memo(x, output_ref) for x in obj))


@id_for_memo.register(set)
@id_for_memo.register(frozenset)
def _(obj: set | frozenset, output_ref: bool = False) -> bytes:
    return _tagged(type(obj).__name__, sorted(id_for_memo(x, output_ref) for x in obj))


@id_for_memo.register(dict)
def _(obj: dict, output_ref: bool = False) -> bytes:
    items = sorted((id_for_memo(k, output_ref), id_for_memo(v, output_ref)) for k, v in obj.items())
    return _tagged("dict", (k + b"=" + v for k, v in items))


@id_for_memo.register(File)
def _(obj: File, output_ref: bool = False) -> bytes:
    return _tagged("File", [obj.url.encode()])


@id_for_memo.register(PurePath)
def _(obj: PurePath, output_ref: bool = False) -> bytes:
    return _tagged("path", [str(obj).encode()])


@id_for_memo.register(types.FunctionType)
@id_for_memo.register(types.BuiltinFunctionType)
def _(obj: Any, output_ref: bool = False) -> bytes:
    return _function_id(obj)


@functools.lru_cache(maxsize=1024)
def _function_id(func: Any) -> bytes:
    # The source text is part of the identity, so editing a function invalidates its old checkpoints.
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        source = ""
    return _tagged("function", [f"{func.__module__}.{func.__qualname__}".encode(), source.encode()])


def _tagged(tag: str, parts: Iterable[bytes]) -> bytes:
    return b"%s[%s]" % (tag.encode(), b",".join(b"%d:%s" % (len(p), p) for p in parts))


def task_hash(record: TaskRecord) -> str:
    """The memo key of a task: its function, arguments and keyword arguments, less `ignore_for_cache`."""
    kwargs = record.kwargs
    parts = [_function_id(record.app.func)]
    for n, arg in enumerate(record.args):
        parts.append(_argument_id(arg, f"positional argument {n}", record))
    for name in sorted(kwargs):
        if name in record.ignore_for_cache or name in _NOT_HASHED:
            continue
        parts.append(name.encode() + b"=" + _argument_id(kwargs[name], f"argument {name!r}", record, name == "outputs"))
    return hashlib.sha256(_tagged("task", parts)).hexdigest()


def _argument_id(value: Any, where: str, record: TaskRecord, output_ref: bool = False) -> bytes:
    try:
        return id_for_memo(value, output_ref)
    except UnhashableArgument as exc:
        raise UnhashableArgument(f"task {record.id} of app {record.func_name}: {where}: {exc}") from exc


class Memoizer:
    """The in-run memo table, filled from earlier checkpoints, and the writer of this run's checkpoint."""

    def __init__(self, run_dir: str, enabled: bool, checkpoint_files: Iterable[str] = ()):
        self.enabled = enabled
        self.checkpoint_dir = os.path.join(run_dir, "checkpoint")
        self._table: dict[str, Any] = {}
        self._unsaved: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        for directory in checkpoint_files:
            self._table.update(load_checkpoint(directory))
        if self._table:
            logger.info("loaded %d memoized results from %d checkpoint(s)", len(self._table), len(checkpoint_files))

    def lookup(self, record: TaskRecord) -> tuple[bool, Any]:
        """Hash the task (at launch, once its arguments are known) and look its result up."""
        record.hashsum = task_hash(record)
        try:
            return True, self._table[record.hashsum]
        except KeyError:
            return False, None

    def update(self, record: TaskRecord, result: Any) -> None:
        """Remember a successful result, to be written at the next checkpoint."""
        if record.hashsum is None or record.from_memo:
            return
        with self._lock:
            self._table[record.hashsum] = result
            self._unsaved.append((record.hashsum, result))

    def checkpoint(self) -> str:
        """Append the results remembered since the last checkpoint; return the checkpoint directory."""
        with self._lock:
            unsaved, self._unsaved = self._unsaved, []
            if unsaved:
                os.makedirs(self.checkpoint_dir, exist_ok=True)
                with open(os.path.join(self.checkpoint_dir, CHECKPOINT_FILE), "ab") as stream:
                    for hashsum, result in unsaved:
                        try:
                            data = pickle.dumps({"hash": hashsum, "result": result}, protocol=5)
                        except Exception as exc:
                            logger.warning("result %s cannot be checkpointed: %s", hashsum, exc)
                            continue
                        stream.write(data)
        return self.checkpoint_dir


def load_checkpoint(directory: str) -> dict[str, Any]:
    """Read the results stored in one checkpoint directory."""
    path = os.path.join(directory, CHECKPOINT_FILE)
    table: dict[str, Any] = {}
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise BadCheckpoint(f"cannot read checkpoint {path}: {exc}") from exc
    with stream:
        while True:
            try:
                entry = pickle.load(stream)
            except EOFError:
                break
            except Exception as exc:
                raise BadCheckpoint(f"checkpoint {path} is corrupt: {exc}") from exc
            table[entry["hash"]] = entry["result"]
    return table


def get_all_checkpoints(rundir: str = "runinfo") -> list[str]:
    """The checkpoint directories of every earlier run under `rundir`, oldest first."""
    found = []
    for number in run_numbers(rundir):
        path = os.path.join(rundir, f"{number:03d}", "checkpoint")
        if os.path.isfile(os.path.join(path, CHECKPOINT_FILE)):
            found.append(path)
    return found


def get_last_checkpoint(rundir: str = "runinfo") -> list[str]:
    """The newest checkpoint directory under `rundir`, as a one-element list (empty if there is none)."""
    return get_all_checkpoints(rundir)[-1:]
