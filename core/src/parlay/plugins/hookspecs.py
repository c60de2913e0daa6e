"""Every hook parlay calls, grouped by lifecycle. Hooks are called through pluggy with keyword arguments;
an implementation may accept fewer arguments than its specification lists.

Event hooks (workflow, task, executor, block) only observe: an implementation that raises is logged and
the other implementations and the run go on. The other hooks shape what parlay does; their errors
propagate with a note naming the plugin. `docs/plugins.md` documents each hook with an example; a test
keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from parlay.plugins import hookspec

# --- plugins and configuration ----------------------------------------------------------------------


@hookspec(historic=True)
def parlay_addhooks(pluginmanager: Any) -> None:
    """Add hook specifications of a plugin's own: call `pluginmanager.add_hookspecs(module_or_class)`.

    Called for every plugin as it is registered, in every plugin manager (the process's and each run's),
    before its hook names are checked, so plugins may implement hooks that another plugin offers.

    :param pluginmanager: the `pluggy.PluginManager` the plugin is being registered with
    """


@hookspec
def parlay_configure(config: Any) -> None:
    """Check or adjust a run's `Config`, once, when the run loads and before its executors start.

    Raise (any exception) to refuse the config: the run does not start and the error is a
    `ConfigurationError` naming the plugin. Adjust by assigning to the config, its executors or their
    providers; assignments are validated as at construction.

    :param config: the run's `parlay.Config`
    """


# --- workflow events --------------------------------------------------------------------------------


@hookspec
def parlay_workflow_started(dfk: Any, run_id: str, run_dir: str) -> None:
    """A DataFlowKernel has started and its executors are running.

    :param dfk: the DataFlowKernel (`dfk.hooks.pm` is the run's plugin manager, to call hooks of your own)
    :param run_id: the run's unique id
    :param run_dir: the run directory (`runinfo/NNN`)
    """


@hookspec
def parlay_workflow_finished(dfk: Any, run_id: str, run_dir: str, task_counts: dict[str, int]) -> None:
    """A DataFlowKernel has been cleaned up: its executors have stopped.

    :param task_counts: how many tasks ended in each final state, by state name
    """


# --- task events ------------------------------------------------------------------------------------


@hookspec
def parlay_task_state_changed(
    task_id: int,
    func_name: str,
    old_state: str | None,
    new_state: str,
    executor: str,
    exception: BaseException | None,
    try_id: int,
    timestamp: float,
    task: Any,
) -> None:
    """A task moved to a new state (`pending`, `launched`, `joining`, `exec_done`, `failed`, ...).

    Called on the thread that made the change, so keep it quick. When no plugin implements this hook,
    the kernel skips it entirely.

    :param old_state: the previous state, None when the task was just created
    :param executor: the label of the executor the task runs on
    :param exception: the failure, for `failed` and `dep_fail`
    :param try_id: the try the task is on (0, then 1 after its first retry, ...)
    :param timestamp: when the change happened (`time.time()`)
    :param task: the task's record, to read (not change): `depends`, `time_invoked`, `time_returned`,
        `fail_count`, `fail_cost`, `fail_history`, `memoize`, `hashsum`, `kwargs` (its `inputs`, `outputs`,
        `stdout`, `stderr`), `app_fu`
    """


@hookspec
def parlay_task_probe(task_id: int, try_id: int, func_name: str, executor: str) -> Any:
    """Something to run where this try of a task runs, around its function: a picklable object with
    `start() -> token`, called on the worker just before the function, and `stop(token, error) -> dict`,
    called just after it (`error` is the exception the function raised, or None). The dicts come back with
    the try's outcome to `parlay_task_reported`. Only while some plugin implements this hook does the kernel
    wrap tasks at all.

    Called on the submitting thread for every try: keep it cheap (one shared probe object serves all tasks;
    `start` and `stop` must then keep per-task state in the token, as tasks of one process may overlap).

    :return: a probe, or None to probe nothing for this try
    """


@hookspec
def parlay_task_reported(task_id: int, try_id: int, func_name: str, executor: str, reports: list[dict]) -> None:
    """A try ended where it ran, and what its probes recorded there came back (host, times, resources).

    Called before the task's state changes for that outcome.

    :param reports: one dict per probe that `parlay_task_probe` gave this try, in the order of the results
    """


# --- executor and block events ----------------------------------------------------------------------


@hookspec
def parlay_executor_started(executor: Any) -> None:
    """An executor has started.

    :param executor: the executor object (`executor.label`, `executor.provider` where it has one)
    """


@hookspec
def parlay_executor_stopped(executor: Any) -> None:
    """An executor has shut down.

    :param executor: the executor object
    """


@hookspec
def parlay_block_state_changed(executor: str, block_id: str, job_id: str | None, state: str, message: str) -> None:
    """A block (one provider job) of an executor changed state: submitted (`PENDING`), then each change the
    status poll sees (`RUNNING`, ...) up to its end (`COMPLETED`, `FAILED`, `CANCELLED`, `SCALED_IN`, ...).

    :param executor: the executor's label
    :param job_id: the provider's job id, None before it has one
    :param state: a `JobState` name (`PENDING`, `RUNNING`, `FAILED`, ...)
    :param message: the scheduler's explanation, if any
    """


@hookspec
def parlay_node_state_changed(executor: str, block_id: str | None, node: dict[str, Any], state: str) -> None:
    """A node of an executor's block (its worker pool there, such as the high-throughput executor's manager)
    joined or left.

    Executors that know their nodes report them (`BlockProviderExecutor.nodes()`); the kernel looks at every
    status poll while some plugin implements this hook.

    :param node: what the executor knows of it: `id`, `hostname`, `workers`, and whatever else it gives
    :param state: `joined` or `left`
    """


# --- providers and launchers ------------------------------------------------------------------------


@hookspec
def parlay_provider_job_preamble(provider: Any, job_name: str) -> str | list[str] | None:
    """Lines to put in every job script, after the scheduler directives and before `worker_init`
    (module loads, environment activation).

    :param provider: the provider rendering the script (`provider.kind` is its entry-point name)
    :param job_name: the job's name
    :return: a line, a list of lines, or None; every plugin's lines are used, in pluggy's call order
    """


@hookspec(firstresult=True)
def parlay_launcher_command(launcher: Any, command: str, tasks_per_node: int, nodes_per_block: int) -> str | None:
    """The worker command a provider hands its launcher: wrap it (a container, a profiler).

    Implement it as a wrapper (`@hookimpl(wrapper=True)`: `command = yield`, then return the wrapped
    command) so that several plugins compose; a plain implementation returning a string replaces the
    command outright (the first non-None result wins). parlay's own innermost implementation returns the
    command unchanged.

    :param launcher: the provider's launcher, which will wrap the result
    :param command: the worker command
    :return: the command to launch, or None to pass
    """


# --- staging ----------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def parlay_staging_for(file: Any, executor: Any) -> Any:
    """Which staging plugin moves `file` (a `File` whose scheme is not `file`) for `executor`.

    :param file: the `parlay.File`
    :param executor: the executor the task runs on
    :return: a `Staging` instance, or None; the first non-None result wins, else the first provider of the
        executor's `storage_access` that can stage the file
    """


# --- command line -----------------------------------------------------------------------------------


@hookspec(firstresult=True)
def parlay_status_report(run_dir: str) -> str | None:
    """The summary `parlay status RUN_DIR` prints, from what a plugin recorded of that run (a monitoring
    database).

    :param run_dir: the run directory (`runinfo/NNN`)
    :return: the text to print, or None to leave it to the next plugin and, in the end, to parlay's own
        summary from the run's log and job journal
    """


@hookspec
def parlay_cli_subcommands(subparsers: Any) -> None:
    """Add `parlay` subcommands: call `subparsers.add_parser(...)` and set `func=callable(args) -> int`
    as its default.

    :param subparsers: the `argparse` subparsers action of the `parlay` command
    """
