"""`import parlay` stays cheap: no plugin, no pyzmq, no dill, no pluggy until they are needed."""

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("zmq", "dill", "pluggy", "importlib_metadata")


def imported_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    return json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))


@pytest.mark.parametrize(
    "statement",
    [
        "import parlay",
        "from parlay import python_app, bash_app, join_app, Config, File, load, dfk, AUTO_LOGNAME",
        "import parlay.errors",
    ],
)
def test_import_loads_no_plugin_and_no_heavy_dependency(statement):
    modules = imported_after(statement)
    # installed hooks plugins act for every run: only their entry-point modules (and packages) load
    from importlib.metadata import entry_points

    hooks = {ep.value.partition(":")[0] for ep in entry_points(group="parlay.hooks")}
    hooks |= {name.rpartition(".")[0] for name in hooks}
    assert not [m for m in modules if m.startswith("parlay_") and m not in hooks]
    assert not [m for m in modules if m.split(".")[0] in ("sqlalchemy", "psutil")], "a plugin was imported"
    assert not [m for m in modules if m.split(".")[0] in FORBIDDEN]


def test_running_on_threads_never_needs_dill_or_zmq():
    statement = (
        "import parlay, tempfile; "
        "app = parlay.python_app(lambda: 1); "
        "dfk = parlay.load(parlay.Config(run_dir=tempfile.mkdtemp())); "
        "assert app().result() == 1; dfk.cleanup()"
    )
    modules = imported_after(statement)
    assert not [m for m in modules if m.split(".")[0] in ("zmq", "dill")]
    # installed hooks plugins act for every run: only their entry-point modules (and packages) load
    from importlib.metadata import entry_points

    hooks = {ep.value.partition(":")[0] for ep in entry_points(group="parlay.hooks")}
    hooks |= {name.rpartition(".")[0] for name in hooks}
    assert not [m for m in modules if m.startswith("parlay_") and m not in hooks]
    assert not [m for m in modules if m.split(".")[0] in ("sqlalchemy", "psutil")]
