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
DRAIN = 7  # [hdr]                                           manager -> interchange: send me nothing more
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


def unpack_json(frames: list[bytes]) -> Any:
    if len(frames) != 2:
        raise ProtocolError(f"expected 2 frames, got {len(frames)}")
    try:
        return json.loads(frames[1])
    except ValueError as exc:
        raise ProtocolError(f"bad JSON body: {exc}") from None


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
    blob, offset, tasks = frames[2], 0, []
    for tid, prio, func, size in task_entries(frames) if entries is None else entries:
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


def result_ids(frames: list[bytes]) -> list[int]:
    """The task ids of a RESULTS message, without touching the payloads."""
    _blob(frames, RESULT_META.size)
    return [tid for tid, _ in RESULT_META.iter_unpack(frames[1])]


def lost_ids(frames: list[bytes]) -> list[int]:
    """The task ids of a LOST message."""
    if len(frames) != 3 or len(frames[1]) % TASK_ID.size:
        raise ProtocolError("LOST needs task ids and a JSON description")
    return [tid for (tid,) in TASK_ID.iter_unpack(frames[1])]


def _blob(frames: list[bytes], meta_size: int) -> tuple[bytes, int]:
    if len(frames) != 3 or len(frames[1]) % meta_size:
        raise ProtocolError("expected a header, metadata and one payload frame")
    return frames[2], 0


def pack_ids(ids: list[int]) -> bytes:
    return struct.pack(f"!{len(ids)}Q", *ids)
