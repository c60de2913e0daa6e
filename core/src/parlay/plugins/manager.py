"""Hooks: pluggy plugin managers, one for the process and one for each run.

Every hook is called through pluggy (`pm.hook.<name>(...)`), so `tryfirst`/`trylast`, old- and new-style
wrappers and `firstresult` behave as pluggy documents. Two guarantees are added when an implementation is
registered, by wrapping its function (pluggy still orders and calls it): an event hook that raises is
logged and the others still run; any other hook's error carries a note naming the plugin.

The process-wide `Hooks` (`get_hooks()`) holds every installed `parlay.hooks` entry point that imports and
validates (a broken one is left out with a `PluginWarning`, once per process) and whatever is registered on
it. A run's `Hooks` (`for_run`) holds the same plugins, now and later, less those its `Config` disables,
plus the run's own `Config(plugins=...)`; it is dropped when the run is cleaned up.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pluggy

from parlay.errors import ConfigurationError, InvalidPlugin, PluginError, PluginWarning, add_note
from parlay.plugins import PROJECT, hookimpl, hookspecs, registry

logger = logging.getLogger("parlay.plugins")

#: Hooks that only observe (and probes, which a run can do without): an implementation that raises is
#: logged and the run goes on.
EVENT_HOOKS = frozenset(
    {
        "parlay_workflow_started",
        "parlay_workflow_finished",
        "parlay_task_state_changed",
        "parlay_task_probe",
        "parlay_task_reported",
        "parlay_executor_started",
        "parlay_executor_stopped",
        "parlay_block_state_changed",
        "parlay_node_state_changed",
    }
)
#: The environment variable naming `parlay.hooks` entry points to leave out (comma-separated, or `all`).
DISABLE_VARIABLE = "PARLAY_DISABLE_PLUGINS"

_process_hooks: Hooks | None = None
_process_lock = threading.Lock()


def get_hooks() -> Hooks:
    """The process-wide hooks: every installed `parlay.hooks` plugin that loads, bar those
    `PARLAY_DISABLE_PLUGINS` names. A broken one is reported once, with a `PluginWarning`."""
    global _process_hooks
    with _process_lock:
        if _process_hooks is None:
            hooks = Hooks()
            disabled = disabled_names(os.environ.get(DISABLE_VARIABLE, ""))
            warn_unknown(disabled, DISABLE_VARIABLE)
            for _name, problem in hooks.load_entry_points(disabled):
                warnings.warn(f"{problem}; parlay goes on without it", PluginWarning, stacklevel=3)
            _process_hooks = hooks
        return _process_hooks


def disabled_names(text: str) -> frozenset[str]:
    """Entry-point names from a comma-separated list (`PARLAY_DISABLE_PLUGINS`)."""
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def warn_unknown(disabled: Iterable[str], source: str) -> None:
    """A `PluginWarning` when `source` disables plugins that are not installed (a misspelt name)."""
    installed = {backend.name for backend in registry.available("hooks")}
    unknown = sorted(set(disabled) - installed - {"all"})
    if unknown:
        warnings.warn(
            f"{source} names {', '.join(map(repr, unknown))}, but no parlay.hooks plugin of that name is "
            f"installed (installed: {', '.join(sorted(installed)) or 'none'})",
            PluginWarning,
            stacklevel=3,
        )


class _Builtin:
    """parlay's own implementations, innermost in every manager."""

    @hookimpl(trylast=True)
    def parlay_launcher_command(self, command: str) -> str:
        return command


