"""Every error parlay raises, in one place, grouped by where it comes from."""

from __future__ import annotations

from collections.abc import Sequence

from parlay.parsl_fallback import parsl_attributes


class ParlayError(Exception):
    """Base class of every parlay error."""


def add_note(exc: BaseException, note: str) -> None:
    """Attach a note to an exception (`BaseException.add_note` where Python has it)."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python 3.10
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]


# --- configuration and lifecycle ------------------------------------------------------------------


class ConfigurationError(ParlayError):
    """A `Config` or backend setting is invalid; the message names the field and what is allowed."""


class NoDataFlowKernelError(ParlayError):
    """No DataFlowKernel is loaded (call `parlay.load()` first), or it has been cleaned up."""


# --- plugins --------------------------------------------------------------------------------------


class PluginError(ParlayError):
    """Base class of errors about finding, importing or validating plugins."""


class BackendNotFound(PluginError, LookupError, ImportError):
    """No installed plugin provides the requested backend name. An ImportError, so that
    `from parlay.providers import X` shows this message rather than Python's bare "cannot import name"."""


class PluginConflict(PluginError, LookupError):
    """Two distributions declare the same backend name; the message names both."""


class PluginWarning(UserWarning):
    """An installed plugin is broken or misnamed; the run goes on without it."""


class PluginImportError(PluginError, ImportError):
    """A plugin is installed but failed to import; the original exception is chained."""


class InvalidPlugin(PluginError, TypeError):
    """A plugin imported but does not provide what its entry-point group requires."""


# --- apps -----------------------------------------------------------------------------------------


class AppException(ParlayError):
    """An app failed in a way parlay itself detected."""


class BashExitFailure(AppException):
    """A bash app's command exited with a non-zero code."""

    def __init__(self, app_name: str, exitcode: int):
        self.app_name = app_name
        self.exitcode = exitcode
        super().__init__(app_name, exitcode)

    def __str__(self) -> str:
        return f"bash app {self.app_name} failed with exit code {self.exitcode}"


class AppTimeout(AppException):
    """An app ran longer than its `walltime`."""


class BashAppNoReturn(AppException):
    """A bash app's function returned no command string."""


class MissingOutputs(ParlayError):
    """An app finished without creating some of its declared `outputs`."""

    def __init__(self, reason: str, outputs: Sequence[object]):
        self.reason = reason
        self.outputs = list(outputs)
        super().__init__(reason, self.outputs)

    def __str__(self) -> str:
        return f"{self.reason}: {', '.join(map(str, self.outputs))}"


class BadStdStreamFile(ParlayError):
    """A `stdout`/`stderr` specification is not usable."""


class RemoteTraceback(Exception):
    """Carries, as an exception's `__cause__`, the traceback of an error raised in another process."""

    def __init__(self, tb: str):
        self.tb = tb
        super().__init__(tb)

    def __str__(self) -> str:
        return self.tb


class RemoteException(AppException):
    """Stands in for an exception raised in a worker that could not be sent back as itself."""

    def __init__(self, type_name: str, message: str):
        self.type_name = type_name
        self.message = message
        super().__init__(type_name, message)

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}"


# --- the DataFlowKernel ---------------------------------------------------------------------------


class DataFlowException(ParlayError):
    """Base class of errors raised by the DataFlowKernel."""


class BadCheckpoint(DataFlowException):
    """A checkpoint file could not be read."""


class RunFileWarning(UserWarning):
    """A file of the run (log, checkpoint, job journal) could not be written or was left incomplete; the run
    goes on without it."""


class UnhashableArgument(DataFlowException, ValueError):
    """An argument of a memoized app has a type parlay does not know how to hash."""


class PropagatedException(DataFlowException):
    """A task failed because other tasks it relied on failed; `dependent_exceptions_tids` says which."""

    kind = "Propagated"

    def __init__(self, dependent_exceptions_tids: Sequence[tuple[BaseException, str | None]], task_id: int):
        self.dependent_exceptions_tids = list(dependent_exceptions_tids)
        self.task_id = task_id
        super().__init__(self.dependent_exceptions_tids, task_id)
        self.__cause__ = self._root_cause()

    def _chain(self) -> tuple[list[str], BaseException | None]:
        """Follow the first failed dependency down to the exception that started it all."""
        chain: list[str] = []
        exc: BaseException | None = self
        while isinstance(exc, PropagatedException) and exc.dependent_exceptions_tids:
            exc, tid = exc.dependent_exceptions_tids[0]
            chain.append(tid or repr(exc))
        return chain, exc

    def _root_cause(self) -> BaseException | None:
        return self._chain()[1]

    def __str__(self) -> str:
        chain, root = self._chain()
        others = " (+ others)" if len(self.dependent_exceptions_tids) > 1 else ""
        cause = f"{type(root).__name__}: {root}" if root is not None else "unknown"
        return (
            f"{self.kind} failure for task {self.task_id}. The representative cause is via "
            f"{' <- '.join(chain)}{others}: {cause}"
        )


