"""The app decorators: `python_app`, `bash_app` and `join_app`.

Calling an app returns an `AppFuture` at once; the DataFlowKernel runs the task when its dependencies are done.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from parlay.dataflow import current
from parlay.errors import ConfigurationError
from parlay.execution import BashRunner, PythonRunner, reserved_parameters

if TYPE_CHECKING:
    from parlay.dataflow.kernel import DataFlowKernel
    from parlay.futures import AppFuture

#: Passed as `stdout=` or `stderr=`: parlay picks a file under the run directory's `task_logs/`.
AUTO_LOGNAME = -1


class AppBase:
    """A decorated function. `kind` is `python`, `bash` or `join`."""

    kind: ClassVar[str]
    runner_type: ClassVar[type] = PythonRunner

    def __init__(
        self,
        func: Callable[..., Any],
        data_flow_kernel: DataFlowKernel | None = None,
        executors: str | Sequence[str] = "all",
        cache: bool = False,
        ignore_for_cache: Sequence[str] | None = None,
    ):
        if not callable(func):
            raise TypeError(f"an app decorates a function, not {type(func).__name__}")
        if executors != "all" and (isinstance(executors, str) or not all(isinstance(e, str) for e in executors)):
            raise ConfigurationError(
                f"executors={executors!r} for app {func.__name__}: expected 'all' or a list of executor labels"
            )
        functools.update_wrapper(self, func)
        self.func = func
        self.data_flow_kernel = data_flow_kernel
        self.executors = executors if executors == "all" else list(executors)
        self.cache = cache
        self.ignore_for_cache = frozenset(ignore_for_cache or ())
        self.runner = self.runner_type(func)
        self.defaults = reserved_parameters(func)[1]

    def __call__(self, *args: Any, **kwargs: Any) -> AppFuture:
        if self.defaults:
            kwargs = {**self.defaults, **kwargs}
        return (self.data_flow_kernel or current.dfk()).submit(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<{self.kind}_app {self.__module__}.{self.__qualname__}>"


class PythonApp(AppBase):
    kind = "python"


class BashApp(AppBase):
    kind = "bash"
    runner_type = BashRunner


class JoinApp(AppBase):
    """Runs on the submit side and returns a future (or a list of futures) whose results become its own."""

    kind = "join"


def _app_decorator(app_type: type[AppBase], name: str, doc: str) -> Callable[..., Any]:
    def decorator(
        function: Callable[..., Any] | None = None,
        data_flow_kernel: DataFlowKernel | None = None,
        cache: bool = False,
        executors: str | Sequence[str] = "all",
        ignore_for_cache: Sequence[str] | None = None,
    ) -> Any:
        options = {
            "data_flow_kernel": data_flow_kernel,
            "cache": cache,
            "executors": executors,
            "ignore_for_cache": ignore_for_cache,
        }
        if function is not None:
            return app_type(function, **options)
        return lambda f: app_type(f, **options)

    decorator.__name__ = decorator.__qualname__ = name
    decorator.__doc__ = doc
    return decorator


python_app = _app_decorator(
    PythonApp, "python_app", "Make a function a Python app; use as `@python_app` or `@python_app(cache=True, ...)`."
)
bash_app = _app_decorator(
    BashApp, "bash_app", "Make a function that returns a command line a bash app; the command runs with bash."
)


def join_app(
    function: Callable[..., Any] | None = None,
    data_flow_kernel: DataFlowKernel | None = None,
    cache: bool = False,
    ignore_for_cache: Sequence[str] | None = None,
) -> Any:
    """Make a function that launches other apps a join app; it resolves to their results.

    Join apps run in the submitting process, on parlay's internal thread pool.
    """
    return _join_decorator(function, data_flow_kernel=data_flow_kernel, cache=cache, ignore_for_cache=ignore_for_cache)


_join_decorator = _app_decorator(JoinApp, "join_app", "")
