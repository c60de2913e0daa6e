"""Staging that copies files: a plugin says how to download and upload one file (`TransferStaging`); this
module runs that as tasks of their own or inside the task, writes every download under a temporary name
that is renamed once complete, and fetches a URL once per node for in-task staging.

Kept free of heavy imports: workers import it to run transfers.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from parlay.errors import StagingError
from parlay.files import File
from parlay.staging.base import Staging

#: Keyword argument carrying a task's in-task transfers to `StagedRunner` (never reaches the app).
STEPS_KWARG = "_parlay_stage"


class TransferStaging(Staging):
    """Base of staging plugins that copy files. A subclass sets `schemes`, implements `download` (and
    `upload` to stage out; `version` to let the node cache notice a changed file) and picks the mode:

    - `in_task = False`: each transfer is a task of its own on the app's executor; the app waits for its
      stage-ins, and each output's `DataFuture` completes once its upload has. The workers that run the
      transfer and the app must share the folder the file lands in (`working_dir`).
    - `in_task = True`: transfers run on the worker, around the app's function; nothing need be shared.

    """

    in_task: ClassVar[bool] = False

    def download(self, file: File, path: str) -> None:
        """Write the contents of `file` (a URL) to `path`. Raise to report a failure; a partial write is
        removed by the caller."""
        raise NotImplementedError(f"{type(self).__name__} cannot stage in")

    def upload(self, path: str, file: File) -> None:
        """Send the local file `path` to `file`'s URL."""
        raise NotImplementedError(f"{type(self).__name__} cannot stage out")

    def version(self, file: File) -> str | None:
        """What changes when the file at the URL changes (an ETag, size and mtime), or None if unknown:
        with the URL it keys the per-node cache of in-task downloads."""
        return None

    def can_stage_out(self, file: File) -> bool:
        return type(self).upload is not TransferStaging.upload and super().can_stage_out(file)

    # --- the Staging interface, for both modes ------------------------------------------------------

    def stage_in(self, dm: Any, executor: str, file: File, parent_fut: Any) -> Any:
        file.local_path = dm.local_path_for(file, executor)
        if self.in_task:
            return None
        return dm.stage_in_task(executor, self, file, parent_fut)

    def stage_out(self, dm: Any, executor: str, file: File, app_fu: Any) -> Any:
        file.local_path = dm.local_path_for(file, executor)
        if self.in_task:
            return None
        _make_folder(file.local_path)  # the app writes there; a separate-task setup shares it
        return dm.stage_out_task(executor, self, file, app_fu)

    def replace_task(self, dm: Any, executor: str, file: File, func: Any) -> Any:
        return dm.in_task(func, Step(self, file, "in", dm.cache_name)) if self.in_task else None

    def replace_task_stage_out(self, dm: Any, executor: str, file: File, func: Any) -> Any:
        return dm.in_task(func, Step(self, file, "out", dm.cache_name)) if self.in_task else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Step:
    """One in-task transfer: `staging` moves `file` `direction` ("in" or "out") on the worker."""

    __slots__ = ("cache_name", "direction", "file", "staging")

    def __init__(self, staging: TransferStaging, file: File, direction: str, cache_name: str):
        self.staging = staging
        self.file = file
        self.direction = direction
        self.cache_name = cache_name

    def run(self) -> None:
        if self.direction == "in":
            fetch_through_cache(self.staging, self.file, node_cache(self.cache_name))
        else:
            send(self.staging, self.file)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Step, (self.staging, self.file, self.direction, self.cache_name))


