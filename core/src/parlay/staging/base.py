"""The staging interface: moving an app's input and output `File`s between where they live and where
the task runs. Staging happens either as separate tasks (`stage_in`/`stage_out` return futures) or
inside the task itself (`replace_task` wraps the task's function)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ClassVar

from parlay.files import File


class Staging:
    """Handles the URL schemes in `schemes`. Every method has a do-nothing default; a plugin overrides
    what its transfer mode needs."""

    schemes: ClassVar[tuple[str, ...]] = ()
    #: Whether an instance belongs in every executor's `storage_access` when the executor names none: only
    #: for providers that need no configuration.
    by_default: ClassVar[bool] = False

    def can_stage_in(self, file: File) -> bool:
        return file.scheme in self.schemes

    def can_stage_out(self, file: File) -> bool:
        return file.scheme in self.schemes

    def stage_in(self, dm: Any, executor: str, file: File, parent_fut: Future | None) -> Future | None:
        """Start bringing `file` here; a future the task waits for, or None if nothing to wait for."""
        return None

    def stage_out(self, dm: Any, executor: str, file: File, app_fu: Future) -> Future | None:
        """Start sending `file` away once `app_fu` is done; a future for that, or None."""
        return None

    def replace_task(self, dm: Any, executor: str, file: File, func: Callable[..., Any]) -> Callable[..., Any] | None:
        """A function that stages `file` in on the worker and then calls `func`; None to leave `func`."""
        return None

    def replace_task_stage_out(
        self, dm: Any, executor: str, file: File, func: Callable[..., Any]
    ) -> Callable[..., Any] | None:
        """A function that calls `func` and then stages `file` out on the worker; None to leave `func`."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
