"""FTP with ftplib: the login a URL calls for (its own credentials, a netrc file's, or anonymous), and the
steps of a transfer, each failure told as the step and the server's reply."""

from __future__ import annotations

import contextlib
import ftplib
import netrc
import os
import posixpath
import secrets
from collections.abc import Iterator
from urllib.parse import SplitResult, unquote, urlsplit

#: Bytes sent or received at a time.
CHUNK = 1 << 20


class FTPFailure(Exception):
    """A step of a transfer failed; the message names the step and quotes the server's reply."""


@contextlib.contextmanager
def step(what: str, timeout: float) -> Iterator[None]:
    """Turn what ftplib and the network raise within into an `FTPFailure` saying `what` failed, and why."""
    try:
        yield
    except FTPFailure:
        raise
    except ftplib.Error as exc:
        reply = " ".join(str(exc).split())  # the server's reply, such as "550 No such file or directory."
        raise FTPFailure(f"{what}: {reply}") from exc
    except TimeoutError as exc:
        raise FTPFailure(f"{what}: timed out after {timeout:g} s (the timeout option)") from exc
    except EOFError as exc:
        raise FTPFailure(f"{what}: the server closed the connection") from exc
    except OSError as exc:
        raise FTPFailure(f"{what}: {exc.strerror or exc}") from exc


def credentials(parts: SplitResult, netrc_file: str | None) -> tuple[str, str]:
    """(user, password) for the URL `parts`: its own (percent-decoded), else the netrc entry of its host (for
    its user, if it names one), else anonymous."""
    user = unquote(parts.username) if parts.username is not None else None
    if parts.password is not None:
        return user or "anonymous", unquote(parts.password)
    entry = _netrc_entry(parts.hostname or "", netrc_file)
    if entry is not None and entry[0] and (user is None or entry[0] == user):
        return entry[0], entry[2] or ""
    if user is None or user == "anonymous":
        return "anonymous", "anonymous@"
    return user, ""


def _netrc_entry(host: str, netrc_file: str | None) -> tuple[str, str | None, str | None] | None:
    """The (login, account, password) for `host` in `netrc_file`, or in ~/.netrc when None and it exists."""
    default = os.path.join(os.path.expanduser("~"), ".netrc")
    path = os.path.expanduser(netrc_file) if netrc_file is not None else default
    if netrc_file is None and not os.path.isfile(path):
        return None
    try:
        # the default file is read as ftp and curl read it: refused when others may read its passwords
        entries = netrc.netrc(None if netrc_file is None else path)
    except FileNotFoundError as exc:
        raise FTPFailure(f"netrc_file={netrc_file!r}: no such file") from exc
    except (OSError, netrc.NetrcParseError) as exc:
        raise FTPFailure(f"cannot read the netrc file {path}: {exc}") from exc
    return entries.authenticators(host)


@contextlib.contextmanager
def session(url: str, *, timeout: float, netrc_file: str | None, passive: bool) -> Iterator[tuple[ftplib.FTP, str]]:
    """A logged-in connection to the server of `url`, and the path of the URL's file on it: relative to the
    login folder (`ftp://host/dir/file`), or absolute (`ftp://host//srv/file`)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise FTPFailure("the URL names no host")
    try:
        port = parts.port or 21
    except ValueError:
        raise FTPFailure("the URL's port is not a number from 1 to 65535") from None
    remote = unquote(parts.path[1:])
    if not remote or remote.endswith("/"):
        raise FTPFailure("the URL names a folder, not a file")
    user, password = credentials(parts, netrc_file)
    server = f"{parts.hostname}:{port}"
    ftp = ftplib.FTP(timeout=timeout)
    try:
        with step(f"connecting to {server}", timeout):
            ftp.connect(parts.hostname, port)
        with step(f"logging in to {server} as {user}", timeout):
            ftp.login(user, password)
        ftp.set_pasv(passive)
        yield ftp, remote
        with contextlib.suppress(*ftplib.all_errors):
            ftp.quit()
    finally:
        ftp.close()


def retrieve(ftp: ftplib.FTP, remote: str, path: str, timeout: float) -> None:
    """Stream the server's file `remote` into the local file `path`."""
    with open(path, "wb") as target, step(f"RETR {remote}", timeout):
        ftp.retrbinary(f"RETR {remote}", target.write, blocksize=CHUNK)


def store(ftp: ftplib.FTP, path: str, remote: str, timeout: float) -> None:
    """Send the local file `path` to `remote`, under a temporary name in the same folder renamed once
    complete, so that no reader sees part of it; missing folders are made."""
    folder, name = posixpath.split(remote)
    if folder:
        make_folders(ftp, folder, timeout)
    temp = posixpath.join(folder, f".{name}.{secrets.token_hex(4)}.part")
    try:
        with open(path, "rb") as source, step(f"STOR {temp}", timeout):
            ftp.storbinary(f"STOR {temp}", source, blocksize=CHUNK)
        with step(f"renaming {temp} to {name}", timeout):
            try:
                ftp.rename(temp, remote)
            except ftplib.error_perm:  # some servers will not replace a file: remove the old one first
                with contextlib.suppress(ftplib.error_perm):
                    ftp.delete(remote)
                ftp.rename(temp, remote)
    except FTPFailure:
        with contextlib.suppress(*ftplib.all_errors):
            ftp.delete(temp)
        raise


def make_folders(ftp: ftplib.FTP, folder: str, timeout: float) -> None:
    """Make `folder` and its missing parents on the server."""
    with step("PWD", timeout):
        home = ftp.pwd()
        if _is_folder(ftp, folder, home):
            return
    prefix = "/" if folder.startswith("/") else ""
    for part in filter(None, folder.split("/")):
        prefix += part
        with step(f"MKD {prefix}", timeout):
            try:
                ftp.mkd(prefix)
            except ftplib.error_perm:
                if not _is_folder(ftp, prefix, home):
                    raise
        prefix += "/"


def _is_folder(ftp: ftplib.FTP, path: str, home: str) -> bool:
    try:
        ftp.cwd(path)
    except ftplib.error_perm:
        return False
    ftp.cwd(home)
    return True


def stat(ftp: ftplib.FTP, remote: str, timeout: float) -> str | None:
    """The size and modification time of `remote` (SIZE, MDTM), as far as the server tells them, or None."""
    with step("TYPE I", timeout):
        ftp.voidcmd("TYPE I")  # SIZE counts bytes in binary mode (and some servers refuse it in ASCII mode)
    with step(f"SIZE and MDTM {remote}", timeout):
        size, modified = _ask(ftp, f"SIZE {remote}"), _ask(ftp, f"MDTM {remote}")
    return None if size is None and modified is None else f"size {size} modified {modified}"


def _ask(ftp: ftplib.FTP, command: str) -> str | None:
    """The value a 2xx reply to `command` gives, or None for any other reply (the server lacks the command,
    refuses it, or cannot answer now): the download then says what is wrong."""
    try:
        return ftp.sendcmd(command)[4:].strip()
    except (ftplib.error_perm, ftplib.error_temp, ftplib.error_reply):
        return None
