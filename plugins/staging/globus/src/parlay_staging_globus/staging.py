"""`GlobusStaging`: `globus://ENDPOINT/path` Files moved by Globus Transfer tasks between their endpoint and the
endpoint where an executor's workers see files (Parsl's `GlobusStaging`): a stage-in before the app, a
stage-out after it, each a task of its own run where the workflow runs, which submits the Transfer task and
waits for it."""

from __future__ import annotations

import os
import posixpath
import threading
import uuid
import weakref
from typing import Any, ClassVar

import attrs

from parlay.errors import ConfigurationError, StagingError
from parlay.files import File
from parlay.futures import DataFuture
from parlay.options import HELP, REQUIRED, Check, amount, declare, invalid, option, optional, state
from parlay.staging.base import Staging
from parlay_staging_globus.transfer import Location, transfer

#: The environment variable holding a Transfer access token, when neither `transfer_token` nor `authorizer` is given.
TOKEN_VARIABLE = "PARLAY_GLOBUS_TRANSFER_TOKEN"


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


@attrs.frozen
class Hidden:
    """A check whose error does not show the value."""

    check: Check

    def __call__(self, instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not self.check.test(value):
            raise invalid(instance, attribute.name, "...", f"expected {self.check.expected}")


def secret(help: str, check: Check) -> Any:
    """An option kept out of the repr (and so out of logs) and out of its own error messages."""
    return attrs.field(default=None, validator=Hidden(check), kw_only=True, repr=False, metadata={HELP: help})


endpoint_id = Check(_is_uuid, "a Globus endpoint (collection) UUID")
folder = Check(lambda v: isinstance(v, str) and bool(v.strip()), "a path")
absolute = Check(lambda v: isinstance(v, str) and os.path.isabs(v), "an absolute path")
token = Check(lambda v: isinstance(v, str) and bool(v.strip()) and not any(c.isspace() for c in v), "a token")
authorizer_like = Check(lambda v: callable(getattr(v, "get_authorization_header", None)), "a globus_sdk authorizer")


@declare
class GlobusStaging(Staging):
    """Moves `globus://ENDPOINT_UUID/path` Files with Globus Transfer. In an executor's `storage_access`, it
    names the Globus endpoint (collection) `endpoint_uuid` on which that executor's workers see its
    `working_dir`, and how paths map between the two (`local_path` on the workers is `endpoint_path` on the
    endpoint; without them, a path is the same on both). An input is transferred from its endpoint to
    `working_dir` before the app runs; an output from `working_dir` to its URL after the app.

    Each transfer is a task of its own on the workflow's side (as in Parsl): it submits a Globus Transfer
    task, polls it until it ends, and fails with its status, `nice_status` and events if it failed or did
    not end within `timeout` seconds (then it is cancelled).
    """

    schemes: ClassVar[tuple[str, ...]] = ("globus",)
    #: Not in an executor's storage_access unless listed: it needs an endpoint and credentials.
    by_default: ClassVar[bool] = False

    endpoint_uuid: str = option(
        REQUIRED,
        "the Globus endpoint (collection) on which the executor's workers see its working_dir",
        endpoint_id,
        positional=True,
    )
    endpoint_path: str | None = option(
        None,
        "the path on the endpoint of `local_path` (give both, or neither: paths are the same on both)",
        optional(folder),
        positional=True,
    )
    local_path: str | None = option(
        None,
        "a folder of the workers, holding the executor's working_dir, that the endpoint shows at `endpoint_path`",
        optional(absolute),
        positional=True,
    )
    transfer_token: str | None = secret(
        f"an access token for the Globus Transfer API; None: the `{TOKEN_VARIABLE}` environment variable, "
        "read when a transfer starts",
        optional(token),
    )
    authorizer: Any = secret(
        "a globus_sdk authorizer (such as a RefreshTokenAuthorizer, or a GlobusApp's `get_authorizer("
        "'transfer.api.globus.org')`), instead of a token",
        optional(authorizer_like),
    )
    timeout: float = option(
        3600,
        "seconds a transfer may take before it is cancelled and fails (also the Globus task's deadline)",
        amount("seconds"),
    )
    polling_interval: float = option(
        10,
        "most seconds between two polls of a transfer's status (the first comes after half a second, "
        "each next wait doubling up to this)",
        amount("seconds"),
    )

    _runs: Any = state(factory=weakref.WeakKeyDictionary)  # DataManager -> _Run
    _lock: threading.Lock = state(factory=threading.Lock)

    def __attrs_post_init__(self) -> None:
        if (self.endpoint_path is None) != (self.local_path is None):
            given = "endpoint_path" if self.local_path is None else "local_path"
            raise invalid(self, given, getattr(self, given), "give endpoint_path and local_path together, or neither")
        if self.transfer_token is not None and self.authorizer is not None:
            raise invalid(self, "authorizer", "...", "give transfer_token or authorizer, not both")

    # --- paths ------------------------------------------------------------------------------------

    def endpoint_path_of(self, path: str) -> str:
        """The path on `endpoint_uuid` of the workers' `path`."""
        if self.local_path is None:
            return path
        normal = os.path.normpath(path)
        inner = os.path.relpath(normal, self.local_path) if os.path.isabs(normal) else ".."
        if inner == ".." or inner.startswith(".." + os.sep):
            raise ConfigurationError(
                f"{type(self).__name__}: {path} is not under local_path={self.local_path!r}: the endpoint "
                f"{self.endpoint_uuid} shows only that folder (make the executor's working_dir a folder in it)"
            )
        return posixpath.join(self.endpoint_path, *inner.split(os.sep)) if inner != "." else self.endpoint_path

    def _where(self, dm: Any, executor: str, file: File) -> str:
        """Set `file.local_path` (the executor's `working_dir`) and return its path on the endpoint."""
        if not getattr(dm.dfk.executors[executor], "working_dir", None):
            raise ConfigurationError(
                f"executor {executor!r} has no working_dir: {type(self).__name__} needs the folder where its "
                f"workers see staged files (on Globus endpoint {self.endpoint_uuid})"
            )
        if self.authorizer is None and self.transfer_token is None and not os.environ.get(TOKEN_VARIABLE):
            raise ConfigurationError(
                f"{type(self).__name__} has no Globus credentials: give transfer_token= or authorizer=, or set "
                f"{TOKEN_VARIABLE}"
            )
        if not _is_uuid(file.netloc):
            raise ConfigurationError(f"{file.url}: expected globus://ENDPOINT_UUID/path, the endpoint as a UUID")
        file.local_path = dm.local_path_for(file, executor)
        return self.endpoint_path_of(file.local_path)

    # --- the Staging interface (separate tasks) ------------------------------------------------------

    def stage_in(self, dm: Any, executor: str, file: File, parent_fut: Any) -> Any:
        """The stage-in task's DataFuture; one transfer per URL and executor in a run (unless it failed)."""
        destination = self._where(dm, executor, file)
        run = self._run(dm)
        if parent_fut is not None:  # made by this run: fetched once its producer is done
            return run.stage_in(self, file, destination, parent_fut)
        key = (executor, file.url)
        with run.lock:
            earlier = run.fetches.get(key)
            if earlier is None or (earlier.done() and earlier.exception() is not None):
                earlier = run.fetches[key] = run.stage_in(self, file, destination, None)
            return earlier

    def stage_out(self, dm: Any, executor: str, file: File, app_fu: Any) -> Any:
        """The stage-out task's future: it runs once the app is done."""
        source = self._where(dm, executor, file)
        return self._run(dm).stage_out(self, file, source, app_fu)

    def replace_task_stage_out(self, dm: Any, executor: str, file: File, func: Any) -> Any:
        """The app makes its output's folder first, on the worker."""
        return WithFolder(func, os.path.dirname(file.local_path)) if os.path.dirname(file.local_path) else None

    def _run(self, dm: Any) -> _Run:
        with self._lock:
            run = self._runs.get(dm)
            if run is None:
                run = self._runs[dm] = _Run(dm.dfk)
            return run

    # --- transfers, run by the staging tasks ---------------------------------------------------------

    def client(self) -> Any:
        """A `globus_sdk.TransferClient` with this provider's credentials; its service URL is the SDK's
        (`GLOBUS_SDK_ENVIRONMENT`, `GLOBUS_SDK_SERVICE_URL_TRANSFER`)."""
        import globus_sdk

        authorizer = self.authorizer
        if authorizer is None:
            access_token = self.transfer_token or os.environ.get(TOKEN_VARIABLE)
            if not access_token:
                raise ConfigurationError(
                    f"no Globus credentials: give transfer_token= or authorizer=, or set {TOKEN_VARIABLE}"
                )
            authorizer = globus_sdk.AccessTokenAuthorizer(access_token)
        return globus_sdk.TransferClient(authorizer=authorizer, app_name="parlay-staging-globus")

    def move(self, url: str, direction: str, source: Location, destination: Location) -> None:
        """Run one transfer; `StagingError` naming `url` if it fails."""
        try:
            client = self.client()
            try:
                transfer(
                    client,
                    source,
                    destination,
                    timeout=self.timeout,
                    polling_interval=self.polling_interval,
                    label=f"parlay stage {direction} {posixpath.basename(source.path)}",
                )
            finally:
                client.close()
        except Exception as exc:
            raise StagingError(url, direction, str(exc) or type(exc).__name__) from exc


class _Run:
    """One run's staging apps, on the kernel's internal executor (threads where the workflow runs), and its
    stage-ins by (executor, URL)."""

    def __init__(self, dfk: Any):
        from parlay.apps import PythonApp
        from parlay.dataflow.kernel import INTERNAL_EXECUTOR

        self.stage_in_app = PythonApp(globus_stage_in, data_flow_kernel=dfk, executors=[INTERNAL_EXECUTOR])
        self.stage_out_app = PythonApp(globus_stage_out, data_flow_kernel=dfk, executors=[INTERNAL_EXECUTOR])
        self.fetches: dict[tuple[str, str], Any] = {}
        self.lock = threading.Lock()

    def stage_in(self, staging: GlobusStaging, file: File, destination: str, parent: Any) -> Any:
        # not `outputs=[file]`: the kernel would stage that File out again after the task
        future = self.stage_in_app(staging, file.url, destination, parent, _parlay_staging_inhibit=True)
        return DataFuture(future, file, tid=future.tid)

    def stage_out(self, staging: GlobusStaging, file: File, source: str, app_fu: Any) -> Any:
        return self.stage_out_app(staging, file.url, source, app_fu, _parlay_staging_inhibit=True)


def globus_stage_in(staging: GlobusStaging, url: str, destination: str, parent: Any = None) -> None:
    """The stage-in task: `url` to `destination` on the executor's endpoint."""
    file = File(url)
    staging.move(url, "in", Location(file.netloc, file.path), Location(staging.endpoint_uuid, destination))


def globus_stage_out(staging: GlobusStaging, url: str, source: str, app_result: Any = None) -> None:
    """The stage-out task (it waits for the app): `source` on the executor's endpoint to `url`."""
    file = File(url)
    staging.move(url, "out", Location(staging.endpoint_uuid, source), Location(file.netloc, file.path))


class WithFolder:
    """An app's function that first makes `folder` (where it writes an output), where the task runs."""

    __slots__ = ("folder", "func", "name")

    def __init__(self, func: Any, folder: str):
        self.func = func
        self.folder = folder
        self.name = getattr(func, "name", getattr(func, "__name__", repr(func)))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        os.makedirs(self.folder, exist_ok=True)
        return self.func(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (WithFolder, (self.func, self.folder))
