"""Entry-point discovery, loading errors, lazy backend attributes, hooks through pluggy, per-run plugins,
broken and disabled plugins, name clashes and the `parlay plugins` CLI, against small fake distributions
written to a temporary folder on sys.path."""

import contextlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import types

import pytest

import parlay
from parlay import Config, python_app
from parlay.cli import main
from parlay.errors import (
    BackendNotFound,
    ConfigurationError,
    InvalidPlugin,
    NoDataFlowKernelError,
    PluginConflict,
    PluginImportError,
    PluginWarning,
)
from parlay.plugins import hookimpl, hookspec, manager, registry
from parlay.plugins.manager import Hooks, get_hooks

TIMEOUT = 60

EXECUTOR_MODULE = """
from parlay.executors.threads import ThreadPoolExecutor

class FakeExecutor(ThreadPoolExecutor):
    pass

class NotAnExecutor:
    pass
"""

# A site's hooks plugin that records what it sees into a file named by an environment variable.
SITE_HOOKS = """
import os
from parlay.plugins import hookimpl

@hookimpl
def parlay_workflow_started(run_dir):
    path = os.environ.get("SITE_HOOKS_LOG")
    if path:
        with open(path, "a") as stream:
            stream.write("started\\n")

@hookimpl
def parlay_provider_job_preamble():
    return "module load site-python"
"""
TYPO_HOOKS = """
from parlay.plugins import hookimpl

@hookimpl
def parlay_workflow_startd(run_dir):
    pass
"""
# One plugin offers a hook of its own; another implements it (and is registered first, by name order).
OFFERS_HOOKS = """
from parlay.plugins import hookimpl, hookspec

class Specs:
    @hookspec
    def monitoring_row_written(self, table): ...

@hookimpl
def parlay_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(Specs)
"""
USES_HOOKS = """
from parlay.plugins import hookimpl

seen = []

@hookimpl
def monitoring_row_written(table):
    seen.append(table)
"""


