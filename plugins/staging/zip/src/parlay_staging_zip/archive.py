"""Reading and adding members of a zip archive, safely with concurrent writers.

A writer holds an exclusive `fcntl.flock` on `ARCHIVE.lock`, beside the archive, while it builds the new archive
under a temporary name in the same folder, syncs it, and renames it over the old one. Readers take no lock: a
rename is atomic, so they, and whatever a crash mid-write leaves, only ever see a complete archive (the next
writer removes a crashed writer's temporary file). A member written again replaces the earlier one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import uuid
import zipfile

from parlay.staging.transfer import locked

COMPRESSION = zipfile.ZIP_DEFLATED
CHUNK = 1024 * 1024


def extract(archive: str, member: str, path: str) -> None:
    """Write `member` of `archive` to `path` (its CRC is checked as it is read)."""
    with _open(archive) as zf, zf.open(_info(zf, archive, member)) as source, open(path, "wb") as target:
        shutil.copyfileobj(source, target, CHUNK)


def version(archive: str, member: str) -> str:
    """What changes when `member` does: its CRC and size."""
    with _open(archive) as zf:
        info = _info(zf, archive, member)
    return f"crc {info.CRC:08x} size {info.file_size}"


def add(archive: str, member: str, source: str) -> None:
    """Put the file `source` in `archive` (made, with its folder, if missing) as `member`, replacing any
    member of that name."""
    folder, name = os.path.split(archive)
    os.makedirs(folder, exist_ok=True)
    with locked(archive + ".lock"):
        for leftover in glob.glob(os.path.join(folder, f".{glob.escape(name)}.*.part")):  # a crashed writer's
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        temp = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.part")
        try:
            _build(archive, member, source, temp)
            os.replace(temp, archive)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        _sync(folder)


def _build(archive: str, member: str, source: str, temp: str) -> None:
    """At `temp`: `archive` with `source` as `member`, synced to disk."""
    if not os.path.exists(archive):
        with zipfile.ZipFile(temp, "w", COMPRESSION, strict_timestamps=False) as new:
            new.write(source, member)
    else:
        with _open(archive) as old:
            replacing = member in old.namelist()
            if replacing:  # rewrite every other member (decompressed and compressed again)
                with zipfile.ZipFile(temp, "w", COMPRESSION, strict_timestamps=False) as new:
                    new.comment = old.comment
                    for info in old.infolist():
                        if info.filename != member:
                            _copy(old, info, new)
        if not replacing:  # a byte copy of the archive, with the member appended
            shutil.copyfile(archive, temp)
        with zipfile.ZipFile(temp, "a", COMPRESSION, strict_timestamps=False) as new:
            new.write(source, member)
        shutil.copymode(archive, temp)
    _sync(temp)


def _copy(old: zipfile.ZipFile, info: zipfile.ZipInfo, new: zipfile.ZipFile) -> None:
    if info.is_dir():
        new.writestr(info, b"")
        return
    with old.open(info) as source, new.open(info, "w") as target:
        shutil.copyfileobj(source, target, CHUNK)


def _open(archive: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except FileNotFoundError:
        raise FileNotFoundError(f"no archive {archive}") from None
    except zipfile.BadZipFile as exc:
        raise zipfile.BadZipFile(f"{archive} is not a zip archive ({exc})") from None


def _info(zf: zipfile.ZipFile, archive: str, member: str) -> zipfile.ZipInfo:
    try:
        return zf.getinfo(member)
    except KeyError:
        raise FileNotFoundError(f"{archive} has no member {member!r}") from None


def _sync(path: str) -> None:
    """Flush a file, or a folder's entries (a rename), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
