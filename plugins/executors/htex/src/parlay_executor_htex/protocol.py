"""The htex wire protocol, version 1: one place for every message kind and its layout.

Every message is a list of frames (a ZeroMQ multipart message, or one framed by `stream` on the hops
within the submitting host) whose first frame is a 2-byte header: the protocol version and the message
kind. Task and result payloads are opaque bytes to the interchange: it reads only the fixed-size
metadata frames and never unpickles anything. See the plugin's README for the table.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import Any

VERSION = 1

TASKS = 1  # [hdr, meta: n x TASK_META, payloads joined]     client -> interchange -> manager
FUNCTION = 2  # [hdr, FUNC_ID, function bytes]              client -> interchange -> manager
RESULTS = 3  # [hdr, meta: n x RESULT_META, payloads joined]  manager -> interchange -> client
REGISTER = 4  # [hdr, JSON: who the manager is]              manager -> interchange
REGISTERED = 5  # [hdr, JSON: {"accepted": bool, "reason"}]  interchange -> manager
HEARTBEAT = 6  # [hdr]                                       both ways
DRAIN = 7  # [hdr]                                           manager -> interchange: send me nothing more;
#                                                              interchange -> manager: nothing more is coming
LOST = 8  # [hdr, meta: n x TASK_ID, JSON: what was lost]    manager -> interchange -> client
COMMAND = 9  # [hdr, JSON: {"op": ...}]                      client -> interchange
REPLY = 10  # [hdr, JSON]                                     interchange -> client
STOP = 11  # [hdr]                                            interchange -> manager
CAPACITY = 12  # [hdr, u32: tasks the manager wants to hold]  manager -> interchange

NAMES = {
    value: name
    for name, value in globals().items()
    if name.isupper() and isinstance(value, int) and name not in ("VERSION",)
}

HEADER = struct.Struct("!BB")
TASK_META = struct.Struct("!QiII")  # task id, priority (lower first), function id, payload length
RESULT_META = struct.Struct("!QI")  # task id, payload length
TASK_ID = struct.Struct("!Q")
FUNC_ID = struct.Struct("!I")
#: Priority of tasks that ask for none: after every prioritised task.
NO_PRIORITY = 2**31 - 1
#: Bytes of a manager id at most (managers use 16).
MAX_ID = 64

_HEADERS = {kind: HEADER.pack(VERSION, kind) for kind in NAMES}


class ProtocolError(ValueError):
    """A message that does not follow this protocol."""


def python_version() -> str:
    """What must match between the submitting side and a manager: pickles cross minor versions badly."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def header(kind: int) -> bytes:
    return _HEADERS[kind]


def kind_of(frames: list[bytes]) -> int:
    """The message kind, after checking the header; `ProtocolError` for anything malformed."""
    if not frames or len(frames[0]) != HEADER.size:
        raise ProtocolError("missing or malformed header frame")
    version, kind = HEADER.unpack(frames[0])
    if version != VERSION:
        raise ProtocolError(f"protocol version {version}, expected {VERSION}")
    if kind not in NAMES:
        raise ProtocolError(f"unknown message kind {kind}")
    return kind


def pack_json(kind: int, body: Any) -> list[bytes]:
    return [header(kind), json.dumps(body).encode()]


def unpack_json(frames: list[bytes]) -> dict[str, Any]:
    """The JSON object of a REGISTER, REGISTERED, COMMAND or REPLY message."""
    if len(frames) != 2:
        raise ProtocolError(f"expected 2 frames, got {len(frames)}")
    return _json_object(frames[1])


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ProtocolError(f"bad JSON body: {type(exc).__name__}: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"the JSON body is a {type(value).__name__}, not an object")
    return value


def manager_id(info: dict[str, Any]) -> bytes:
    """The manager id (hex, 1 to `MAX_ID` bytes) a REGISTER's body gives."""
    try:
        identity = bytes.fromhex(info["id"])
    except (KeyError, TypeError, ValueError):
        identity = b""
    if not 0 < len(identity) <= MAX_ID:
        raise ProtocolError(f"REGISTER needs a manager id of 1 to {MAX_ID} bytes in hex, not {brief(info.get('id'))}")
    return identity


def manager_capacity(info: dict[str, Any]) -> int:
    """Workers plus prefetched tasks a REGISTER's body announces."""
    workers, prefetch = info.get("workers"), info.get("prefetch", 0)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (workers, prefetch)):
        raise ProtocolError(f"REGISTER needs counts of workers and prefetch, not {brief(workers)}, {brief(prefetch)}")
    return workers + prefetch


