"""The executor interface: what the DataFlowKernel asks of every executor plugin.

Public methods are template methods that own the state checks and error wrapping; a plugin implements
the underscored hooks (`_start`, `_submit`, `_shutdown`) and declares its options with `parlay.options`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar

from parlay.errors import ExecutorError, InvalidResourceSpecification, add_note
from parlay.options import REQUIRED, Check, declare, option, optional, state, text
from parlay.parsl_fallback import parsl_attributes

if TYPE_CHECKING:
    from parlay.plugins.manager import Hooks
    from parlay.staging.base import Staging


def _is_staging_list(value: object) -> bool:
    from parlay.staging.base import Staging

    return value is None or (isinstance(value, (list, tuple)) and all(isinstance(s, Staging) for s in value))


staging_list = Check(_is_staging_list, "None or a list of staging providers (parlay.staging.Staging instances)")


@declare
class ParlayExecutor(ABC):
    """An executor runs task callables and returns a `concurrent.futures.Future` per task.

    The DataFlowKernel sets `run_dir`, `run_id` and `hooks` before it calls `start()`. A plugin declares its
    options (`parlay.options`) after `label`. Each assignment to an executor's attribute runs attrs' checks:
    what changes with every task lives in objects the executor holds (queues, dicts, slotted records), not in
    attributes reassigned per task.
    """

    #: Capability flags, negotiated instead of growing the abstract interface.
    #: `in_process`: tasks run in this interpreter (no serialization, exceptions keep their traceback).
    #: `cancels_queued`: a task's future can be cancelled until a worker picks it up.
    in_process: ClassVar[bool] = False
    cancels_queued: ClassVar[bool] = False
    #: Keys of `resource_specification` this executor understands; anything else is rejected.
    resource_keys: ClassVar[frozenset[str]] = frozenset()

    label: str = option(
        REQUIRED, "the executor's name, by which apps choose it (`python_app(executors=[...])`)", text, positional=True
    )

    storage_access: list[Staging] | None = option(
        None,
        "staging providers for the Files of its tasks, the first that handles a File moving it (None: plain files "
        "and every installed staging plugin that needs no configuration)",
        staging_list,
    )
    working_dir: str | None = option(
        None, "the folder staged files land in where tasks run (None: the task's working folder)", optional(text)
    )

    run_dir: str = state(".")
    run_id: str = state("")
    hooks: Hooks | None = state()  # the run's hooks
    _state: str = state("new")
    _state_lock: threading.Lock = state(factory=threading.Lock)

    # --- template methods -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the executor; an error names the backend."""
        with self._state_lock:
            if self._state != "new":
                raise ExecutorError(self.label, f"cannot start an executor that is {self._state}")
            self._state = "starting"
        try:
            self._start()
        except Exception as exc:
            self._state = "failed"
            add_note(exc, f"while starting executor {self.label!r} ({type(self).__name__})")
            raise
        self._state = "running"

    def submit(
        self, func: Callable[..., Any], resource_specification: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Future:
        """Run `func(*args, **kwargs)`; return a future of its result."""
        if self._state != "running":
            raise ExecutorError(self.label, f"cannot submit to an executor that is {self._state}")
        if resource_specification:
            self.validate_resource_specification(resource_specification)
        return self._submit(func, resource_specification, args, kwargs)

    def shutdown(self) -> None:
        """Stop the executor: tasks not yet started are cancelled. Calling it again does nothing."""
        with self._state_lock:
            if self._state in ("stopped", "new"):
                self._state = "stopped"
                return
            self._state = "stopped"
        self._shutdown()

    def validate_resource_specification(self, spec: dict[str, Any]) -> None:
        """Reject keys this executor does not understand, naming them and the accepted ones."""
        unknown = set(spec) - self.resource_keys
        if unknown:
            accepted = ", ".join(sorted(self.resource_keys)) or "none"
            raise InvalidResourceSpecification(
                unknown,
                f"resource specification keys {sorted(unknown)} are not supported (accepted: {accepted})",
                self.label,
            )

    @property
    def running(self) -> bool:
        return self._state == "running"

    # --- what a plugin implements -----------------------------------------------------------------

    @abstractmethod
    def _start(self) -> None: ...

    @abstractmethod
    def _submit(
        self,
        func: Callable[..., Any],
        resource_specification: dict[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Future: ...

    @abstractmethod
    def _shutdown(self) -> None: ...


__getattr__ = parsl_attributes(__name__)  # Parsl's names for this module
