"""Memoization: a task's hash from its function and arguments, the in-run memo table, and checkpoints
(this run's, and those of earlier runs).

A checkpoint (`runinfo/NNN/checkpoint/tasks.pkl`) is appended to, one entry per result: a header (the
entry's length and checksums) and the pickled `{"hash": ..., "result": ...}`. Each checkpoint is synced to
disk before the next begins, so a run killed while writing one leaves at most an incomplete last entry, which
a later run skips with a warning. A checksum that does not match is a corrupt file: an error names it.

Teach parlay to hash a new type by registering it::

    @parlay.dataflow.memoization.id_for_memo.register(MyType)
    def _(obj, output_ref=False):
        return obj.stable_bytes()
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import logging
import os
import pickle
import struct
import threading
import types
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

import attrs

from parlay.dataflow.rundirs import run_numbers
from parlay.dataflow.taskrecord import TaskRecord
from parlay.errors import BadCheckpoint, RunFileWarning, UnhashableArgument
from parlay.execution import RESERVED_KWARGS
from parlay.files import File
from parlay.staging.transfer import STEPS_KWARG

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "tasks.pkl"
#: The first bytes of a checkpoint file.
MAGIC = b"parlay checkpoint 1\n"
#: An entry's header: the length of its pickle and the pickle's CRC-32, then the CRC-32 of those two.
_HEADER = struct.Struct("<III")
_SIZE = struct.Struct("<II")
#: Reserved keyword arguments that do not change a task's result. `label` is hashed: a function may read it.
_NOT_HASHED = (RESERVED_KWARGS - {"inputs", "outputs", "label"}) | {STEPS_KWARG}


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


@attrs.frozen(kw_only=True)
class BasicMemoizer:
    """Parsl's way of giving the memoization and checkpoint settings: `Config(memoizer=BasicMemoizer(...))` is
    `Config(app_cache=memoize, checkpoint_files=..., checkpoint_mode=..., checkpoint_period=...)`."""

    checkpoint_files: Sequence[str] | None = None
    checkpoint_period: str | float | None = None
    checkpoint_mode: str | None = None
    memoize: bool = True


class Memoizer:
    """The in-run memo table, filled from earlier checkpoints, and the writer of this run's checkpoint."""

    def __init__(self, run_dir: str, enabled: bool, checkpoint_files: Iterable[str] = ()):
        self.enabled = enabled
        self.checkpoint_dir = os.path.join(run_dir, "checkpoint")
        self._table: dict[str, Any] = {}
        self._unsaved: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one checkpoint written at a time, while tasks go on settling
        self._written = 0  # bytes of the checkpoint file known to be whole
        self._write_failed = False
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
        """Append the results remembered since the last checkpoint and sync them to disk; return the checkpoint
        directory. A write that fails (a full disk) is warned about once; its results are tried again at the
        next checkpoint, and the run goes on."""
        with self._write_lock:
            with self._lock:
                unsaved, self._unsaved = self._unsaved, []
            if unsaved and not self._append(_entries(unsaved)):
                with self._lock:
                    self._unsaved[:0] = unsaved
        return self.checkpoint_dir

    def _append(self, data: bytes) -> bool:
        path = os.path.join(self.checkpoint_dir, CHECKPOINT_FILE)
        try:
            os.makedirs(self.checkpoint_dir, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.ftruncate(fd, self._written)  # what a failed write left after the last whole entry goes
                os.lseek(fd, self._written, os.SEEK_SET)
                data = data if self._written else MAGIC + data
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):  # at once: a full disk gets its space back
                    os.ftruncate(fd, self._written)
                raise
            finally:
                os.close(fd)
        except OSError as exc:
            if not self._write_failed:
                self._write_failed = True
                _warn(f"cannot write the checkpoint {path} ({exc}); the run goes on, and the next "
                      "checkpoint tries again")  # fmt: skip
            return False
        self._written += len(data)
        return True


def _entries(results: list[tuple[str, Any]]) -> bytes:
    """Checkpoint entries for `(hash, result)` pairs; a result that cannot be pickled is left out, with a warning."""
    entries = []
    for hashsum, result in results:
        try:
            data = pickle.dumps({"hash": hashsum, "result": result}, protocol=5)
        except Exception as exc:
            logger.warning("result %s cannot be checkpointed: %s", hashsum, exc)
            continue
        length, crc = len(data), zlib.crc32(data)
        entries += [_HEADER.pack(length, crc, zlib.crc32(_SIZE.pack(length, crc))), data]
    return b"".join(entries)


def _warn(text: str) -> None:
    logger.warning("%s", text)
    warnings.warn_explicit(text, RunFileWarning, "parlay", 0)


def load_checkpoint(directory: str) -> dict[str, Any]:
    """Read the results stored in one checkpoint directory. An incomplete last entry (its run was killed while
    writing it) is skipped with a warning; a file that cannot be read or is corrupt raises `BadCheckpoint`
    naming it and what to do."""
    path = os.path.join(directory, CHECKPOINT_FILE)
    table: dict[str, Any] = {}
    try:
        with open(path, "rb") as stream:
            _read_entries(stream, path, table)
    except OSError as exc:
        raise BadCheckpoint(f"cannot read checkpoint {path}: {exc.strerror or exc}; {_remedy(directory)}") from exc
    return table


def _read_entries(stream: Any, path: str, table: dict[str, Any]) -> None:
    directory = os.path.dirname(path)
    magic = stream.read(len(MAGIC))
    if magic != MAGIC:
        if MAGIC.startswith(magic):  # empty: killed before its first entry was whole
            return
        raise BadCheckpoint(f"{path} is not a parlay checkpoint; {_remedy(directory)}")
    offset = len(MAGIC)
    while header := stream.read(_HEADER.size):
        if len(header) < _HEADER.size:
            return _incomplete(path, table)
        length, crc, header_crc = _HEADER.unpack(header)
        if zlib.crc32(header[: _SIZE.size]) != header_crc:
            raise BadCheckpoint(f"checkpoint {path} is corrupt at byte {offset}; {_remedy(directory)}")
        data = stream.read(length)
        if len(data) < length:
            return _incomplete(path, table)
        if zlib.crc32(data) != crc:
            raise BadCheckpoint(f"checkpoint {path} is corrupt at byte {offset}; {_remedy(directory)}")
        try:
            entry = pickle.loads(data)
        except Exception as exc:
            raise BadCheckpoint(
                f"checkpoint {path} holds a result that cannot be loaded (at byte {offset}: {_brief(exc)}); "
                f"{_remedy(directory)}"
            ) from None
        table[entry["hash"]] = entry["result"]
        offset += _HEADER.size + length


def _incomplete(path: str, table: dict[str, Any]) -> None:
    _warn(f"checkpoint {path} ends with an incomplete entry (its run was killed while writing it?); the "
          f"{len(table)} results before it are used")  # fmt: skip


def _remedy(directory: str) -> str:
    return f"delete {directory} (its results are computed again) or leave it out of Config(checkpoint_files=...)"


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


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