def write_dist(root, name, entry_points, modules=None, version="1.2.3"):
    """A distribution `name` in `root` (a folder on sys.path) with `entry_points`, nothing imported."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for module, source in (modules or {}).items():
        (root / f"{module}.py").write_text(source)


@pytest.fixture
def fake_dists(tmp_path, monkeypatch):
    """Executors `fake` (good), `not-one` (invalid), `broken` and `gone` (failing imports) and hooks plugins
    `site` (good), `typo` (a misspelt hook), `broken-hooks` (fails to import), `offers`/`uses` (a hook one
    plugin offers and the other implements); the process-wide hooks are rebuilt with them, and after."""
    write_dist(
        tmp_path,
        "parlay-executor-fake",
        """
        [parlay.executors]
        fake = fake_plugin:FakeExecutor
        not-one = fake_plugin:NotAnExecutor
        broken = broken_plugin:Anything
        gone = missing_plugin_module:Thing
        """,
        {"fake_plugin": EXECUTOR_MODULE, "broken_plugin": "import a_module_nobody_has\n"},
    )
    write_dist(
        tmp_path,
        "site-hooks",
        """
        [parlay.hooks]
        site = site_hooks
        typo = typo_hooks
        broken-hooks = broken_plugin
        a-uses = uses_hooks
        b-offers = offers_hooks
        """,
        {"site_hooks": SITE_HOOKS, "typo_hooks": TYPO_HOOKS, "offers_hooks": OFFERS_HOOKS, "uses_hooks": USES_HOOKS},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(manager, "_process_hooks", None)
    registry.available(refresh=True)
    yield tmp_path
    for module in ("fake_plugin", "broken_plugin", "site_hooks", "typo_hooks", "offers_hooks", "uses_hooks"):
        sys.modules.pop(module, None)
    monkeypatch.undo()
    manager._process_hooks = None
    registry.available(refresh=True)


def run_python(code, root, **env):
    """Run `code` in a new Python with `root` on its path; its completed process, output as text."""
    environment = {**os.environ, "PYTHONPATH": str(root), **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environment, timeout=120
    )


# --- discovery and loading --------------------------------------------------------------------------


def test_discovery_imports_nothing(fake_dists):
    names = {b.name: b for b in registry.available("executors")}
    assert {"threads", "fake", "broken", "not-one"} <= set(names)
    assert names["fake"].distribution == "parlay-executor-fake"
    assert names["fake"].version == "1.2.3"
    assert names["fake"].class_name == "FakeExecutor"
    assert "fake_plugin" not in sys.modules
    assert "broken_plugin" not in sys.modules


def test_load_by_name_and_by_class_name(fake_dists):
    by_name = registry.load("executors", "fake")
    assert by_name.__name__ == "FakeExecutor"
    assert registry.load("executors", "FakeExecutor") is by_name
    assert "broken_plugin" not in sys.modules, "loading one plugin imported another"


def test_backend_not_found(fake_dists):
    with pytest.raises(BackendNotFound) as info:
        registry.load("executors", "fak")
    text = str(info.value)
    assert "no executor named 'fak' is installed" in text
    assert "fake" in text and "threads" in text
    assert "Did you mean 'fake'" in text
    assert "pip install" not in text, "only parlay's own backends, from the catalogue, get an install hint"


def test_plugin_that_fails_to_import(fake_dists):
    with pytest.raises(PluginImportError) as info:
        registry.load("executors", "broken")
    text = str(info.value)
    assert "executor 'broken' (broken_plugin:Anything, from parlay-executor-fake 1.2.3)" in text
    assert "needs the module 'a_module_nobody_has', which is not installed" in text
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_plugin_whose_module_is_gone(fake_dists):
    with pytest.raises(PluginImportError, match="No module named 'missing_plugin_module'"):
        registry.load("executors", "gone")


def test_invalid_plugin(fake_dists):
    with pytest.raises(InvalidPlugin, match=r"must be a subclass of parlay\.executors\.base\.ParlayExecutor"):
        registry.load("executors", "not-one")


def test_lazy_attributes(fake_dists):
    import parlay.executors

    assert parlay.executors.FakeExecutor.__name__ == "FakeExecutor"
    assert "FakeExecutor" in dir(parlay.executors)
    with pytest.raises(AttributeError):
        parlay.executors._private
    from parlay.executors import base  # a submodule still imports as one

    assert base.__name__ == "parlay.executors.base"


@pytest.mark.parametrize("kind", ["executors", "providers", "launchers", "staging"])
def test_from_import_shows_parlays_message(kind):
    """`from parlay.<kind> import X` for a backend that is not installed shows which package to install."""
    name = {"executors": "HighThroughputExecutor", "providers": "SlurmProvider", "launchers": "SrunLauncher"}
    wanted = name.get(kind, "NoSuchStaging")
    code = f"""
        import importlib.metadata as metadata
        real = metadata.entry_points
        # this environment without the plugin that provides {wanted}
        metadata.entry_points = lambda group: [ep for ep in real(group=group) if ep.value.split(":")[-1] != "{wanted}"]
        from parlay.{kind} import {wanted}
    """
    result = run_python(code, ".")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("parlay.errors.BackendNotFound: "), result.stderr
    assert "cannot import name" not in result.stderr
    assert f"named {wanted!r} is installed" in last
    if kind != "staging":
        assert "pip install parlay-" in last, last


def test_catalogue_hint_for_parlays_own_backend(monkeypatch):
    monkeypatch.setattr(registry, "available", lambda kind=None, refresh=False: [])
    with pytest.raises(BackendNotFound, match=r"It is parlay's own: pip install parlay-provider-pbs$"):
        registry.find("providers", "TorqueProvider")
    with pytest.raises(BackendNotFound, match=r"It is parlay's own: pip install parlay-launcher-mpiexec$"):
        registry.find("launchers", "mpirun")


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown plugin kind 'gizmos'"):
        registry.available("gizmos")


# --- name clashes -----------------------------------------------------------------------------------


@pytest.fixture
def clashing_dists(tmp_path, monkeypatch):
    for dist, version in (("parlay-provider-site-a", "1.0"), ("parlay-provider-site-b", "2.0")):
        write_dist(tmp_path, dist, "[parlay.providers]\nsiteslurm = nowhere:SiteSlurmProvider\n", version=version)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.available(refresh=True)
    yield tmp_path
    monkeypatch.undo()
    registry.available(refresh=True)


def test_a_name_clash_is_an_error_naming_both(clashing_dists):
    for name in ("siteslurm", "SiteSlurmProvider"):
        with pytest.raises(PluginConflict) as info:
            registry.find("providers", name)
        assert "parlay-provider-site-a 1.0" in str(info.value) and "parlay-provider-site-b 2.0" in str(info.value)


def test_parlay_plugins_reports_a_clash(clashing_dists, capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    [clash] = [line for line in out.splitlines() if line.startswith("clash:")]
    assert "'siteslurm'" in clash and "parlay-provider-site-a" in clash and "parlay-provider-site-b" in clash
    assert main(["plugins", "--check"]) == 1


# --- hooks through pluggy ---------------------------------------------------------------------------


def Preamble(line, **options):
    """A job-preamble plugin returning `line`, with pluggy's ordering options."""

    @hookimpl(**options)
    def parlay_provider_job_preamble():
        return line

    return types.SimpleNamespace(parlay_provider_job_preamble=parlay_provider_job_preamble)


