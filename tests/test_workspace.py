"""Every plugin folder is a proper workspace member: its own distribution, entry point, README and tests,
found by the same glob the workspace uses."""

import glob
import os
import sys

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = {"executors": "executor", "providers": "provider", "launchers": "launcher", "staging": "staging"}
PLUGINS = sorted(glob.glob(os.path.join(ROOT, "plugins", "*", "*")))


def test_plugins_exist():
    assert PLUGINS, "no plugin folders found under plugins/*/*"


@pytest.mark.parametrize("folder", PLUGINS, ids=lambda p: os.path.relpath(p, ROOT))
def test_plugin_folder_is_a_distribution(folder):
    kind = os.path.basename(os.path.dirname(folder))
    name = os.path.basename(folder)
    assert kind in KINDS, f"unknown plugin kind folder {kind!r}"
    with open(os.path.join(folder, "pyproject.toml"), "rb") as stream:
        project = tomllib.load(stream)["project"]
    assert project["name"] == f"parlay-{KINDS[kind]}-{name}"
    assert any(dep.startswith("parlay") for dep in project["dependencies"])
    entry_points = project["entry-points"][f"parlay.{kind}"]
    assert name in entry_points, f"entry point {name!r} missing from group parlay.{kind}"
    import_name = f"parlay_{KINDS[kind]}_{name.replace('-', '_')}"
    assert entry_points[name].startswith(import_name + ".") or entry_points[name].startswith(import_name + ":")
    assert os.path.isdir(os.path.join(folder, "src", import_name))
    assert os.path.isfile(os.path.join(folder, "README.md"))
    assert glob.glob(os.path.join(folder, "tests", "test_*.py")), "a plugin needs tests"


def test_root_workspace_globs_match_plugin_layout():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as stream:
        members = tomllib.load(stream)["tool"]["uv"]["workspace"]["members"]
    assert members == ["core", "plugins/*/*"]


CONFORMANCE = [(p, "ExecutorConformance") for p in PLUGINS if "/executors/" in p] + [
    (p, "ProviderConformance")
    for p in PLUGINS
    if "/providers/" in p and not p.endswith("local")  # batch ones
]


@pytest.mark.parametrize("folder, suite", CONFORMANCE, ids=[os.path.relpath(p, ROOT) for p, _ in CONFORMANCE])
def test_executor_and_batch_provider_plugins_run_their_conformance_suite(folder, suite):
    sources = ""
    for path in glob.glob(os.path.join(folder, "tests", "*.py")):
        with open(path) as stream:
            sources += stream.read()
    assert f"({suite})" in sources
