"""The FTP staging providers: `ftp://` inputs retrieved (RETR) and outputs stored (STOR, then renamed)."""

from __future__ import annotations

import contextlib
import ftplib
import math
import os
from collections.abc import Iterator
from typing import ClassVar

from parlay.errors import ConfigurationError, StagingError
from parlay.files import File
from parlay.staging.transfer import TransferStaging
from parlay_staging_ftp.session import FTPFailure, retrieve, session, stat, store


class FTPStaging(TransferStaging):
    """Moves files to and from `ftp://[user[:password]@]host[:port]/path` URLs. Options, all by keyword:

    - `timeout`: seconds for connecting and for each reply or read (60).
    - `netrc_file`: a netrc file with the hosts' credentials (None: ~/.netrc, when it exists).
    - `passive`: passive mode, where the client opens the data connections (True), or active mode (False).

    The login: the URL's user and password (percent-encoded), else the netrc entry of the host, else
    anonymous.
    """

    schemes: ClassVar[tuple[str, ...]] = ("ftp",)

    def __init__(self, *, timeout: float = 60, netrc_file: str | os.PathLike[str] | None = None, passive: bool = True):
        name = type(self).__name__
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (0 < timeout < math.inf):
            raise ConfigurationError(f"{name}.timeout={timeout!r}: expected seconds > 0")
        if netrc_file is not None:
            if not isinstance(netrc_file, (str, os.PathLike)) or not os.fspath(netrc_file):
                raise ConfigurationError(
                    f"{name}.netrc_file={netrc_file!r}: expected the path of a netrc file, or None for ~/.netrc"
                )
            netrc_file = os.fspath(netrc_file)
        if not isinstance(passive, bool):
            raise ConfigurationError(f"{name}.passive={passive!r}: expected True (passive mode) or False (active mode)")
        self.timeout = timeout
        self.netrc_file: str | None = netrc_file
        self.passive = passive

    def download(self, file: File, path: str) -> None:
        """Retrieve the file at `file.url` into `path`, streamed."""
        with self._session(file, "in") as (ftp, remote):
            retrieve(ftp, remote, path, self.timeout)

    def upload(self, path: str, file: File) -> None:
        """Store the local file `path` at `file.url`: under a temporary name, renamed once complete."""
        with self._session(file, "out") as (ftp, remote):
            store(ftp, path, remote, self.timeout)

    def version(self, file: File) -> str | None:
        """The file's size and modification time (SIZE, MDTM), when the server answers them."""
        try:
            with self._connect(file) as (ftp, remote):
                return stat(ftp, remote, self.timeout)
        except FTPFailure as exc:
            raise ConnectionError(str(exc)) from exc

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(timeout={self.timeout!r}, netrc_file={self.netrc_file!r}, passive={self.passive!r})"
        )

    def _connect(self, file: File) -> contextlib.AbstractContextManager[tuple[ftplib.FTP, str]]:
        return session(file.url, timeout=self.timeout, netrc_file=self.netrc_file, passive=self.passive)

    @contextlib.contextmanager
    def _session(self, file: File, direction: str) -> Iterator[tuple[ftplib.FTP, str]]:
        """A connection for a transfer `direction` ("in" or "out") of `file`; failures name its URL."""
        try:
            with self._connect(file) as found:
                yield found
        except FTPFailure as exc:
            raise StagingError(file.url, direction, str(exc)) from exc


class FTPSeparateTaskStaging(FTPStaging):
    """Each transfer is a task of its own on the app's executor, in its `working_dir` (which the workers
    that run it and the app must share). Parsl's name; in every executor's default `storage_access`."""

    in_task: ClassVar[bool] = False
    by_default: ClassVar[bool] = True


class FTPInTaskStaging(FTPStaging):
    """Transfers run on the worker, around the app: downloads once per node for a URL at a version (size
    and date), uploads right after the app. Parsl's name."""

    in_task: ClassVar[bool] = True