class StagedRunner:
    """A task function with in-task transfers around it: its own `steps`, and those a task passes as the
    keyword argument `STEPS_KWARG`, so that one `StagedRunner` can serve every task of an app and executors
    that send a function once still do."""

    __slots__ = ("__weakref__", "name", "runner", "steps")

    def __init__(self, runner: Any, steps: Sequence[Step] = ()):
        self.runner = runner
        self.steps = tuple(steps)
        self.name = getattr(runner, "name", getattr(runner, "__name__", repr(runner)))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        steps = (*self.steps, *kwargs.pop(STEPS_KWARG, ()))
        for step in steps:
            if step.direction == "in":
                step.run()
            else:
                _make_folder(step.file.filepath)  # where the app will write it
        result = self.runner(*args, **kwargs)
        for step in steps:
            if step.direction == "out":
                step.run()
        return result

    def __reduce__(self) -> tuple[Any, ...]:
        return (StagedRunner, (self.runner, self.steps))


# --- transfers, where the task runs ---------------------------------------------------------------


def stage_in(staging: TransferStaging, file: File, parent: Any = None, outputs: Sequence[File] = ()) -> None:
    """The separate stage-in task: download `file` to its `local_path`."""
    fetch(staging, file, file.filepath)


def stage_out(staging: TransferStaging, file: File, app_result: Any = None) -> None:
    """The separate stage-out task (it waits for the app): upload `file` from its `local_path`."""
    send(staging, file)


def fetch(staging: TransferStaging, file: File, path: str) -> None:
    """Download `file` to `path` under a temporary name in the same folder, renamed once complete; a
    failure leaves nothing at `path` and raises `StagingError` naming the URL."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with _temporary(folder, os.path.basename(path)) as temp:
        try:
            staging.download(file, temp)
        except StagingError:
            raise
        except Exception as exc:
            raise StagingError(file.url, "in", _reason(exc)) from exc
        os.replace(temp, path)


def send(staging: TransferStaging, file: File) -> None:
    """Upload `file` from its local path; `StagingError` names the URL."""
    path = file.filepath
    if not os.path.exists(path):
        raise StagingError(file.url, "out", f"the app did not write {path}")
    try:
        staging.upload(path, file)
    except StagingError:
        raise
    except Exception as exc:
        raise StagingError(file.url, "out", _reason(exc)) from exc


def node_cache(cache_name: str) -> str:
    """This node's cache folder of a run's in-task downloads (`PARLAY_STAGING_CACHE` or the temp folder)."""
    return os.path.join(os.environ.get("PARLAY_STAGING_CACHE") or tempfile.gettempdir(), cache_name)


def fetch_through_cache(staging: TransferStaging, file: File, cache: str) -> None:
    """Put `file` at its `local_path`, downloading it only if this node's cache lacks this URL at this
    version: concurrent tasks (threads or processes) on one node fetch it once."""
    try:
        version = staging.version(file)
    except StagingError:
        raise
    except Exception as exc:
        raise StagingError(file.url, "in", _reason(exc)) from exc
    key = hashlib.sha256(f"{file.url}\0{version}".encode()).hexdigest()[:24]
    cached = os.path.join(cache, f"{key}-{file.filename or 'file'}")
    if not os.path.exists(cached):
        os.makedirs(cache, exist_ok=True)
        with locked(cached + ".lock"):
            if not os.path.exists(cached):
                fetch(staging, file, cached)
                os.chmod(cached, 0o444)  # shared by every task of the node: read-only
    place(cached, file.filepath)


def place(source: str, path: str) -> None:
    """Make `path` a copy of `source` atomically: a hard link where the filesystem allows, else a copy."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with contextlib.suppress(OSError):
        if os.path.samefile(source, path):
            return
    with _temporary(folder, os.path.basename(path)) as temp:
        os.unlink(temp)
        try:
            os.link(source, temp)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copyfile(source, temp)
        os.replace(temp, path)


def _make_folder(path: str) -> None:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)


@contextlib.contextmanager
def _temporary(folder: str, name: str) -> Iterator[str]:
    """A fresh file name in `folder`, removed on the way out unless it was renamed."""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    os.close(fd)
    try:
        yield temp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """An exclusive lock on the file `path` (made if missing) between threads and processes of a node:
    each `open` is a lock of its own for `flock`."""
    import fcntl  # deferred: POSIX only, and only some transfers need it

    with open(path, "a") as stream:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX)
        yield


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
