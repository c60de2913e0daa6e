"""The plugin manager behind a typed facade: one method per hook, called with keywords.

`get_hooks()` builds it once per process: the hook specifications, then every `parlay.hooks` entry
point, each checked with `check_pending()` so that a misspelt hook name fails loudly, naming its plugin.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pluggy

from parlay.errors import InvalidPlugin, add_note
from parlay.plugins import PROJECT, hookspecs, registry

logger = logging.getLogger("parlay.plugins")

_hooks: Hooks | None = None
_lock = threading.Lock()


def get_hooks() -> Hooks:
    """The process-wide hook facade, with every installed `parlay.hooks` plugin registered."""
    global _hooks
    with _lock:
        if _hooks is None:
            hooks = Hooks()
            for backend in registry.available("hooks"):
                hooks.register(registry.load_backend(backend), name=f"{backend.name} ({backend.distribution})")
            _hooks = hooks
        return _hooks


class Hooks:
    """Typed calls into pluggy. Event hooks never break a run; the others raise with the plugin named."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.has_task_listeners = False

    def register(self, plugin: Any, name: str | None = None) -> None:
        """Register an object or module holding `@hookimpl` functions."""
        self.pm.register(plugin, name=name)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(plugin)
            raise InvalidPlugin(f"plugin {name or plugin!r}: {exc}") from exc
        self._refresh()

    def unregister(self, plugin: Any) -> None:
        if self.pm.is_registered(plugin):
            self.pm.unregister(plugin)
            self._refresh()

    def _refresh(self) -> None:
        self.has_task_listeners = bool(self.pm.hook.parlay_task_state_changed.get_hookimpls())

    # --- events -----------------------------------------------------------------------------------

    # get_hookimpls() lists implementations in registration order (pluggy's own calls run them reversed)

    def _event(self, hook_name: str, **kwargs: Any) -> None:
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception:
                logger.exception("plugin %s failed in %s; the run goes on", impl.plugin_name, hook_name)

    def workflow_started(self, *, dfk: Any, run_id: str, run_dir: str) -> None:
        self._event("parlay_workflow_started", dfk=dfk, run_id=run_id, run_dir=run_dir)

    def workflow_finished(self, *, dfk: Any, run_id: str, run_dir: str, task_counts: dict[str, int]) -> None:
        self._event("parlay_workflow_finished", dfk=dfk, run_id=run_id, run_dir=run_dir, task_counts=task_counts)

    def task_state_changed(
        self,
        *,
        task_id: int,
        func_name: str,
        old_state: str | None,
        new_state: str,
        executor: str,
        exception: BaseException | None,
    ) -> None:
        self._event(
            "parlay_task_state_changed",
            task_id=task_id,
            func_name=func_name,
            old_state=old_state,
            new_state=new_state,
            executor=executor,
            exception=exception,
        )

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

    # --- hooks that shape what parlay does --------------------------------------------------------

    def _call(self, hook_name: str, impl: Any, **kwargs: Any) -> Any:
        try:
            return impl.function(**{k: kwargs[k] for k in impl.argnames})
        except Exception as exc:
            add_note(exc, f"in {hook_name} of plugin {impl.plugin_name}")
            raise

    def job_preamble(self, *, provider: Any, job_name: str) -> list[str]:
        """Lines every plugin adds to a job script, in registration order."""
        lines: list[str] = []
        for impl in self.pm.hook.parlay_provider_job_preamble.get_hookimpls():
            result = self._call("parlay_provider_job_preamble", impl, provider=provider, job_name=job_name)
            if isinstance(result, str):
                lines.append(result)
            elif result:
                lines.extend(result)
        return lines

    def wrap_launch_command(self, *, launcher: Any, command: str, tasks_per_node: int, nodes_per_block: int) -> str:
        """The worker command after every plugin has had its turn to wrap it."""
        for impl in self.pm.hook.parlay_launcher_command.get_hookimpls():
            wrapped = self._call(
                "parlay_launcher_command",
                impl,
                launcher=launcher,
                command=command,
                tasks_per_node=tasks_per_node,
                nodes_per_block=nodes_per_block,
            )
            if wrapped is not None:
                command = wrapped
        return command

    def staging_for(self, *, file: Any, executor: Any) -> Any:
        """The staging plugin that handles `file`, or None."""
        return self.pm.hook.parlay_staging_for(file=file, executor=executor)

    def add_cli_subcommands(self, *, subparsers: Any) -> None:
        for impl in self.pm.hook.parlay_cli_subcommands.get_hookimpls():
            self._call("parlay_cli_subcommands", impl, subparsers=subparsers)
