"""Each executor, provider and launcher plugin's README (and the kernel's, for its built-ins) carries the options
table of every class it registers, generated from the class's declarations (`parlay.backend_docs`), and the
table is up to date."""

import glob
import os

import pytest

from parlay.backend_docs import MARKED, render_readme
from parlay.plugins import registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = {"executors": "executor", "providers": "provider", "launchers": "launcher"}
REGENERATE = "regenerate the tables with `python3 dev.py readmes`"


def registered(kind: str) -> dict[str, set[str]]:
    """Plugin folder -> the class names its distribution registers under `kind`'s entry points."""
    folders: dict[str, set[str]] = {}
    for backend in registry.available(kind):
        name = backend.distribution.removeprefix(f"parlay-{KINDS[kind]}-")
        folder = os.path.join(ROOT, "plugins", kind, name)
        if os.path.isdir(folder):
            folders.setdefault(folder, set()).add(backend.class_name)
    return folders


PLUGINS = {folder: names for kind in KINDS for folder, names in registered(kind).items()}
#: The kernel's own README documents its built-in backends.
KERNEL = {os.path.join(ROOT, "core"): {b.class_name for kind in KINDS for b in registry.available(kind)
                                       if b.distribution == "parlay"}}  # fmt: skip


def test_every_backend_plugin_is_checked():
    folders = {folder for kind in KINDS for folder in glob.glob(os.path.join(ROOT, "plugins", kind, "*"))}
    assert set(PLUGINS) == folders, "a plugin folder registers no backend of its kind, or is not installed"


@pytest.mark.parametrize("folder", sorted({**PLUGINS, **KERNEL}), ids=lambda folder: os.path.relpath(folder, ROOT))
def test_readme_tables_are_generated_and_current(folder):
    path = os.path.join(folder, "README.md")
    with open(path) as stream:
        text = stream.read()
    tabled = {match.group(2) for match in MARKED.finditer(text)}
    missing = ", ".join(sorted({**PLUGINS, **KERNEL}[folder] - tabled))
    markers = "`<!-- options: NAME -->` and `<!-- /options -->` lines"
    assert not missing, f"{path} has no options table of {missing}: add {markers}, then {REGENERATE}"
    assert render_readme(text) == text, f"the options tables of {path} are out of date: {REGENERATE}"
