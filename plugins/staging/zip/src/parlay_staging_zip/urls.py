"""`zip:` URLs as Parsl writes them: `zip:/path/to/archive.zip/member/path`."""

from __future__ import annotations

from parlay.files import File

FORM = "zip:/path/to/archive.zip/member/path"


class ZipURLError(ValueError):
    """A `zip:` URL that names no member of an archive on this machine's file system."""


def split(file: File) -> tuple[str, str]:
    """The archive's path (up to and including the first component ending in `.zip`) and the member's name
    (the rest) of a `zip:` URL."""
    if file.netloc:
        raise ZipURLError(
            f"{file.url} has a host ({file.netloc!r}): a zip URL names an archive on the worker's own file system, "
            f"with no host: {FORM}"
        )
    parts = file.path.split("/")
    ends = [n for n, part in enumerate(parts) if part.endswith(".zip")]
    if not ends:
        raise ZipURLError(f"{file.url} names no archive (no part of its path ends in .zip): write {FORM}")
    archive, member = "/".join(parts[: ends[0] + 1]), "/".join(parts[ends[0] + 1 :])
    if not archive.startswith("/"):
        raise ZipURLError(f"{file.url}: the archive's path must be absolute: write {FORM}")
    if not member or member.endswith("/"):
        raise ZipURLError(f"{file.url} names no member of {archive}: write {FORM}")
    if any(part in ("", ".", "..") for part in member.split("/")):
        raise ZipURLError(f"{file.url}: the member's name {member!r} has an empty, '.' or '..' part")
    return archive, member
