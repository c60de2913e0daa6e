"""`RSyncStaging`: plain-path Files copied with rsync on the worker, in the task: the inputs before the app,
the outputs after it (Parsl's `RSyncStaging`)."""

from __future__ import annotations

import os
import posixpath
import re
import stat
from typing import Any, ClassVar
from urllib.parse import urlparse

from parlay.errors import ConfigurationError
from parlay.files import File
from parlay.options import REQUIRED, Check, amount, declare, invalid, one_line, option, optional
from parlay.staging.transfer import Step, TransferStaging
from parlay_staging_rsync.command import RsyncError, run

#: `host` or `user@host` (an IPv6 address in brackets), as rsync's remote-shell syntax takes it.
_SHELL_HOST = re.compile(r"(?:[^\s@/:]+@)?(?:\[[0-9A-Fa-f:.%\w]+\]|[^\s@/:\[\]]+)")


def _is_daemon_url(value: str) -> bool:
    parsed = urlparse(value)
    module = parsed.path.strip("/").split("/")[0]
    return parsed.scheme == "rsync" and bool(parsed.hostname) and bool(module) and not any(c.isspace() for c in value)


def _is_hostname(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    return _is_daemon_url(value) if value.startswith("rsync:") else bool(_SHELL_HOST.fullmatch(value))


hostname_check = Check(
    _is_hostname, "None (a local copy), 'host', 'user@host' or 'rsync://host[:port]/module[/folder]'"
)
strings = Check(
    lambda v: isinstance(v, (list, tuple)) and all(isinstance(a, str) and a for a in v), "a list of strings"
)
a_path = Check(lambda v: isinstance(v, str) and bool(v.strip()), "a path")
absolute = Check(lambda v: v is None or (isinstance(v, str) and os.path.isabs(v)), "an absolute path, or None")


@declare
class RSyncStaging(TransferStaging):
    """Copies plain-path Files (`File("data/in.txt")`, `File("file:///data/in.txt")`) with rsync, on the
    worker, around the app: each input from `hostname` to the executor's `working_dir` before the app runs,
    each output back after it. A File names its place on `hostname` by its absolute path, made absolute where
    the workflow runs; with an rsync daemon (`rsync://host/module`), by its path within the module (see
    `module_path`). List it before the plain-file staging in `storage_access`: it takes every plain path.
    """

    schemes: ClassVar[tuple[str, ...]] = ("file",)
    in_task: ClassVar[bool] = True

    hostname: str | None = option(
        REQUIRED,
        "where the Files are: 'host' or 'user@host' (over the remote shell, `rsh`), 'rsync://host[:port]/module' "
        "(an rsync daemon), or None (a folder the workers see: a local copy)",
        hostname_check,
        positional=True,
    )
    rsh: str | None = option(
        None,
        "the remote shell for 'host' and 'user@host' (rsync's `--rsh`), such as 'ssh -o BatchMode=yes -i KEY'; "
        "None: rsync's default (`RSYNC_RSH`, else ssh)",
        optional(one_line),
    )
    module_path: str | None = option(
        None,
        "with an rsync:// hostname: the folder the module serves (its `path` in rsyncd.conf) as the submitting "
        "side sees it; a File under it is at the same relative path in the module. None: a File's path is its "
        "path within the module (a leading '/' ignored)",
        absolute,
    )
    password_file: str | None = option(
        None,
        "with an rsync:// hostname: the file holding the daemon user's password (rsync's `--password-file`; "
        "its user is the one in the hostname, 'rsync://user@host/module'); None: `RSYNC_PASSWORD`, or none",
        optional(a_path),
    )
    timeout: float | None = option(
        3600, "seconds one rsync run may take before it is stopped and the transfer fails; None: no limit",
        optional(amount("seconds")),
    )  # fmt: skip
    extra_args: list[str] | tuple[str, ...] = option(
        (), "more rsync arguments for every run, such as ['--compress', '--mkpath']", strings
    )
    command: str = option("rsync", "the rsync program on the workers (a name on PATH, or a path)", a_path)

    def __attrs_post_init__(self) -> None:
        daemon = self.hostname is not None and self.hostname.startswith("rsync:")
        if self.module_path is not None and not daemon:
            raise invalid(self, "module_path", self.module_path, "only for an rsync:// hostname (a daemon's module)")
        if self.password_file is not None and not daemon:
            raise invalid(self, "password_file", self.password_file, "only for an rsync:// hostname (a daemon)")
        if self.rsh is not None and self.hostname is None:
            raise invalid(self, "rsh", self.rsh, "only with a hostname: a local copy uses no remote shell")

    # --- where the Files are ----------------------------------------------------------------------

    @property
    def daemon(self) -> bool:
        """Whether `hostname` is an rsync daemon's module."""
        return self.hostname is not None and self.hostname.startswith("rsync:")

    def located(self, file: File) -> File:
        """`file` as the worker transfers it: its path made absolute here (as written, within the module, for a
        daemon without `module_path`), keeping its `local_path`. Raises `ConfigurationError` for a path the
        daemon's module cannot serve."""
        path = file.path
        if not (self.daemon and self.module_path is None):
            path = os.path.abspath(path)
        self.remote(path)  # refuse it here, at submission, rather than on the worker
        located = File(path)
        located.local_path = file.local_path
        return located

    def remote(self, path: str) -> str:
        """rsync's name for the File at `path` (absolute, or as written for a daemon without `module_path`)."""
        if self.hostname is None:
            return path
        if not self.daemon:
            return f"{self.hostname}:{path}"
        if self.module_path is None:
            inner = posixpath.normpath(path).lstrip("/")
        else:
            inner = os.path.relpath(path, self.module_path)
        if inner in ("", ".") or inner == ".." or inner.startswith("../"):
            where = "under it" if self.module_path else "within the module"
            raise ConfigurationError(
                f"{type(self).__name__}: {path} is not a file {where}: the daemon at {self.hostname} cannot serve it "
                f"(module_path={self.module_path!r})"
            )
        return f"{self.hostname.rstrip('/')}/{inner}"

    # --- TransferStaging ----------------------------------------------------------------------------

    def replace_task(self, dm: Any, executor: str, file: File, func: Any) -> Any:
        return dm.in_task(func, Step(self, self.located(file), "in", dm.cache_name))

    def replace_task_stage_out(self, dm: Any, executor: str, file: File, func: Any) -> Any:
        return dm.in_task(func, Step(self, self.located(file), "out", dm.cache_name))

    def download(self, file: File, path: str) -> None:
        """rsync the File to `path` (a temporary name: written in place, renamed by the caller)."""
        args = [*self._rsync(), "--inplace", "--", self.remote(file.path), path]
        _copied(args, run(args, self.timeout))

    def upload(self, path: str, file: File) -> None:
        """rsync the local file `path` to the File's place; rsync writes a temporary name there and renames
        it, so that readers never see a partial file."""
        args = [*self._rsync(), "--", os.path.abspath(path), self.remote(file.path)]
        _copied(args, run(args, self.timeout))

    def version(self, file: File) -> str | None:
        """Size and modification time: from the file system for a local copy, else rsync's listing."""
        if self.hostname is None:
            try:
                info = os.stat(file.path)
            except OSError:
                return None  # the download says what is wrong, in rsync's words
            if stat.S_ISDIR(info.st_mode):
                raise RsyncError(f"{file.path} is a folder: RSyncStaging stages files")
            return f"{info.st_size} {info.st_mtime_ns}"
        source = self.remote(file.path)
        listing = run([*self._rsync(), "--list-only", "--", source], self.timeout).strip().splitlines()
        if not listing:
            raise RsyncError(f"rsync listed nothing at {source}")
        fields = listing[0].split()
        if fields[0].startswith("d"):
            raise RsyncError(f"{source} is a folder: RSyncStaging stages files")
        return " ".join(fields[:4])  # mode, size, date, time

    def _rsync(self) -> list[str]:
        """The program and the options of every run."""
        args = [self.command, "--copy-links", "--ignore-times"]  # a link's target; never skip a file as unchanged
        if self.rsh is not None:
            args.append(f"--rsh={self.rsh}")
        if self.password_file is not None:
            args.append(f"--password-file={self.password_file}")
        return [*args, *self.extra_args]


def _copied(args: list[str], output: str) -> None:
    """rsync says "skipping ..." and succeeds when the source is a folder or not a regular file."""
    skipped = [line for line in output.splitlines() if line.startswith("skipping ")]
    if skipped:
        raise RsyncError(f"{args[0]} copied nothing: {skipped[0]} (RSyncStaging stages files)")
