"""Parsl's public names, each with what it is in parlay: the one table behind code written for Parsl.

`from parsl.X import Y` becomes `from parlay.X import Y`: a name parlay has resolves to the parlay object
of the same meaning (`identical`, or `adapted` where the object differs in ways the note says), through
the real module when parlay has one, through a module made from this table when Parlay's own layout
differs (`parlay.app.app`, `parlay.data_provider.files`...), and through its plugin's entry point when it
lives in one, so `import parlay` stays light. A name parlay does not provide (`absent`) raises
`NotInParlay`, an ImportError saying what to use instead, in the `from ... import` form as well.
`docs/parsl.md` is checked against this table, and a test resolves every row.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import re
import sys
import types
from typing import Any, NamedTuple

IDENTICAL, ADAPTED, ABSENT = "identical", "adapted", "absent"


class NotInParlay(ImportError):
    """A Parsl name parlay does not provide; the message says what to use instead. (An ImportError, so that
    `from parlay.executors import WorkQueueExecutor` shows the message rather than "cannot import name".)"""


class Name(NamedTuple):
    parsl: str  # the dotted path in Parsl
    target: str | None  # "module:attribute" in parlay; None when absent
    status: str
    note: str = ""  # how it differs, or what to use instead


def _same(parsl: str, target: str, note: str = "") -> Name:
    return Name(parsl, target, IDENTICAL, note)


def _adapted(parsl: str, target: str, note: str) -> Name:
    return Name(parsl, target, ADAPTED, note)


def _absent(parsl: str, note: str) -> Name:
    return Name(parsl, None, ABSENT, note)


_HTEX = "use HighThroughputExecutor (with any provider), or DaskExecutor or RayExecutor on an engine you run"
_ERRORS = "parlay.errors"
_HUB = "from parlay-monitoring; Parsl's options and tables, and no hub process: one thread of the run writes"
_RADIOS = "parlay's probes send what they record with each task's result: there is no radio to choose"
_EXCEPTIONS = {
    "app.errors": [
        "AppException",
        "AppTimeout",
        "BadStdStreamFile",
        "BashAppNoReturn",
        "BashExitFailure",
        "MissingOutputs",
    ],
    "errors": ["ConfigurationError", "NoDataFlowKernelError"],
    "executors.errors": ["ExecutorError", "BadStateException", "InvalidResourceSpecification", "ScalingFailed"],
    "dataflow.errors": ["DataFlowException", "BadCheckpoint", "DependencyError", "JoinError", "PropagatedException"],
    "launchers.errors": ["BadLauncher"],
    "providers.errors": ["ExecutionProviderException", "SubmitException"],
    "executors.high_throughput.errors": ["WorkerLost", "ManagerLost"],
    "serialize.errors": ["DeserializationError", "SerializationError"],
}
_PROVIDERS = [
    "AWSProvider",
    "AzureProvider",
    "CondorProvider",
    "GoogleCloudProvider",
    "GridEngineProvider",
    "KubernetesProvider",
    "LocalProvider",
    "LSFProvider",
    "PBSProProvider",
    "SlurmProvider",
    "TorqueProvider",
]
_LAUNCHERS = [
    "AprunLauncher",
    "GnuParallelLauncher",
    "JsrunLauncher",
    "MpiExecLauncher",
    "MpiRunLauncher",
    "SimpleLauncher",
    "SingleNodeLauncher",
    "SrunLauncher",
    "SrunMPILauncher",
    "WrappedLauncher",
]

NAMES: list[Name] = [
    # --- the top level ---
    *(_same(f"parsl.{n}", f"parlay.apps:{n}") for n in ("python_app", "bash_app", "join_app", "AUTO_LOGNAME")),
    *(_same(f"parsl.{n}", f"parlay.dataflow.loader:{n}") for n in ("load", "dfk", "clear", "wait_for_current_tasks")),
    _adapted("parsl.Config", "parlay.config:Config", "Parsl's fields, plus `plugins` and `disable_plugins`"),
    _adapted("parsl.DataFlowKernel", "parlay.dataflow.kernel:DataFlowKernel", "built by `parlay.load(config)`"),
    _same("parsl.File", "parlay.files:File"),
    _same("parsl.ThreadPoolExecutor", "parlay.executors.threads:ThreadPoolExecutor"),
    _same("parsl.HighThroughputExecutor", "parlay.executors:HighThroughputExecutor", "from parlay-executor-htex"),
    _absent("parsl.WorkQueueExecutor", f"parlay has no Work Queue executor: {_HTEX}"),
    _adapted("parsl.MonitoringHub", "parlay.monitoring:MonitoringHub", _HUB),
    _same("parsl.set_stream_logger", "parlay.log_utils:set_stream_logger", "logs the 'parlay' logger"),
    _same("parsl.set_file_logger", "parlay.log_utils:set_file_logger", "logs the 'parlay' logger"),
    # --- apps and futures ---
    *(_same(f"parsl.app.app.{n}", f"parlay.apps:{n}") for n in ("python_app", "bash_app", "join_app", "AppBase")),
    _same("parsl.app.python.PythonApp", "parlay.apps:PythonApp"),
    _same("parsl.app.bash.BashApp", "parlay.apps:BashApp"),
    _same("parsl.app.futures.DataFuture", "parlay.futures:DataFuture"),
    _adapted("parsl.dataflow.futures.AppFuture", "parlay.futures:AppFuture", "`cancel()` works on tasks not started"),
    _adapted("parsl.dataflow.dflow.DataFlowKernel", "parlay.dataflow.kernel:DataFlowKernel", "built by `load`"),
    _absent("parsl.dataflow.dflow.DataFlowKernelLoader", "use parlay.load, parlay.dfk, parlay.clear"),
    _adapted(
        "parsl.concurrent.ParslPoolExecutor",
        "parlay.concurrent:ParslPoolExecutor",
        "also named ParlayPoolExecutor; its futures are parlay's AppFutures",
    ),
    _same("parsl.dataflow.dependency_resolvers.DEEP_DEPENDENCY_RESOLVER", "parlay.dataflow.dependencies:DEEP"),
    _same("parsl.dataflow.dependency_resolvers.SHALLOW_DEPENDENCY_RESOLVER", "parlay.dataflow.dependencies:SHALLOW"),
    _absent(
        "parsl.dataflow.dependency_resolvers.DependencyResolver",
        "parlay offers the shallow and deep resolvers only: Config(dependency_resolver='deep')",
    ),
    _same("parsl.dataflow.states.States", "parlay.dataflow.states:States", "plus `cancelled`"),
    _same("parsl.dataflow.states.FINAL_STATES", "parlay.dataflow.states:FINAL_STATES"),
    _same("parsl.dataflow.taskrecord.TaskRecord", "parlay.dataflow.taskrecord:TaskRecord"),
    # --- configuration ---
    _adapted("parsl.config.Config", "parlay.config:Config", "Parsl's fields, plus `plugins` and `disable_plugins`"),
    *(
        _same(f"parsl.addresses.{n}", f"parlay.addresses:{n}")
        for n in (
            "address_by_hostname",
            "address_by_interface",
            "address_by_query",
            "address_by_route",
            "get_all_addresses",
            "get_any_address",
            "tcp_url",
        )
    ),
    *(
        _adapted(f"parsl.usage_tracking.levels.{n}", f"parlay.config:{n}", "accepted; parlay sends no usage data")
        for n in ("DISABLED", "LEVEL_1", "LEVEL_2", "LEVEL_3")
    ),
    _same("parsl.utils.get_all_checkpoints", "parlay.utils:get_all_checkpoints"),
    _same("parsl.utils.get_last_checkpoint", "parlay.utils:get_last_checkpoint"),
    _absent("parsl.utils.Timer", "an internal helper of Parsl's"),
    _absent("parsl.logconfigs.base.LogConfig", "use Config(initialize_logging=False) and Python's logging"),
    _absent("parsl.logconfigs.noop.NoopLogging", "use Config(initialize_logging=False)"),
    _adapted(
        "parsl.dataflow.memoization.BasicMemoizer",
        "parlay.dataflow.memoization:BasicMemoizer",
        "Config(memoizer=BasicMemoizer(...)) sets the checkpoint fields of the Config",
    ),
    _adapted("parsl.dataflow.memoization.Memoizer", "parlay.dataflow.memoization:Memoizer", "not pluggable"),
    _same("parsl.dataflow.memoization.id_for_memo", "parlay.dataflow.memoization:id_for_memo"),
    # --- data ---
    _same("parsl.data_provider.files.File", "parlay.files:File"),
    _same("parsl.data_provider.staging.Staging", "parlay.staging.base:Staging"),
    _same("parsl.data_provider.file_noop.NoOpFileStaging", "parlay.staging.files:NoOpFileStaging"),
    _same(
        "parsl.data_provider.data_manager.DataManager", "parlay.staging.manager:DataManager", "`dm.dfk` is the kernel"
    ),
    *(
        _same(f"parsl.data_provider.{module}.{name}", f"parlay.staging:{name}", f"from parlay-staging-{module}")
        for module, name in (
            ("ftp", "FTPSeparateTaskStaging"),
            ("ftp", "FTPInTaskStaging"),
            ("http", "HTTPSeparateTaskStaging"),
            ("http", "HTTPInTaskStaging"),
            ("globus", "GlobusStaging"),
            ("rsync", "RSyncStaging"),
            ("zip", "ZipFileStaging"),
        )
    ),
    # --- executors ---
    _adapted("parsl.executors.base.ParslExecutor", "parlay.executors.base:ParlayExecutor", "named ParlayExecutor"),
    _same("parsl.executors.status_handling.BlockProviderExecutor", "parlay.executors.blocks:BlockProviderExecutor"),
    _same("parsl.executors.ThreadPoolExecutor", "parlay.executors.threads:ThreadPoolExecutor"),
    _same("parsl.executors.threads.ThreadPoolExecutor", "parlay.executors.threads:ThreadPoolExecutor"),
    _same("parsl.executors.HighThroughputExecutor", "parlay.executors:HighThroughputExecutor", "a plugin"),
    _same(
        "parsl.executors.high_throughput.executor.HighThroughputExecutor",
        "parlay.executors:HighThroughputExecutor",
        "a plugin",
    ),
    _absent(
        "parsl.executors.MPIExecutor",
        "use HighThroughputExecutor with max_workers_per_node=1 and an MPI launcher in the app's command",
    ),
    _absent("parsl.executors.WorkQueueExecutor", f"parlay has no Work Queue executor: {_HTEX}"),
    _absent("parsl.executors.taskvine.TaskVineExecutor", f"parlay has no TaskVine executor: {_HTEX}"),
    _absent("parsl.executors.taskvine.TaskVineManagerConfig", f"parlay has no TaskVine executor: {_HTEX}"),
    _absent("parsl.executors.taskvine.TaskVineFactoryConfig", f"parlay has no TaskVine executor: {_HTEX}"),
    _absent("parsl.executors.FluxExecutor", f"parlay has no Flux executor: {_HTEX}"),
    _absent("parsl.executors.radical.RadicalPilotExecutor", f"parlay has no RADICAL-Pilot executor: {_HTEX}"),
    _absent("parsl.executors.GlobusComputeExecutor", f"parlay has no Globus Compute executor: {_HTEX}"),
    _absent(
        "parsl.executors.high_throughput.manager_selector.RandomManagerSelector",
        "htex sends tasks to the managers with free capacity; drop manager_selector",
    ),
    _absent(
        "parsl.executors.high_throughput.manager_selector.BlockIdManagerSelector",
        "htex sends tasks to the managers with free capacity; drop manager_selector",
    ),
    _absent("parsl.executors.errors.BadMessage", "htex drops and logs malformed messages"),
    # --- providers, launchers and jobs ---
    *(_same(f"parsl.providers.{n}", f"parlay.providers:{n}", "a plugin") for n in _PROVIDERS),
    _same("parsl.providers.base.ExecutionProvider", "parlay.providers.base:ExecutionProvider"),
    _same("parsl.providers.cluster_provider.ClusterProvider", "parlay.providers.cluster:ClusterProvider"),
    _absent("parsl.providers.errors.ScaleOutFailed", "a refused block raises SubmitException"),
    _absent("parsl.providers.errors.SchedulerMissingArgs", "a missing option raises ConfigurationError"),
    _absent("parsl.providers.errors.ScriptPathError", "a job script that cannot be written raises OSError"),
    *(_same(f"parsl.launchers.{n}", f"parlay.launchers:{n}") for n in _LAUNCHERS),
    _same("parsl.launchers.base.Launcher", "parlay.launchers.base:Launcher"),
    _same("parsl.jobs.states.JobState", "parlay.providers.base:JobState"),
    _same("parsl.jobs.states.JobStatus", "parlay.providers.base:JobStatus"),
    *(
        _same(f"parsl.jobs.error_handlers.{n}", f"parlay.executors.blocks:{n}")
        for n in ("noop_error_handler", "simple_error_handler", "windowed_error_handler")
    ),
    _adapted("parsl.jobs.strategy.Strategy", "parlay.dataflow.strategy:Strategy", "internal"),
    _absent("parsl.jobs.job_status_poller.JobStatusPoller", "parlay's Strategy polls the blocks itself"),
    # --- monitoring ---
    _adapted(
        "parsl.monitoring.MonitoringHub",
        "parlay.monitoring:MonitoringHub",
        _HUB,
    ),
    _adapted(
        "parsl.monitoring.monitoring.MonitoringHub",
        "parlay.monitoring:MonitoringHub",
        _HUB,
    ),
    *(
        _absent(f"parsl.monitoring.radios.{path}", _RADIOS)
        for path in (
            "base.MonitoringRadioReceiver",
            "base.MonitoringRadioSender",
            "base.RadioConfig",
            "filesystem.FilesystemRadio",
            "htex.HTEXRadio",
            "udp.UDPRadio",
            "multiprocessing.MultiprocessingQueueRadio",
        )
    ),
    # --- exceptions ---
    *(_same(f"parsl.{module}.{n}", f"{_ERRORS}:{n}") for module, names in _EXCEPTIONS.items() for n in names),
    _adapted("parsl.app.errors.ParslError", f"{_ERRORS}:ParlayError", "named ParlayError"),
    _adapted("parsl.errors.ParslError", f"{_ERRORS}:ParlayError", "named ParlayError"),
    _absent("parsl.app.errors.AppBadFormatting", "a bash app's formatting error is raised as it is"),
    _absent("parsl.errors.OptionalModuleMissing", "a backend not installed raises BackendNotFound naming its package"),
]

TABLE: dict[str, Name] = {name.parsl: name for name in NAMES}


def parsl_path(parlay_path: str) -> str:
    return "parsl" + parlay_path[len("parlay") :]


def resolve(parsl: str) -> Any:
    """The parlay object for a Parsl path in `TABLE`; `NotInParlay` when parlay does not provide it."""
    name = TABLE[parsl]
    if name.target is None:
        raise NotInParlay(f"parlay does not provide {parsl.rpartition('.')[2]} (Parsl's {parsl}): {name.note}")
    module, _, attribute = name.target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def refuse_if_absent(parsl: str) -> None:
    """Raise `NotInParlay` if `parsl` is a Parsl name parlay does not provide."""
    name = TABLE.get(parsl)
    if name is not None and name.target is None:
        resolve(parsl)


def _modules() -> dict[str, bool]:
    """Each Parsl module of the table, as a parlay module name, and whether it is a package."""
    modules: dict[str, bool] = {}
    for parsl in TABLE:
        parts = ("parlay" + parsl[len("parsl") :]).split(".")[:-1]
        for depth in range(2, len(parts) + 1):
            name = ".".join(parts[:depth])
            modules[name] = modules.get(name, False) or depth < len(parts)
    return modules


class _TableLoader(importlib.abc.Loader):
    def exec_module(self, module: types.ModuleType) -> None:
        prefix = parsl_path(module.__name__) + "."

        def __getattr__(attribute: str) -> Any:
            if prefix + attribute not in TABLE:
                raise AttributeError(f"module {module.__name__!r} has no attribute {attribute!r}")
            value = resolve(prefix + attribute)
            setattr(module, attribute, value)
            return value

        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        module.__doc__ = f"Parsl's {parsl_path(module.__name__)}, for code written for Parsl (see parlay.parsl_names)."


def module_spec(fullname: str) -> importlib.machinery.ModuleSpec | None:
    """A spec for a Parsl module path parlay has no real module for, made from the table."""
    package = _modules().get(fullname)
    if package is None:
        return None
    spec = importlib.machinery.ModuleSpec(fullname, _TableLoader(), is_package=package)
    if package:
        spec.submodule_search_locations = []
    return spec


#: The generated table in `docs/parsl.md`, between these markers.
MARKED = re.compile(r"(<!-- parsl-names -->\n).*?(<!-- /parsl-names -->)", re.DOTALL)


def markdown_table() -> str:
    """Every row of the table, as the "Coming from Parsl" page shows it."""
    lines = ["| Parsl | parlay | |", "|---|---|---|"]
    for name in NAMES:
        where = f"`{name.target.replace(':', '.')}`" if name.target else "—"
        lines.append(f"| `{name.parsl}` | {where} | {name.status}{': ' + name.note if name.note else ''} |")
    return "\n".join(lines) + "\n"


def render_page(text: str) -> str:
    return MARKED.sub(lambda match: match.group(1) + markdown_table() + match.group(2), text)


def main(paths: list[str]) -> int:
    """Rewrite the generated table of each page in `paths` (`python3 dev.py readmes` runs it on docs/parsl.md)."""
    for path in paths:
        with open(path) as stream:
            text = stream.read()
        if render_page(text) != text:
            with open(path, "w") as stream:
                stream.write(render_page(text))
            print(f"rewrote the Parsl names of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