def test_tryfirst_and_trylast_order_as_pluggy_documents():
    hooks = Hooks()
    for plugin in (Preamble("last", trylast=True), Preamble("first", tryfirst=True), Preamble("a"), Preamble("b")):
        hooks.register(plugin)
    # pluggy: tryfirst ones first, trylast ones last, otherwise the later registered first
    assert hooks.job_preamble(provider=None, job_name="j") == ["first", "b", "a", "last"]


def test_old_and_new_style_wrappers_wrap_a_hook():
    seen = []

    class OldStyle:
        @hookimpl(hookwrapper=True)
        def parlay_provider_job_preamble(self):
            seen.append("old before")
            outcome = yield
            seen.append(f"old after {outcome.get_result()}")

    class NewStyle:
        @hookimpl(wrapper=True)
        def parlay_provider_job_preamble(self):
            seen.append("new before")
            lines = yield
            return [*lines, "added by the wrapper"]

    hooks = Hooks()
    for plugin in (Preamble("module load x"), OldStyle(), NewStyle()):
        hooks.register(plugin)
    assert hooks.job_preamble(provider=None, job_name="j") == ["module load x", "added by the wrapper"]
    assert seen == ["new before", "old before", "old after ['module load x']"]


def test_launch_command_wrappers_compose_around_parlays_own():
    class Container:
        @hookimpl(wrapper=True, tryfirst=True)
        def parlay_launcher_command(self):
            command = yield
            return f"apptainer exec img.sif {command}"

    class Timer:
        @hookimpl(wrapper=True)
        def parlay_launcher_command(self, command):
            inner = yield
            return f"time {inner}"

    hooks = Hooks()
    hooks.register(Timer())
    hooks.register(Container())
    command = hooks.launch_command(launcher=None, command="worker", tasks_per_node=1, nodes_per_block=1)
    assert command == "apptainer exec img.sif time worker"
    assert Hooks().launch_command(launcher=None, command="w", tasks_per_node=1, nodes_per_block=1) == "w"


def test_staging_first_result_wins():
    class Http:
        @hookimpl
        def parlay_staging_for(self, file):
            return "http-staging" if file.startswith("http") else None

    class Everything:
        @hookimpl(trylast=True)
        def parlay_staging_for(self):
            return "catch-all"

    hooks = Hooks()
    hooks.register(Http())
    hooks.register(Everything())
    assert hooks.staging_for(file="https://x/y", executor=None) == "http-staging"
    assert hooks.staging_for(file="globus://x/y", executor=None) == "catch-all"


