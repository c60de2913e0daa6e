"""The htex wire protocol, version 1: one place for every message kind and its layout.

Every message is a ZeroMQ multipart message whose first frame is a 2-byte header: the protocol version
and the message kind. Task and result payloads are opaque bytes to the interchange: it reads only
the fixed-size metadata frames and never unpickles anything. See the plugin's README for the table.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import Any

VERSION = 1

TASKS = 1  # [hdr, meta: n x TASK_META, payload_1..n]        client -> interchange -> manager
FUNCTION = 2  # [hdr, FUNC_ID, function bytes]              client -> interchange -> manager
RESULTS = 3  # [hdr, meta: n x TASK_ID, payload_1..n]       manager -> interchange -> client
REGISTER = 4  # [hdr, JSON: who the manager is]              manager -> interchange
REGISTERED = 5  # [hdr, JSON: {"accepted": bool, "reason"}]  interchange -> manager
HEARTBEAT = 6  # [hdr]                                       both ways
DRAIN = 7  # [hdr]                                           manager -> interchange: send me nothing more
LOST = 8  # [hdr, meta: n x TASK_ID, JSON: what was lost]    manager -> interchange -> client
COMMAND = 9  # [hdr, JSON: {"op": ...}]                      client -> interchange
REPLY = 10  # [hdr, JSON]                                     interchange -> client
STOP = 11  # [hdr]                                            interchange -> manager

NAMES = {
    value: name
    for name, value in globals().items()
    if name.isupper() and isinstance(value, int) and name not in ("VERSION",)
}

HEADER = struct.Struct("!BB")
TASK_META = struct.Struct("!QiI")  # task id, priority (lower first), function id
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


def task_metas(frames: list[bytes]) -> list[tuple[int, int, int]]:
    """(task id, priority, function id) of each task in a TASKS message, checked against its payloads."""
    meta = frames[1] if len(frames) > 1 else b""
    count, rest = divmod(len(meta), TASK_META.size)
    if rest or count != len(frames) - 2:
        raise ProtocolError("TASKS metadata does not match its payloads")
    return list(TASK_META.iter_unpack(meta))


def task_ids(frames: list[bytes], extra: int = 0) -> list[int]:
    """The task ids of a RESULTS (payload per task) or LOST (`extra=1`: one JSON frame) message."""
    meta = frames[1] if len(frames) > 1 else b""
    count, rest = divmod(len(meta), TASK_ID.size)
    expected = 3 if extra else 2 + count
    if rest or len(frames) != expected:
        raise ProtocolError("task id metadata does not match the message")
    return [tid for (tid,) in TASK_ID.iter_unpack(meta)]


def pack_ids(ids: list[int]) -> bytes:
    return struct.pack(f"!{len(ids)}Q", *ids)
