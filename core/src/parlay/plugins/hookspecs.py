"""Every hook parlay calls, grouped by lifecycle. Hooks are called with keyword arguments only; an
implementation may accept fewer arguments than its specification lists.

Event hooks (workflow, task, executor, block) only observe: an implementation that raises is logged and
the run goes on. The other hooks shape what parlay does, and their errors propagate.
"""

from __future__ import annotations

from typing import Any

from parlay.plugins import hookspec

# --- workflow events ------------------------------------------------------------------------------


@hookspec
def parlay_workflow_started(dfk: Any, run_id: str, run_dir: str) -> None:
    """A DataFlowKernel has started and its executors are running.

    :param dfk: the DataFlowKernel
    :param run_id: the run's unique id
    :param run_dir: the run directory (`runinfo/NNN`)
    """


@hookspec
def parlay_workflow_finished(dfk: Any, run_id: str, run_dir: str, task_counts: dict[str, int]) -> None:
    """A DataFlowKernel has been cleaned up.

    :param task_counts: how many tasks ended in each final state, by state name
    """


# --- task events ----------------------------------------------------------------------------------


@hookspec
def parlay_task_state_changed(
    task_id: int, func_name: str, old_state: str | None, new_state: str, executor: str, exception: BaseException | None
) -> None:
    """A task moved to a new state (`pending`, `launched`, `joining`, `exec_done`, `failed`, ...).

    Called on the thread that made the change, so keep it quick. When no plugin implements this hook,
    the kernel skips it entirely.

    :param old_state: the previous state, None when the task was just created
    :param executor: the label of the executor the task runs on
    :param exception: the failure, for `failed` and `dep_fail`
    """


# --- executor and block events --------------------------------------------------------------------


@hookspec
def parlay_executor_started(executor: Any) -> None:
    """An executor has started."""


@hookspec
def parlay_executor_stopped(executor: Any) -> None:
    """An executor has shut down."""


@hookspec
def parlay_block_state_changed(executor: str, block_id: str, job_id: str | None, state: str, message: str) -> None:
    """A block (one provider job) of an executor changed state.

    :param state: a `JobState` name (`PENDING`, `RUNNING`, `FAILED`, ...)
    :param message: the scheduler's explanation, if any
    """


# --- providers and launchers ----------------------------------------------------------------------


@hookspec
def parlay_provider_job_preamble(provider: Any, job_name: str) -> str | list[str] | None:
    """Lines to put in every job script, after the scheduler directives and before `worker_init`
    (module loads, environment activation).

    :return: a line, a list of lines, or None; the results of all plugins are used, in registration order
    """


@hookspec
def parlay_launcher_command(launcher: Any, command: str, tasks_per_node: int, nodes_per_block: int) -> str | None:
    """Wrap the worker command before the launcher does (a container, a profiler).

    :return: the new command, or None to leave it; implementations apply one after another, each seeing
        the previous one's result
    """


# --- staging --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def parlay_staging_for(file: Any, executor: Any) -> Any:
    """Which staging plugin moves `file` (by its URL scheme) for `executor`.

    :return: a `Staging` instance, or None; stops at the first non-None result
    """


# --- command line ---------------------------------------------------------------------------------


@hookspec
def parlay_cli_subcommands(subparsers: Any) -> None:
    """Add `parlay` subcommands: call `subparsers.add_parser(...)` and set `func=callable(args) -> int`
    as its default."""