def unpack_function(frames: list[bytes]) -> tuple[int, bytes]:
    """(function number, the function's bytes) of a FUNCTION message."""
    if len(frames) != 3 or len(frames[1]) != FUNC_ID.size:
        raise ProtocolError("FUNCTION needs a function number and the function's bytes")
    return FUNC_ID.unpack(frames[1])[0], frames[2]


def unpack_capacity(frames: list[bytes]) -> int:
    """How many tasks a CAPACITY message asks for."""
    if len(frames) != 2 or len(frames[1]) != FUNC_ID.size:
        raise ProtocolError("CAPACITY needs one count")
    return FUNC_ID.unpack(frames[1])[0]


def pack_tasks(tasks: list[tuple[int, int, int, bytes]]) -> list[bytes]:
    """A TASKS message for (task id, priority, function id, payload) entries."""
    meta = b"".join([TASK_META.pack(tid, prio, func, len(payload)) for tid, prio, func, payload in tasks])
    return [_HEADERS[TASKS], meta, b"".join([t[3] for t in tasks])]


def task_entries(frames: list[bytes]) -> list[tuple[int, int, int, int]]:
    """(task id, priority, function id, payload length) of each task of a TASKS message, checked
    against its payload frame without copying a payload."""
    blob, _ = _blob(frames, TASK_META.size)
    entries = list(TASK_META.iter_unpack(frames[1]))
    if sum(size for _, _, _, size in entries) != len(blob):
        raise ProtocolError("TASKS payload lengths do not add up")
    return entries


def unpack_tasks(
    frames: list[bytes], entries: list[tuple[int, int, int, int]] | None = None
) -> list[tuple[int, int, int, bytes]]:
    """(task id, priority, function id, payload) of each task of a TASKS message (whose `task_entries`
    may be passed in when already read)."""
    entries = task_entries(frames) if entries is None else entries
    blob, offset, tasks = frames[2], 0, []
    for tid, prio, func, size in entries:
        tasks.append((tid, prio, func, blob[offset : offset + size]))
        offset += size
    return tasks


def pack_results(results: list[tuple[int, bytes]]) -> list[bytes]:
    """A RESULTS message for (task id, payload) entries."""
    meta = b"".join([RESULT_META.pack(tid, len(payload)) for tid, payload in results])
    return [_HEADERS[RESULTS], meta, b"".join([r[1] for r in results])]


def unpack_results(frames: list[bytes]) -> list[tuple[int, memoryview]]:
    """(task id, payload) of each result of a RESULTS message, the payloads as views of the message."""
    results = []
    blob, offset = _blob(frames, RESULT_META.size)
    view = memoryview(blob)
    for tid, size in RESULT_META.iter_unpack(frames[1]):
        results.append((tid, view[offset : offset + size]))
        offset += size
    if offset != len(blob):
        raise ProtocolError("RESULTS payload lengths do not add up")
    return results


def result_ids(frames: list[bytes]) -> tuple[int, ...]:
    """The task ids of a RESULTS message, checked against its payload frame without touching a payload."""
    blob, _ = _blob(frames, RESULT_META.size)
    values = struct.unpack("!" + "QI" * (len(frames[1]) // RESULT_META.size), frames[1])  # id, length, id, ...
    if sum(values[1::2]) != len(blob):
        raise ProtocolError("RESULTS payload lengths do not add up")
    return values[0::2]


def unpack_lost(frames: list[bytes]) -> tuple[list[int], dict[str, Any]]:
    """The task ids of a LOST message and its JSON description of what was lost."""
    if len(frames) != 3 or len(frames[1]) % TASK_ID.size:
        raise ProtocolError("LOST needs task ids and a JSON description")
    return [tid for (tid,) in TASK_ID.iter_unpack(frames[1])], _json_object(frames[2])


def _blob(frames: list[bytes], meta_size: int) -> tuple[bytes, int]:
    if len(frames) != 3 or len(frames[1]) % meta_size:
        raise ProtocolError("expected a header, metadata and one payload frame")
    return frames[2], 0


def brief(value: Any) -> str:
    """`value` for an error message, cut short: what a peer sent may be any size."""
    text = repr(value)
    return text if len(text) <= 200 else f"{text[:197]}..."


def pack_ids(ids: list[int]) -> bytes:
    return struct.pack(f"!{len(ids)}Q", *ids)
