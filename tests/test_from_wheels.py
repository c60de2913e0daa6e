"""parlay's plugin promise, met as a site meets it: wheels in clean virtual environments outside the repository
(the harness is in this folder's conftest.py).

- A site publishes its own provider, starting from `templates/provider`, and its own hooks plugin
  (`examples/site-plugin`): each passes its own tests.
- Users install only what they need: with the kernel, one provider and one launcher, that is all there is,
  and a backend that is not installed says which package to install.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "core"
SLURM = "plugins/providers/slurm"
SRUN = "plugins/launchers/srun"
HTEX = "plugins/executors/htex"
LOCAL = "plugins/providers/local"  # a dependency of htex
SITE_PLUGIN = "examples/site-plugin"
TEMPLATE = "templates/provider"


def renamed_copy(folder: Path, destination: Path, words: dict[str, str]) -> Path:
    """A copy of `folder` in `destination` with each word of `words` replaced, in file names and contents."""
    for source in sorted(folder.rglob("*")):
        if "__pycache__" in source.parts or source.suffix == ".pyc":
            continue
        relative = str(source.relative_to(folder))
        for old, new in words.items():
            relative = relative.replace(old, new)
        target = destination / relative
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        text = source.read_text()
        for old, new in words.items():
            text = text.replace(old, new)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return destination


def test_the_provider_template_works_as_a_third_party_plugin(clean_venv, tmp_path_factory):
    """Copied out of the repository and renamed as a site would, built as a wheel beside parlay's: it is
    listed and checked, describes its options, keeps its README table current, and passes its own tests
    (the conformance suite and a workflow on blocks of its fake scheduler)."""
    plugin = renamed_copy(
        ROOT / TEMPLATE,
        tmp_path_factory.mktemp("site") / "parlay-provider-acme",
        {"mysched": "acme", "MySched": "Acme", "MYSCHED": "ACME"},
    )
    venv = clean_venv(KERNEL, HTEX, LOCAL, f"{plugin}[test]")
    listed = {
        row["name"]: row for row in json.loads(venv.run("parlay", "plugins", "--check", "--json").stdout)["plugins"]
    }
    assert listed["acme"]["distribution"] == "parlay-provider-acme" and listed["acme"]["status"] == "ok"
    described = venv.run("parlay", "plugins", "--describe", "AcmeProvider").stdout
    assert "provider 'acme'" in described and "queue = None" in described
    assert venv.run("python", "-m", "parlay.backend_docs", str(plugin / "README.md")).stdout == "", "table current"
    summary = venv.pytest(plugin / "tests").stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ passed", summary) and "failed" not in summary and "skipped" not in summary, summary


def test_the_site_plugin_passes_its_own_tests(clean_venv):
    venv = clean_venv(KERNEL, SLURM, HTEX, LOCAL, f"{SITE_PLUGIN}[test]")
    summary = venv.pytest(f"{SITE_PLUGIN}/tests").stdout.strip().splitlines()[-1]
    sources = "".join(path.read_text() for path in (ROOT / SITE_PLUGIN / "tests").glob("test_*.py"))
    written = len(re.findall(r"^def test_", sources, re.MULTILINE))
    assert re.match(rf"{written} passed\b", summary), f"{written} tests written, but: {summary}"


@pytest.fixture(scope="module")
def slurm_only(clean_venv):
    """The kernel, Slurm's provider and srun's launcher, from wheels: nothing else of parlay's."""
    return clean_venv(KERNEL, SLURM, SRUN)


def test_plugins_lists_the_kernels_builtins_and_the_two_plugins_only(slurm_only, wheelhouse):
    listed = json.loads(slurm_only.run("parlay", "plugins", "--json").stdout)
    found = {(row["kind"], row["name"], row["distribution"]) for row in listed["plugins"]}
    declared = {
        (group.removeprefix("parlay."), name, distribution)
        for group, name, distribution in wheelhouse.entry_points(KERNEL, SLURM, SRUN)
        if group.startswith("parlay.")
    }
    assert {("executors", "threads", "parlay"), ("providers", "slurm", "parlay-provider-slurm"),
            ("launchers", "srun", "parlay-launcher-srun")} <= declared  # fmt: skip
    assert found == declared
    assert listed["clashes"] == []


def test_import_parlay_imports_no_plugin_and_no_zmq(slurm_only):
    state = json.loads(
        slurm_only.python("""
            import importlib.util, json, sys
            import parlay
            print(json.dumps({"modules": sorted(sys.modules), "zmq_installed": bool(importlib.util.find_spec("zmq"))}))
        """).stdout
    )
    assert [name for name in state["modules"] if name.startswith("parlay_")] == []
    assert [name for name in state["modules"] if name.split(".")[0] == "zmq"] == []
    assert not state["zmq_installed"]  # only htex needs pyzmq, and it is not installed


def test_a_backend_that_is_not_installed_names_its_package(slurm_only):
    failure = json.loads(
        slurm_only.python("""
            import json
            try:
                from parlay.executors import HighThroughputExecutor
            except ImportError as exc:
                print(json.dumps({"type": f"{type(exc).__module__}.{type(exc).__name__}", "message": str(exc)}))
            else:
                print("null")
        """).stdout
    )
    assert failure is not None, "HighThroughputExecutor imported without parlay-executor-htex"
    assert failure["type"] == "parlay.errors.BackendNotFound"
    assert "pip install parlay-executor-htex" in failure["message"]
    assert "cannot import name" not in failure["message"]


def test_a_tiny_workflow_runs_on_the_default_thread_executor(slurm_only):
    printed = slurm_only.python("""
        import parlay

        @parlay.python_app
        def square(x):
            return x * x

        @parlay.python_app
        def total(*parts):
            return sum(parts)

        with parlay.load(parlay.Config(run_dir="runinfo")):
            print(total(*[square(i) for i in range(5)]).result(timeout=60))
    """).stdout
    assert printed.strip() == "30"


def test_a_slurm_job_script_renders_with_srun(slurm_only):
    script = slurm_only.python("""
        from parlay.launchers import SrunLauncher
        from parlay.providers import SlurmProvider

        provider = SlurmProvider(partition="debug", launcher=SrunLauncher())
        provider.script_dir = "scripts"
        print(provider.job_script("parlay-worker --block 0", 2, "block-0"))
    """).stdout
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --partition=debug" in lines
    assert "#SBATCH --ntasks-per-node=2" in lines
    assert [line for line in lines if line.startswith("srun ")], script
    assert "parlay-worker --block 0" in script
