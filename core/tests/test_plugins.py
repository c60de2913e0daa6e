"""Entry-point discovery, loading errors, lazy backend attributes, hooks and the `parlay` CLI, against
small fake distributions written to a temporary folder on sys.path."""

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from parlay.cli import main
from parlay.errors import BackendNotFound, InvalidPlugin, PluginImportError
from parlay.plugins import hookimpl, registry
from parlay.plugins.manager import Hooks

PLUGIN_MODULE = """
from parlay.executors.threads import ThreadPoolExecutor

class FakeExecutor(ThreadPoolExecutor):
    pass

class NotAnExecutor:
    pass
"""

BROKEN_MODULE = "import a_module_nobody_has\n"


@pytest.fixture
def fake_dists(tmp_path, monkeypatch):
    """Distributions `parlay-executor-fake` (good, invalid, broken) with entry points, nothing imported."""

    def dist(name, entry_points, modules):
        info = tmp_path / f"{name.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
        for module, source in modules.items():
            (tmp_path / f"{module}.py").write_text(source)

    dist(
        "parlay-executor-fake",
        """
        [parlay.executors]
        fake = fake_plugin:FakeExecutor
        not-one = fake_plugin:NotAnExecutor
        broken = broken_plugin:Anything
        gone = missing_plugin_module:Thing
        """,
        {"fake_plugin": PLUGIN_MODULE, "broken_plugin": BROKEN_MODULE},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.available(refresh=True)
    yield tmp_path
    for module in ("fake_plugin", "broken_plugin"):
        sys.modules.pop(module, None)
    monkeypatch.undo()
    registry.available(refresh=True)


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
    assert "pip install parlay-executor-fak" in text


@pytest.mark.parametrize(
    ("kind", "name", "package"),
    [
        ("executors", "HighThroughputExecutor", "parlay-executor-htex"),
        ("providers", "SlurmProvider", "parlay-provider-slurm"),
        ("providers", "PBSProProvider", "parlay-provider-pbs"),
        ("providers", "KubernetesProvider", "parlay-provider-kubernetes"),
        ("launchers", "SrunLauncher", "parlay-launcher-srun"),
        ("launchers", "GnuParallelLauncher", "parlay-launcher-gnu-parallel"),
        ("staging", "zip", "parlay-staging-zip"),
    ],
)
def test_package_names_of_parlays_own_backends(kind, name, package):
    assert registry.package_for(kind, name) == package


def test_missing_backend_names_its_package():
    with pytest.raises(BackendNotFound, match=r"pip install parlay-executor-task-vine$"):
        registry.load("executors", "TaskVineExecutor")


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
    assert not hasattr(parlay.executors, "NoSuchExecutor")
    with pytest.raises(BackendNotFound, match="pip install parlay-executor-task-vine"):
        parlay.executors.TaskVineExecutor


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown plugin kind 'gizmos'"):
        registry.available("gizmos")


# --- hooks ----------------------------------------------------------------------------------------


def test_misspelt_hook_is_caught():
    class Typo:
        @hookimpl
        def parlay_task_state_change(self, task_id):
            pass

    hooks = Hooks()
    with pytest.raises(InvalidPlugin, match="parlay_task_state_change"):
        hooks.register(Typo(), name="typo-plugin")
    assert not hooks.pm.get_plugins()


def test_task_listener_flag():
    class Listener:
        @hookimpl
        def parlay_task_state_changed(self, task_id):
            pass

    hooks = Hooks()
    assert not hooks.has_task_listeners
    listener = Listener()
    hooks.register(listener)
    assert hooks.has_task_listeners
    hooks.unregister(listener)
    assert not hooks.has_task_listeners


def test_event_hook_failure_is_logged_not_raised(caplog):
    class Faulty:
        @hookimpl
        def parlay_executor_started(self, executor):
            raise RuntimeError("monitoring is down")

    hooks = Hooks()
    hooks.register(Faulty(), name="faulty")
    with caplog.at_level(logging.ERROR, logger="parlay.plugins"):
        hooks.executor_started(executor="x")
    assert "plugin faulty failed in parlay_executor_started" in caplog.text


def test_job_preamble_in_registration_order():
    class Modules:
        @hookimpl
        def parlay_provider_job_preamble(self, provider, job_name):
            return ["module load gcc", "module load python"]

    class Venv:
        @hookimpl
        def parlay_provider_job_preamble(self, job_name):
            return f"source /venvs/{job_name}/bin/activate"

    class Nothing:
        @hookimpl
        def parlay_provider_job_preamble(self):
            return None

    hooks = Hooks()
    for plugin in (Modules(), Venv(), Nothing()):
        hooks.register(plugin)
    assert hooks.job_preamble(provider=None, job_name="j1") == [
        "module load gcc",
        "module load python",
        "source /venvs/j1/bin/activate",
    ]


def test_launch_command_wrapping_chains():
    class Container:
        @hookimpl
        def parlay_launcher_command(self, command):
            return f"apptainer exec img.sif {command}"

    class Timer:
        @hookimpl
        def parlay_launcher_command(self, command):
            return f"time {command}"

    hooks = Hooks()
    hooks.register(Container())
    hooks.register(Timer())
    wrapped = hooks.wrap_launch_command(launcher=None, command="worker", tasks_per_node=1, nodes_per_block=1)
    assert wrapped == "time apptainer exec img.sif worker"


def test_shaping_hook_errors_name_the_plugin():
    class Broken:
        @hookimpl
        def parlay_provider_job_preamble(self):
            raise KeyError("site config")

    hooks = Hooks()
    hooks.register(Broken(), name="site-plugin")
    with pytest.raises(KeyError) as info:
        hooks.job_preamble(provider=None, job_name="j")
    assert "plugin site-plugin" in "".join(info.value.__notes__)


def test_staging_first_result_wins():
    class Http:
        @hookimpl
        def parlay_staging_for(self, file):
            return "http-staging" if file.startswith("http") else None

    hooks = Hooks()
    hooks.register(Http())
    assert hooks.staging_for(file="https://x/y", executor=None) == "http-staging"
    assert hooks.staging_for(file="globus://x/y", executor=None) is None


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_lists_plugins_without_importing_them(fake_dists, capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "executors  threads" in out
    assert "parlay-executor-fake" in out and "1.2.3" in out
    assert "launchers  single-node" in out
    assert "broken_plugin" not in sys.modules


def test_cli_check_reports_broken_plugins(fake_dists, capsys):
    assert main(["plugins", "--check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    [broken] = [line for line in lines if " broken " in line]
    assert "broken: executor 'broken'" in broken
    [good] = [line for line in lines if " fake " in line]
    assert good.endswith("ok")


def test_cli_json(fake_dists, capsys):
    import json

    main(["plugins", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert any(r["name"] == "threads" and r["kind"] == "executors" for r in rows)


def test_plugins_add_subcommands(capsys):
    from parlay.plugins.manager import get_hooks

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


def test_cli_as_a_command(fake_dists):
    env = {**os.environ, "PYTHONPATH": str(fake_dists)}
    result = subprocess.run(
        [sys.executable, "-m", "parlay.cli", "plugins", "--check"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1
    assert "parlay-executor-fake" in result.stdout
    version = subprocess.run([sys.executable, "-m", "parlay.cli", "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("parlay ")