class Hooks:
    """One pluggy `PluginManager` with parlay's specifications, and calls into it by name."""

    def __init__(self, parent: Hooks | None = None, disabled: Iterable[str] = ()) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        # historic: a plugin registered at any time gets to add its own hook specifications first
        self.pm.hook.parlay_addhooks.call_historic(kwargs={"pluginmanager": self.pm})
        self.pm.register(_Builtin(), name="parlay")
        #: Whether anything listens to task state changes, probes tasks, or watches nodes (the kernel skips
        #: each of those hooks otherwise).
        self.task_listeners = False
        self.task_probes = False
        self.node_listeners = False
        #: Entry points that failed to load or validate: entry-point name -> what went wrong.
        self.broken: dict[str, str] = {}
        self._lock = threading.RLock()
        self._inherited: dict[int, tuple[Any, str, str | None]] = {}  # id -> (plugin, name, entry-point name)
        self._children: weakref.WeakSet[Hooks] = weakref.WeakSet()
        self._parent = parent
        self._disabled = frozenset(disabled)
        self._warned: set[tuple[str, str]] = set()
        self._refresh()

    # --- registration -----------------------------------------------------------------------------

    def register(self, plugin: Any, name: str | None = None) -> None:
        """Register an object or module holding `@hookimpl` functions; it takes part in every call from now
        on, here and in the runs started from this manager. A hook name no specification defines, or a
        signature pluggy refuses, raises `InvalidPlugin` naming the plugin."""
        with self._lock:  # held while runs inherit the plugin, so an unregister cannot overtake it
            name = self._unique(name or self._default_name(plugin), plugin)
            self._add(plugin, name)
            problem = self._unknown_hooks(plugin)
            if problem:
                self.pm.unregister(plugin)
                self._refresh()
                raise InvalidPlugin(f"plugin {name!r}: {problem}")
            self._inherited[id(plugin)] = (plugin, name, None)
            for child in list(self._children):
                child._inherit(plugin, name, None)

    def unregister(self, plugin: Any) -> None:
        """Take a plugin out, here and in the runs started from this manager."""
        with self._lock:
            self._inherited.pop(id(plugin), None)
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
                self._refresh()
            for child in list(self._children):
                child.unregister(plugin)

    def load_entry_points(self, disabled: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
        """Register every `parlay.hooks` entry point not named in `disabled` (`all`: none of them).
        Returns, and keeps in `broken`, the ones that failed to import or validate, each with why."""
        disabled_all = "all" in disabled
        loaded = []
        for backend in registry.available("hooks"):
            if disabled_all or backend.name in disabled:
                continue
            name = f"{backend.name} ({backend.distribution})"
            try:
                plugin = registry.load_backend(backend)
            except PluginError as exc:
                self.broken[backend.name] = str(exc)
                continue
            try:
                self._add(plugin, name)
            except InvalidPlugin as exc:
                self.broken[backend.name] = f"{backend.describe()} is invalid: {exc.__cause__ or exc}"
                continue
            loaded.append((backend, plugin, name))
        # Specifications that plugins add may serve plugins registered before them: check once all are in.
        for backend, plugin, name in loaded:
            problem = self._unknown_hooks(plugin)
            if problem:
                self.pm.unregister(plugin)
                self.broken[backend.name] = f"{backend.describe()} is invalid: {problem}"
            else:
                self._inherited[id(plugin)] = (plugin, name, backend.name)
        self._refresh()
        return list(self.broken.items())

    def for_run(self, plugins: Sequence[Any] = (), disabled: Iterable[str] = ()) -> Hooks:
        """A run's hooks: this manager's plugins (and any registered on it while the run goes on), less the
        entry points named in `disabled` (`all`: every entry point), plus `plugins`."""
        warn_unknown(disabled, "Config.disable_plugins")
        child = Hooks(parent=self, disabled=disabled)
        with self._lock:
            self._children.add(child)
            for plugin, name, entry_point in self._inherited.values():
                child._inherit(plugin, name, entry_point)
        for plugin in plugins:
            child.register(plugin)
        return child

    def close(self) -> None:
        """A run's hooks are done with: nothing registered later reaches them."""
        if self._parent is not None:
            with self._parent._lock:
                self._parent._children.discard(self)
        with self._lock:
            for plugin in list(self.pm.get_plugins()):
                self.pm.unregister(plugin)
            self._inherited.clear()
            self._refresh()

    def _inherit(self, plugin: Any, name: str, entry_point: str | None) -> None:
        if entry_point is not None and ("all" in self._disabled or entry_point in self._disabled):
            return
        with self._lock:
            if not self.pm.is_registered(plugin):
                name = self._unique(name, plugin)  # the run may hold a plugin of its own by that name
                self._add(plugin, name)
                self._inherited[id(plugin)] = (plugin, name, entry_point)

    def _add(self, plugin: Any, name: str | None) -> None:
        """Register with pluggy, then wrap the plugin's implementations (events guarded, others noted)."""
        if self.pm.is_registered(plugin) or (name is not None and self.pm.has_plugin(name)):
            raise InvalidPlugin(f"plugin {self._name_of(plugin, name)} is already registered")
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # a signature pluggy refuses, or a parlay_addhooks that failed
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            raise InvalidPlugin(f"plugin {self._name_of(plugin, name)}: {exc}") from exc
        for caller in self.pm.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    impl.function = self._wrapped(impl.function, caller.name, impl.plugin_name)  # type: ignore[misc]
        self._refresh()

    def _wrapped(self, function: Callable[..., Any], hook: str, plugin: str) -> Callable[..., Any]:
        if hook in EVENT_HOOKS:

            @functools.wraps(function)
            def guarded(*args: Any) -> Any:
                try:
                    return function(*args)
                except Exception:
                    self._log_failure(plugin, hook)
                    return None

            return guarded

        @functools.wraps(function)
        def noted(*args: Any) -> Any:
            try:
                return function(*args)
            except Exception as exc:
                if not hasattr(exc, "parlay_plugin"):
                    exc.parlay_plugin = plugin  # type: ignore[attr-defined]
                    add_note(exc, f"in {hook} of plugin {plugin}")
                raise

        return noted

    def _log_failure(self, plugin: str, hook: str) -> None:
        """The first failure of a plugin in a hook with its traceback; later ones briefly, at debug level."""
        if (plugin, hook) in self._warned:
            logger.debug("plugin %s failed again in %s", plugin, hook, exc_info=True)
            return
        self._warned.add((plugin, hook))
        logger.exception("plugin %s failed in %s; the run goes on (later failures are logged at debug level)",
                         plugin, hook)  # fmt: skip

    def _unknown_hooks(self, plugin: Any) -> str | None:
        """What is wrong with a plugin's hook names, or None: an implementation for which no specification
        exists (unless marked `optionalhook`), as pluggy's `check_pending` would find it."""
        unknown = sorted(
            caller.name
            for caller in self.pm.get_hookcallers(plugin) or ()
            if not caller.has_spec()
            and any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls())
        )
        if not unknown:
            return None
        return f"no hook specification for {', '.join(unknown)} (a misspelt hook name, or a hook of a missing plugin)"

    def _name_of(self, plugin: Any, name: str | None) -> str:
        return repr(name or self._default_name(plugin))

    def _default_name(self, plugin: Any) -> str:
        """A module's name, or the class of an object (with its id when that class is registered already)."""
        if isinstance(plugin, types.ModuleType):
            return plugin.__name__
        cls = plugin if isinstance(plugin, type) else type(plugin)
        return f"{cls.__module__}.{cls.__qualname__}"

    def _unique(self, name: str, plugin: Any) -> str:
        """`name`, or `name@id` when another plugin holds it already."""
        return f"{name}@{id(plugin):x}" if self.pm.has_plugin(name) else name

    def _refresh(self) -> None:
        hook = self.pm.hook
        self.task_listeners = bool(hook.parlay_task_state_changed.get_hookimpls())
        self.task_probes = bool(hook.parlay_task_probe.get_hookimpls())
        self.node_listeners = bool(hook.parlay_node_state_changed.get_hookimpls())
        #: `parlay_task_state_changed`, its arguments by position in its specification's order (it runs for
        #: every state change of every task).
        self.task_state_changed = self._direct_call("parlay_task_state_changed")
        #: `parlay_task_reported`, its arguments by position.
        self.task_reported = self._direct_call("parlay_task_reported")
        self._probes = self._direct_call("parlay_task_probe", gather=True)

    def _direct_call(self, name: str, gather: bool = False) -> Callable[..., Any]:
        """A call of hook `name` with its arguments by position, in its specification's order, that goes to
        each implementation straight, in pluggy's order, when none is a wrapper (these hooks run several times
        per task, and pluggy's dispatch costs more than a small implementation does): the implementation
        itself when there is one that takes every argument. With `gather`, it returns the list of results
        that are not None. An implementation that raises is logged and left out, as pluggy's call would have
        it here."""
        caller = getattr(self.pm.hook, name)
        impls = caller.get_hookimpls()
        names = caller.spec.argnames if caller.spec is not None else ()
        if any(impl.wrapper or impl.hookwrapper for impl in impls):

            def through_pluggy(*args: Any) -> Any:
                try:
                    found = caller(**dict(zip(names, args, strict=True)))
                except Exception:  # a wrapper's failure: the implementations themselves are guarded
                    self._log_failure("(a hook wrapper)", name)
                    found = []
                return [result for result in found if result is not None] if gather else None

            return through_pluggy
        plans = [(impl.function, [names.index(n) for n in impl.argnames]) for impl in reversed(impls)]
        if not plans:
            return (lambda *args: []) if gather else (lambda *args: None)
        if len(plans) == 1 and plans[0][1] == list(range(len(names))):
            function = plans[0][0]  # the one implementation takes every argument, in order
            if not gather:
                return function

            def one(*args: Any) -> list[Any]:
                result = function(*args)
                return [] if result is None else [result]

            return one

        def each(*args: Any) -> list[Any] | None:
            results = [function(*[args[i] for i in picks]) for function, picks in plans]
            return [result for result in results if result is not None] if gather else None

        return each

    # --- events: logged, never raised -------------------------------------------------------------

    def _event(self, hook: str, **kwargs: Any) -> None:
        try:
            getattr(self.pm.hook, hook)(**kwargs)
        except Exception:  # a wrapper's failure: the implementations themselves are guarded
            self._log_failure("(a hook wrapper)", hook)

    def workflow_started(self, *, dfk: Any, run_id: str, run_dir: str) -> None:
        self._event("parlay_workflow_started", dfk=dfk, run_id=run_id, run_dir=run_dir)

    def workflow_finished(self, *, dfk: Any, run_id: str, run_dir: str, task_counts: dict[str, int]) -> None:
        self._event("parlay_workflow_finished", dfk=dfk, run_id=run_id, run_dir=run_dir, task_counts=task_counts)

    def probes(self, task_id: int, try_id: int, func_name: str, executor: str) -> list[Any]:
        """The probes plugins give this try of a task (a probe that fails is logged and left out)."""
        return self._probes(task_id, try_id, func_name, executor)

    def executor_started(self, *, executor: Any) -> None:
        self._event("parlay_executor_started", executor=executor)

    def executor_stopped(self, *, executor: Any) -> None:
        self._event("parlay_executor_stopped", executor=executor)

    def block_state_changed(
        self, *, executor: str, block_id: str, job_id: str | None, state: str, message: str
    ) -> None:
        self._event(
            "parlay_block_state_changed",
            executor=executor,
            block_id=block_id,
            job_id=job_id,
            state=state,
            message=message,
        )

    def node_state_changed(self, *, executor: str, block_id: str | None, node: dict[str, Any], state: str) -> None:
        self._event("parlay_node_state_changed", executor=executor, block_id=block_id, node=node, state=state)

    # --- hooks that shape what parlay does: errors propagate, naming the plugin -------------------

    def configure(self, *, config: Any) -> None:
        """Let site plugins check or adjust a run's `Config`; a refusal is a `ConfigurationError` naming
        the plugin."""
        try:
            self.pm.hook.parlay_configure(config=config)
        except Exception as exc:
            plugin = getattr(exc, "parlay_plugin", "a plugin wrapper")
            raise ConfigurationError(f"plugin {plugin} refused this Config: {exc}") from exc

    def job_preamble(self, *, provider: Any, job_name: str) -> list[str]:
        """The lines every plugin adds to a job script, in pluggy's call order."""
        lines: list[str] = []
        for result in self.pm.hook.parlay_provider_job_preamble(provider=provider, job_name=job_name):
            if isinstance(result, str):
                lines.append(result)
            else:
                lines.extend(result)
        return lines

    def launch_command(self, *, launcher: Any, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        """The worker command after plugins' wrappers have wrapped it, before the launcher does."""
        return self.pm.hook.parlay_launcher_command(
            launcher=launcher, command=command, tasks_per_node=tasks_per_node, nodes_per_block=nodes_per_block
        )

    def staging_for(self, *, file: Any, executor: Any) -> Any:
        """The staging plugin that handles `file`, or None."""
        return self.pm.hook.parlay_staging_for(file=file, executor=executor)

    def add_cli_subcommands(self, *, subparsers: Any) -> None:
        """Let each plugin add its subcommands; one that fails is warned about, naming it, and left out, so
        that a broken plugin never breaks the `parlay` command."""
        impls = self.pm.hook.parlay_cli_subcommands.get_hookimpls()
        if any(impl.wrapper or impl.hookwrapper for impl in impls):
            self.pm.hook.parlay_cli_subcommands(subparsers=subparsers)  # wrappers need pluggy's own call
            return
        for impl in reversed(impls):  # pluggy's order
            try:
                impl.function(*(subparsers for _ in impl.argnames))
            except Exception as exc:
                warnings.warn(
                    f"plugin {impl.plugin_name} could not add its parlay subcommands ({type(exc).__name__}: {exc}); "
                    "the others work",
                    PluginWarning,
                    stacklevel=2,
                )