class DependencyError(PropagatedException):
    """A task was not run because a task it depends on failed or was cancelled."""

    kind = "Dependency"


class JoinError(PropagatedException):
    """A join app's inner tasks failed."""

    kind = "Join"


# --- staging --------------------------------------------------------------------------------------


class StagingError(ParlayError):
    """A file could not be moved: `url` names it, `direction` is `in` or `out`, `reason` says why."""

    def __init__(self, url: str, direction: str, reason: str):
        self.url = url
        self.direction = direction
        self.reason = reason
        super().__init__(url, direction, reason)

    def __str__(self) -> str:
        return f"could not stage {self.direction} {url_for_messages(self.url)}: {self.reason}"


def url_for_messages(url: str) -> str:
    """`scheme://user:***@host/...`: a URL fit for messages and logs."""
    import re  # deferred: only a failed transfer needs it

    return re.sub(r"^([a-zA-Z][\w+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)


# --- executors ------------------------------------------------------------------------------------


class ExecutorError(ParlayError):
    """Base class of executor errors; `executor` is the label of the executor concerned."""

    def __init__(self, executor: object, reason: str):
        self.executor = executor
        self.reason = reason
        super().__init__(executor, reason)

    def __str__(self) -> str:
        return f"executor {self.executor}: {self.reason}"


class BadStateException(ExecutorError):
    """The executor can no longer run tasks (for example its blocks keep failing)."""


class InterchangeLost(ExecutorError):
    """The executor's interchange process died with the tasks it held; the executor starts another, and the
    lost tasks are retried when `retries` allows."""


class InvalidResourceSpecification(ExecutorError):
    """A task's resource specification has keys or values the executor does not accept."""

    def __init__(self, invalid_keys: set[str], message: str, executor: object = None):
        self.invalid_keys = set(invalid_keys)
        super().__init__(executor, message)


class ScalingFailed(ExecutorError):
    """Adding or removing blocks failed."""


class AddressWarning(UserWarning):
    """Workers on other hosts are told only loopback addresses of the submitting host, which they cannot reach."""


class ScalingWarning(UserWarning):
    """The provider refused to start a block; parlay tries again later."""


class WorkerLost(ParlayError):
    """The worker process running a task died before returning a result."""

    def __init__(self, worker_id: object, hostname: str, detail: str = ""):
        self.worker_id = worker_id
        self.hostname = hostname
        self.detail = detail
        super().__init__(worker_id, hostname, detail)

    def __str__(self) -> str:
        extra = f": {self.detail}" if self.detail else ""
        return f"worker {self.worker_id} on {self.hostname} died while running the task{extra}"


class ManagerLost(ParlayError):
    """A node manager stopped answering; its tasks are lost."""

    def __init__(self, manager_id: object, hostname: str, detail: str = ""):
        self.manager_id = manager_id
        self.hostname = hostname
        self.detail = detail
        super().__init__(manager_id, hostname, detail)

    def __str__(self) -> str:
        extra = f": {self.detail}" if self.detail else ""
        return f"manager {self.manager_id} on {self.hostname} was lost{extra}"


class TaskCancelled(ParlayError):
    """A task was dropped by shutdown before it could run."""


# --- providers and launchers ----------------------------------------------------------------------


class ExecutionProviderException(ParlayError):
    """Base class of provider errors."""


class BadJournal(ExecutionProviderException):
    """A run's job journal (`jobs.jsonl`) holds a line that is not a job entry."""


class SubmitException(ExecutionProviderException):
    """A scheduler command or cloud API call refused a block; the message shows the command (or call) and
    what it answered. `permanent` says that trying again cannot help (wrong credentials, an unknown image
    or instance type): the executor then fails its waiting tasks at once instead of backing off."""

    def __init__(self, job_name: str, message: str, stdout: str = "", stderr: str = "", permanent: bool = False):
        self.job_name = job_name
        self.message = message
        self.stdout = stdout
        self.stderr = stderr
        self.permanent = permanent
        super().__init__(job_name, message)

    def __str__(self) -> str:
        text = f"cannot submit job {self.job_name}: {self.message}"
        if self.stderr.strip():
            text += f"\nstderr: {self.stderr.strip()}"
        return text


class BadLauncher(ExecutionProviderException, TypeError):
    """A launcher is misused or misconfigured."""


# --- serialization --------------------------------------------------------------------------------


class SerializationError(ParlayError):
    """An app's function, an argument or a result could not be serialized; the message names which."""


class DeserializationError(ParlayError):
    """Bytes received from another process could not be deserialized."""


__all__ = [name for name, obj in list(globals().items()) if isinstance(obj, type) and issubclass(obj, Exception)]


__getattr__ = parsl_attributes(__name__)  # Parsl's names for this module
