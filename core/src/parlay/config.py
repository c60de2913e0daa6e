"""`Config`: where and how a workflow's tasks run. Field names and meanings follow Parsl's."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from parlay.errors import ConfigurationError
from parlay.options import parse_duration

EXIT_MODES = ("cleanup", "skip", "wait")
CHECKPOINT_MODES = (None, "task_exit", "periodic", "dfk_exit", "manual")
STRATEGIES = ("simple", "htex_auto_scale", "none")
DEPENDENCY_RESOLVERS = ("shallow", "deep")
#: `usage_tracking` levels, by the names of Parsl's `usage_tracking.levels`. parlay sends nothing at any level.
DISABLED, LEVEL_1, LEVEL_2, LEVEL_3 = 0, 1, 2, 3
_CHECKPOINT_FIELDS = ("app_cache", "checkpoint_files", "checkpoint_mode", "checkpoint_period")


def _one_of(allowed: Sequence[Any]) -> Callable[[Any, attrs.Attribute, Any], None]:
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in allowed:
            raise ConfigurationError(
                f"Config.{attribute.name}={value!r}: allowed values are {', '.join(map(repr, allowed))}"
            )

    return check


def _non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigurationError(f"Config.{attribute.name}={value!r}: expected a number >= 0")


def _positive_int(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"Config.{attribute.name}={value!r}: expected an integer >= 1")


def _optional_callable(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigurationError(f"Config.{attribute.name}={value!r}: expected a callable or None")


def _executors(instance: Any, attribute: attrs.Attribute, value: list[Any]) -> None:
    from parlay.executors.base import ParlayExecutor

    labels: set[str] = set()
    for executor in value:
        if not isinstance(executor, ParlayExecutor):
            raise ConfigurationError(
                f"Config.executors: {executor!r} is not an executor (a subclass of "
                "parlay.executors.base.ParlayExecutor)"
            )
        if executor.label in labels:
            raise ConfigurationError(f"Config.executors: label {executor.label!r} is used twice; labels must be unique")
        if executor.label.startswith("_parlay"):
            raise ConfigurationError(f"Config.executors: label {executor.label!r} is reserved for parlay")
        labels.add(executor.label)


def _optional_bool(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(
            f"Config.{attribute.name}={value!r}: expected None (automatic: shown when stderr is a terminal or in a "
            "Jupyter notebook), True or False"
        )


def _names(instance: Any, attribute: attrs.Attribute, value: list[Any]) -> None:
    if not all(isinstance(name, str) and name for name in value):
        raise ConfigurationError(f"Config.{attribute.name}={value!r}: expected a list of plugin entry-point names")


def _usage_tracking(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value not in (DISABLED, LEVEL_1, LEVEL_2, LEVEL_3):  # True and False are 1 and 0, as in Parsl
        raise ConfigurationError(
            f"Config.usage_tracking={value!r}: allowed values are 0 to 3 (parlay.usage_tracking.levels.DISABLED, "
            "LEVEL_1, LEVEL_2, LEVEL_3); parlay sends no usage data at any level"
        )


def _memoizer(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    from parlay.dataflow.memoization import BasicMemoizer

    if value is not None and not isinstance(value, BasicMemoizer):
        raise ConfigurationError(
            f"Config.memoizer={value!r}: expected a parlay.dataflow.memoization.BasicMemoizer or None"
        )


def _checkpoint_period(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    parse_duration(value, f"Config.{attribute.name}")


def _checkpoint_files(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (isinstance(value, str) or not all(isinstance(p, str) for p in value)):
        raise ConfigurationError(f"Config.checkpoint_files={value!r}: expected a list of checkpoint directories")


@attrs.define(kw_only=True)
class Config:
    """Everything a run needs to know: executors, retries, memoization and checkpoints, exit behaviour.

    Validated on creation and on assignment; a bad value raises `ConfigurationError` naming the field.
    """

    executors: list[Any] = attrs.field(factory=list, converter=list, validator=_executors)
    app_cache: bool = True
    checkpoint_files: Sequence[str] | None = attrs.field(default=None, validator=_checkpoint_files)
    checkpoint_mode: str | None = attrs.field(default=None, validator=_one_of(CHECKPOINT_MODES))
    checkpoint_period: str | float | None = attrs.field(default=None, validator=_checkpoint_period)
    dependency_resolver: str = attrs.field(default="shallow", validator=_one_of(DEPENDENCY_RESOLVERS))
    exit_mode: str = attrs.field(default="cleanup", validator=_one_of(EXIT_MODES))
    garbage_collect: bool = True
    internal_tasks_max_threads: int = attrs.field(default=10, validator=_positive_int)
    retries: int = attrs.field(default=0, validator=_non_negative)
    retry_handler: Callable[[BaseException, Any], float] | None = attrs.field(
        default=None, validator=_optional_callable
    )
    run_dir: str = "runinfo"
    std_autopath: Callable[[Any, str], str] | None = attrs.field(default=None, validator=_optional_callable)
    strategy: str = attrs.field(default="simple", validator=_one_of(STRATEGIES))
    strategy_period: float = attrs.field(default=5.0, validator=_non_negative)
    max_idletime: float = attrs.field(default=120.0, validator=_non_negative)
    initialize_logging: bool = True
    #: The progress display (`parlay.progress`): None shows it when stderr is a terminal or in a Jupyter notebook
    #: (the environment variable `PARLAY_PROGRESS=0` or `1` decides instead); True or False always or never.
    progress: bool | None = attrs.field(default=None, validator=_optional_bool)
    #: Accepted for Parsl's configs: parlay sends no usage data anywhere, whatever the level.
    usage_tracking: int = attrs.field(default=DISABLED, validator=_usage_tracking)
    #: Accepted for Parsl's configs (it names the project in Parsl's usage data); unused.
    project_name: str | None = None
    #: Parsl's `BasicMemoizer(...)`: sets `app_cache` and the checkpoint fields from its own.
    memoizer: Any = attrs.field(default=None, validator=_memoizer)
    #: Hook implementations (objects or modules) registered for this run only.
    plugins: list[Any] = attrs.field(factory=list, converter=list)
    #: A monitoring hub (`parlay.monitoring.MonitoringHub(...)`, as in Parsl): registered for this run like
    #: `plugins`.
    monitoring: Any = None
    #: Entry-point names of installed `parlay.hooks` plugins this run goes without (`"all"` for every one).
    disable_plugins: list[str] = attrs.field(factory=list, converter=list, validator=_names)

    def __attrs_post_init__(self) -> None:
        if self.memoizer is not None:
            for name in _CHECKPOINT_FIELDS:
                setattr(self, name, getattr(self.memoizer, "memoize" if name == "app_cache" else name))
        if self.checkpoint_mode == "periodic" and self.checkpoint_period is None:
            raise ConfigurationError("Config.checkpoint_period is required when checkpoint_mode='periodic'")

    def __init__(self, executors: Sequence[Any] | None = None, **kwargs: Any):
        known = {a.name for a in attrs.fields(Config)}
        for name in kwargs:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigurationError(f"Config has no field {name!r}{hint} Fields: {', '.join(sorted(known))}")
        both = [name for name in _CHECKPOINT_FIELDS if name in kwargs]
        if kwargs.get("memoizer") is not None and both:
            raise ConfigurationError(
                f"Config: give either memoizer=BasicMemoizer(...) or {', '.join(both)}, not both "
                "(the memoizer sets them)"
            )
        self.__attrs_init__(executors=list(executors or ()), **kwargs)  # type: ignore[attr-defined]