def test_misspelt_hook_is_caught():
    class Typo:
        @hookimpl
        def parlay_task_state_change(self, task_id):
            pass

    hooks = Hooks()
    with pytest.raises(InvalidPlugin, match="'typo-plugin': no hook specification for parlay_task_state_change"):
        hooks.register(Typo(), name="typo-plugin")
    assert not [p for p in hooks.pm.get_plugins() if isinstance(p, Typo)]


def test_an_argument_the_spec_lacks_is_refused():
    class Greedy:
        @hookimpl
        def parlay_executor_started(self, executor, colour):
            pass

    with pytest.raises(InvalidPlugin, match="colour"):
        Hooks().register(Greedy(), name="greedy")


def test_event_hook_failure_is_logged_and_the_others_still_run(caplog):
    calls = []

    class Faulty:
        @hookimpl(tryfirst=True)
        def parlay_executor_started(self, executor):
            raise RuntimeError("monitoring is down")

    class Fine:
        @hookimpl
        def parlay_executor_started(self, executor):
            calls.append(executor)

    hooks = Hooks()
    hooks.register(Fine(), name="fine")
    hooks.register(Faulty(), name="faulty")
    with caplog.at_level(logging.DEBUG, logger="parlay.plugins"):
        hooks.executor_started(executor="x")
        hooks.executor_started(executor="y")
    assert calls == ["x", "y"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "plugin faulty failed in parlay_executor_started" in errors[0].getMessage()
    assert "monitoring is down" in caplog.text


def test_shaping_hook_errors_name_the_plugin():
    class Broken:
        @hookimpl
        def parlay_provider_job_preamble(self):
            raise KeyError("site config")

    hooks = Hooks()
    hooks.register(Broken(), name="site-plugin")
    with pytest.raises(KeyError) as info:
        hooks.job_preamble(provider=None, job_name="j")
    assert "in parlay_provider_job_preamble of plugin site-plugin" in "".join(info.value.__notes__)


def test_plugins_add_hook_specifications_of_their_own():
    class MonitoringSpecs:
        @hookspec(firstresult=True)
        def monitoring_database_url(self, run_dir):
            """Where a monitoring plugin writes."""

    class Monitoring:
        @hookimpl
        def parlay_addhooks(self, pluginmanager):
            pluginmanager.add_hookspecs(MonitoringSpecs)

    class SiteDatabase:
        @hookimpl
        def monitoring_database_url(self, run_dir):
            return f"postgresql://db/{run_dir}"

    hooks = Hooks()
    hooks.register(Monitoring())
    hooks.register(SiteDatabase())
    assert hooks.pm.hook.monitoring_database_url(run_dir="r1") == "postgresql://db/r1"
    run = hooks.for_run()
    assert run.pm.hook.monitoring_database_url(run_dir="r2") == "postgresql://db/r2", "runs see added hooks"
    run.close()


# --- plugins belong to their run --------------------------------------------------------------------


class Recorder:
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    @hookimpl
    def parlay_task_state_changed(self, task_id, new_state):
        with self.lock:
            self.events.append((task_id, new_state))

    @hookimpl
    def parlay_workflow_started(self, run_dir):
        self.run_dir = run_dir


@python_app
def add(a, b=0):
    return a + b


def test_a_config_plugin_acts_for_its_run_only(tmp_path):
    first, second = Recorder(), Recorder()
    one = parlay.DataFlowKernel(Config(run_dir=str(tmp_path / "one"), plugins=[first]))
    two = parlay.DataFlowKernel(Config(run_dir=str(tmp_path / "two"), plugins=[second]))
    try:
        one.submit(add, (1,), {}).result(TIMEOUT)
        two.submit(add, (2,), {}).result(TIMEOUT)
        two.submit(add, (3,), {}).result(TIMEOUT)
    finally:
        one.cleanup()
        two.cleanup()
    assert first.run_dir == one.run_dir and second.run_dir == two.run_dir
    assert [e for e in first.events if e[1] == "exec_done"] == [(0, "exec_done")]
    assert [e for e in second.events if e[1] == "exec_done"] == [(0, "exec_done"), (1, "exec_done")]
    assert not get_hooks().pm.is_registered(first) and one.hooks.pm.get_plugins() == set()
    with parlay.load(Config(run_dir=str(tmp_path / "three"))) as later:
        add(4).result(TIMEOUT)
        assert not later.hooks.pm.is_registered(first) and not later.hooks.pm.is_registered(second)
    assert len(first.events) == 3, "a plugin of a finished run hears nothing of later runs"


def test_a_plugin_registered_while_a_run_goes_starts_receiving_events(run_dir):
    process_wide, run_only = Recorder(), Recorder()
    with parlay.load(Config(run_dir=run_dir)) as dfk:
        add(1).result(TIMEOUT)
        assert not dfk.hooks.task_listeners, "nothing listens yet: the hook is skipped"
        get_hooks().register(process_wide)
        dfk.hooks.register(run_only)
        try:
            assert dfk.hooks.task_listeners
            add(2).result(TIMEOUT)
            parlay.wait_for_current_tasks()
        finally:
            get_hooks().unregister(process_wide)
        assert not dfk.hooks.pm.is_registered(process_wide), "unregistering reaches the run too"
    for recorder in (process_wide, run_only):
        assert (1, "exec_done") in recorder.events and (0, "exec_done") not in recorder.events


def test_a_hook_nobody_implements_is_never_called(run_dir, monkeypatch):
    def called(*args, **kwargs):
        raise AssertionError("a per-task hook was called with no implementation")

    monkeypatch.setattr(Hooks, "_direct_call", lambda self, name, gather=False: called)
    with parlay.load(Config(run_dir=run_dir)):
        assert sum(add(i).result(TIMEOUT) for i in range(20)) == 190


def test_configure_adjusts_and_refuses_configs(run_dir):
    class Site:
        @hookimpl
        def parlay_configure(self, config):
            if config.retries > 3:
                raise ValueError("this site allows at most 3 retries")
            config.retries = 2

    with parlay.load(Config(run_dir=run_dir, plugins=[Site()])) as dfk:
        assert dfk.config.retries == 2
    with pytest.raises(ConfigurationError, match=r"plugin .*Site.* refused this Config: this site allows at most 3"):
        parlay.load(Config(run_dir=run_dir, retries=5, plugins=[Site()]))
    with pytest.raises(NoDataFlowKernelError):
        parlay.dfk()


def test_per_run_plugins_under_concurrent_runs_and_registrations(monkeypatch):
    """Runs start, fire events and close on several threads while process-wide plugins come and go:
    each run's own plugin hears exactly its run's events, nothing leaks, and a run never keeps a plugin
    that was unregistered meanwhile."""
    inherit = Hooks._inherit

    def slow_inherit(self, *args):  # widen the window in which an unregister could overtake a registration
        time.sleep(0.0005)
        inherit(self, *args)

    monkeypatch.setattr(Hooks, "_inherit", slow_inherit)
    process = Hooks()
    watcher = process.for_run()  # a run that lasts through it all
    stop = threading.Event()
    failures = []
    shared = [Recorder() for _ in range(8)]

    def churn():
        try:
            while not stop.is_set():
                plugin = Recorder()
                process.register(plugin)
                process.unregister(plugin)
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    def contend(register):  # two threads: one registers the shared plugins, the other unregisters them
        try:
            while not stop.is_set():
                for plugin in shared:
                    if register:
                        with contextlib.suppress(InvalidPlugin):  # "already registered"
                            process.register(plugin)
                    else:
                        process.unregister(plugin)
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    def one_run(index):
        try:
            for round_ in range(30):
                own = Recorder()
                run = process.for_run([own])
                for task in range(20):
                    run.task_state_changed(task, "f", None, f"s{index}", "x", None, 0, 0.0, None)
                run.close()
                if own.events != [(task, f"s{index}") for task in range(20)]:
                    failures.append((index, round_, own.events))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    churners = [threading.Thread(target=churn), *(threading.Thread(target=contend, args=(r,)) for r in (True, False))]
    for thread in churners:
        thread.start()
    runs = [threading.Thread(target=one_run, args=(i,)) for i in range(4)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(TIMEOUT)
    stop.set()
    for thread in churners:
        thread.join(TIMEOUT)
    assert not failures, failures[:3]
    recorders = {id(p) for p in process.pm.get_plugins() if isinstance(p, Recorder)}
    assert recorders <= {id(p) for p in shared}, "a churned plugin stayed registered"
    assert {id(p) for p in watcher.pm.get_plugins() if isinstance(p, Recorder)} == recorders, "the run diverged"
    watcher.close()
    assert not process._children, "closed runs are forgotten"


# --- entry-point hooks plugins: broken, disabled, offered hooks --------------------------------------


def test_broken_hooks_plugins_are_reported_and_the_run_goes_on(fake_dists, run_dir):
    with pytest.warns(Warning) as warned:
        hooks = get_hooks()
    messages = [str(w.message) for w in warned]
    assert any("'broken-hooks'" in m and "site-hooks 1.2.3" in m and "a_module_nobody_has" in m for m in messages)
    assert any("'typo'" in m and "parlay_workflow_startd" in m for m in messages)
    assert set(hooks.broken) == {"broken-hooks", "typo"}
    with parlay.load(Config(run_dir=run_dir)) as dfk:
        assert add(1, 2).result(TIMEOUT) == 3
        assert dfk.hooks.job_preamble(provider=None, job_name="j") == ["module load site-python"]
    assert sys.modules["uses_hooks"].seen == []
    hooks.pm.hook.monitoring_row_written(table="task")
    assert sys.modules["uses_hooks"].seen == ["task"], "a hook offered by one plugin reaches another"


def test_config_disables_installed_plugins(fake_dists, run_dir):
    with pytest.warns(Warning):
        get_hooks()
    with parlay.load(Config(run_dir=run_dir, disable_plugins=["site"])) as dfk:
        assert dfk.hooks.job_preamble(provider=None, job_name="j") == []
    with parlay.load(Config(run_dir=run_dir, disable_plugins=["all"])) as dfk:
        assert not dfk.hooks.pm.has_plugin("site (site-hooks)")
    with (
        pytest.warns(Warning, match="Config.disable_plugins names 'sitee'"),
        parlay.load(Config(run_dir=run_dir, disable_plugins=["sitee"])) as dfk,
    ):
        assert dfk.hooks.job_preamble(provider=None, job_name="j") == ["module load site-python"]
    with pytest.raises(ConfigurationError, match="disable_plugins"):
        Config(disable_plugins=[3])


def test_parlay_disable_plugins_and_a_run_in_a_new_process(fake_dists, tmp_path):
    code = f"""
        import warnings
        import parlay
        with parlay.load(parlay.Config(run_dir={str(tmp_path / "runinfo")!r})):
            print(parlay.python_app(lambda: 41)().result() + 1)
    """
    log = tmp_path / "site.log"
    result = run_python(code, fake_dists, SITE_HOOKS_LOG=str(log))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"
    assert log.read_text() == "started\n"
    assert result.stderr.count("PluginWarning") == 2, "each broken plugin is reported once"
    log.unlink()
    result = run_python(code, fake_dists, SITE_HOOKS_LOG=str(log), PARLAY_DISABLE_PLUGINS="site, typo,broken-hooks")
    assert result.returncode == 0 and result.stdout == "42\n", result.stderr
    assert not log.exists() and "PluginWarning" not in result.stderr
    result = run_python(code, fake_dists, SITE_HOOKS_LOG=str(log), PARLAY_DISABLE_PLUGINS="all")
    assert result.returncode == 0 and not log.exists() and "PluginWarning" not in result.stderr


# --- CLI ----------------------------------------------------------------------------------------------


def test_cli_lists_plugins_without_importing_them(fake_dists, capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "executors  threads" in out
    assert "parlay-executor-fake" in out and "1.2.3" in out
    assert "launchers  single-node" in out
    assert "hooks" in out and "site-hooks" in out
    assert "broken_plugin" not in sys.modules and "site_hooks" not in sys.modules


def test_cli_check_reports_broken_plugins(fake_dists, capsys, monkeypatch):
    monkeypatch.setenv("PARLAY_DISABLE_PLUGINS", "a-uses")
    assert main(["plugins", "--check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    status = {line.split()[1]: line for line in lines[1:] if len(line.split()) > 1}
    assert "broken: executor 'broken'" in status["broken"]
    assert status["fake"].endswith("ok") and status["site"].endswith("ok") and status["b-offers"].endswith("ok")
    assert "broken: hooks 'typo'" in status["typo"] and "is invalid" in status["typo"]
    assert "parlay_workflow_startd" in status["typo"]
    assert "broken: hooks 'broken-hooks'" in status["broken-hooks"]
    assert status["a-uses"].endswith("disabled by PARLAY_DISABLE_PLUGINS")


def test_cli_json(fake_dists, capsys):
    main(["plugins", "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert any(r["name"] == "threads" and r["kind"] == "executors" for r in answer["plugins"])
    assert answer["clashes"] == []


def test_plugins_add_subcommands(capsys):
    class Greeter:
        @hookimpl
        def parlay_cli_subcommands(self, subparsers):
            hello = subparsers.add_parser("hello", help="say hello")
            hello.add_argument("who")
            hello.set_defaults(func=lambda args: print(f"hello {args.who}") or 3)

    greeter = Greeter()
    get_hooks().register(greeter)
    try:
        assert main(["hello", "world"]) == 3
    finally:
        get_hooks().unregister(greeter)
    assert capsys.readouterr().out == "hello world\n"


def test_a_plugin_whose_subcommands_fail_leaves_the_others(capsys):
    class Broken:
        @hookimpl
        def parlay_cli_subcommands(self, subparsers):
            raise ImportError("its dashboard module is missing")

    class Greeter:
        @hookimpl
        def parlay_cli_subcommands(self, subparsers):
            subparsers.add_parser("hello").set_defaults(func=lambda args: print("hello") or 0)

    plugins = [Broken(), Greeter()]
    for plugin in plugins:
        get_hooks().register(plugin)
    try:
        with pytest.warns(PluginWarning, match="could not add its parlay subcommands .*dashboard module is missing"):
            assert main(["hello"]) == 0
    finally:
        for plugin in plugins:
            get_hooks().unregister(plugin)
    assert capsys.readouterr().out == "hello\n"


def test_cli_as_a_command(fake_dists):
    result = run_python("from parlay.cli import main; raise SystemExit(main(['plugins', '--check']))", fake_dists)
    assert result.returncode == 1
    assert "parlay-executor-fake" in result.stdout
    version = subprocess.run([sys.executable, "-m", "parlay.cli", "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("parlay ")


def test_describe_prints_a_backends_options(capsys):
    assert main(["plugins", "--describe", "single-node"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("launcher 'single-node' (parlay.launchers.builtin:SingleNodeLauncher, from parlay ")
    assert "fail_on_any = False" in out
    assert main(["plugins", "--describe", "SingleNodeLauncher"]) == 0, "by class name too"
    assert main(["plugins", "--describe", "no-such-thing"]) == 1
    assert "no backend named 'no-such-thing' is installed (" in capsys.readouterr().err
