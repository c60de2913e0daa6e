"""`File`: a file an app reads or writes, named by a path or a URL."""

from __future__ import annotations

import os
from urllib.parse import urlparse


class File(os.PathLike):
    """A file named by a local path (`File("out.txt")`) or a URL (`File("https://host/data.csv")`).

    `filepath` is where the file is on this machine: the path itself for the `file` scheme, or the
    `local_path` a staging plugin chose for other schemes.
    """

    __slots__ = ("filename", "local_path", "netloc", "path", "scheme", "url")

    def __init__(self, url: str | os.PathLike):
        self.url = os.fspath(url)
        parsed = urlparse(self.url)
        self.scheme = parsed.scheme if len(parsed.scheme) > 1 else "file"  # "C:" is a drive, not a scheme
        self.netloc = parsed.netloc
        self.path = parsed.path if self.scheme != "file" or parsed.scheme else self.url
        self.filename = os.path.basename(self.path)
        self.local_path: str | None = None

    @property
    def filepath(self) -> str:
        """The file's path on this machine."""
        if self.local_path is not None:
            return self.local_path
        if self.scheme == "file":
            return self.path
        raise ValueError(f"{self.url} has no local path yet: it has not been staged in (scheme {self.scheme!r})")

    def cleancopy(self) -> File:
        """A copy without the `local_path` a staging plugin chose: what each task stages for itself."""
        return File(self.url)

    def __fspath__(self) -> str:
        return self.filepath

    def __str__(self) -> str:
        return self.filepath

    def __repr__(self) -> str:
        return f"File({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __reduce__(self) -> tuple:
        return (_rebuild, (self.url, self.local_path, self.path))


def _rebuild(url: str, local_path: str | None, path: str | None = None) -> File:
    file = File(url)
    file.local_path = local_path
    if path is not None:
        file.path = path  # as a staging provider may have set it (an absolute path for a remote copy)
    return file
