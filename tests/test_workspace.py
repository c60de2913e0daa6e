"""Every plugin folder is a proper workspace member: its own distribution, entry point, README and tests,
found by the same glob the workspace uses."""

import glob
import os
import re
import sys

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = {"executors": "executor", "providers": "provider", "launchers": "launcher", "staging": "staging", "hooks": ""}
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
    word = f"{KINDS[kind]}-" if KINDS[kind] else ""  # a hooks plugin is `parlay-<name>`
    assert project["name"] == f"parlay-{word}{name}"
    assert any(dep.startswith("parlay") for dep in project["dependencies"])
    entry_points = project["entry-points"][f"parlay.{kind}"]
    assert name in entry_points, f"entry point {name!r} missing from group parlay.{kind}"
    import_name = project["name"].replace("-", "_")
    assert entry_points[name].startswith(import_name + ".") or entry_points[name].startswith(import_name + ":")
    assert os.path.isdir(os.path.join(folder, "src", import_name))
    assert os.path.isfile(os.path.join(folder, "README.md"))
    assert glob.glob(os.path.join(folder, "tests", "test_*.py")), "a plugin needs tests"


def test_root_workspace_globs_match_plugin_layout():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as stream:
        members = tomllib.load(stream)["tool"]["uv"]["workspace"]["members"]
    assert members == ["core", "plugins/*/*"]


CONFORMANCE = [(p, "ExecutorConformance") for p in PLUGINS if "/executors/" in p] + [
    (p, "ProviderConformance|CloudProviderConformance")
    for p in PLUGINS
    if "/providers/" in p and not p.endswith("local")  # batch and cloud ones
]


@pytest.mark.parametrize("folder, suite", CONFORMANCE, ids=[os.path.relpath(p, ROOT) for p, _ in CONFORMANCE])
def test_executor_and_batch_provider_plugins_run_their_conformance_suite(folder, suite):
    sources = ""
    for path in glob.glob(os.path.join(folder, "tests", "*.py")):
        with open(path) as stream:
            sources += stream.read()
    assert any(f"({name})" in sources for name in suite.split("|"))


def declared_entry_points() -> dict[str, dict[str, tuple[str, str]]]:
    """kind -> entry-point name -> (class name, distribution), from every plugin folder's pyproject.toml."""
    found: dict[str, dict[str, tuple[str, str]]] = {kind: {} for kind in KINDS}
    for folder in PLUGINS:
        with open(os.path.join(folder, "pyproject.toml"), "rb") as stream:
            project = tomllib.load(stream)["project"]
        for group, entries in project["entry-points"].items():
            kind = group.removeprefix("parlay.")
            for name, value in entries.items():
                found[kind][name] = (value.rpartition(":")[2], project["name"])
    return found


def test_the_install_hint_catalogue_matches_the_plugin_folders():
    from parlay.plugins.catalogue import CATALOGUE

    assert declared_entry_points() == CATALOGUE, "update core/src/parlay/plugins/catalogue.py"


# Scheduler and cloud words beside the catalogue's own names; `htex_auto_scale` is a strategy's name (Parsl's).
BACKEND_WORDS = ["sbatch", "squeue", "scancel", "sacct", "qsub", "qstat", "qdel", "qacct", "bsub", "bjobs", "bkill",
                 "condor_submit", "grid engine", "gridengine", "kubernetes", "aws", "ec2", "gcp", "azure"]  # fmt: skip


def test_no_kernel_module_names_a_particular_backend():
    """Only the catalogue of install hints, the table of Parsl's names (which maps them onto parlay's
    plugins) and the staging suite (which runs on parlay's executors) may name parlay's own plugins,
    schedulers or clouds."""
    from parlay.plugins.catalogue import CATALOGUE

    words = set(BACKEND_WORDS)
    for entries in CATALOGUE.values():
        for name, (class_name, distribution) in entries.items():
            words |= {class_name, distribution, distribution.replace("-", "_")}
            if name not in ("local", "processes", "monitoring", "zip", "http", "ftp"):  # words, builtins, protocols
                words.add(name)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(words))) + r")(?![\w-])", re.IGNORECASE)
    offenders = []
    for path in sorted(glob.glob(os.path.join(ROOT, "core", "src", "**", "*.py"), recursive=True)):
        # the staging suite runs each staging plugin on parlay's own executors, by name
        allowed = (os.path.join("plugins", "catalogue.py"), "parsl_names.py", os.path.join("testing", "staging.py"))
        if path.endswith(allowed):
            continue
        with open(path) as stream:
            for number, line in enumerate(stream, 1):
                match = pattern.search(line.replace("htex_auto_scale", ""))
                if match:
                    offenders.append(f"{os.path.relpath(path, ROOT)}:{number}: {match.group(0)}")
    assert not offenders, "the kernel names particular backends:\n" + "\n".join(offenders)
