"""Configs written for Parsl port by replacing `parsl` with `parlay`: each in `tests/parsl_configs/` builds its
Config; the local one runs a workflow here, and the Slurm and Grid Engine ones run one on the real schedulers
the live tests start. A config naming an executor parlay lacks fails at once, saying what to use instead."""

import pathlib

import pytest

import parlay
from parlay import python_app
from parlay.parsl_names import NotInParlay
from parlay.testing import TIMEOUT

CONFIGS = pathlib.Path(__file__).parent / "parsl_configs"
KINDS = sorted(path.stem for path in CONFIGS.glob("*.py"))


def ported(kind, run_dir=None):
    """The `config` of a Parsl config file, with `parsl` replaced by `parlay` as a user would do it."""
    text = (CONFIGS / f"{kind}.py").read_text().replace("parsl", "parlay")
    namespace = {}
    exec(compile(text, f"{kind}.py (ported)", "exec"), namespace)
    config = namespace["config"]
    if run_dir is not None:
        config.run_dir = str(run_dir)
    return config


@python_app
def square(x):
    return x * x


def test_every_kind_of_site_is_covered():
    assert set(KINDS) >= {"aws", "azure", "condor", "kubernetes", "local", "lsf", "pbspro", "sge", "slurm"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_parsl_config_builds_in_parlay(kind, monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")  # as an Azure user has it
    config = ported(kind)
    assert config.executors and config.executors[0].label
    assert config.executors[0].provider.label


def test_the_local_config_runs_a_workflow(tmp_path):
    with parlay.load(ported("local", tmp_path / "runinfo")):
        assert [f.result(TIMEOUT) for f in [square(i) for i in range(50)]] == [i * i for i in range(50)]


@pytest.mark.parametrize("scheduler", ["slurm", "sge"])
def test_a_live_parsl_config_runs_a_workflow(tmp_path, scheduler, request):
    request.getfixturevalue(f"live_{scheduler}")
    with parlay.load(ported(scheduler, tmp_path / "runinfo")):
        assert [f.result(TIMEOUT) for f in [square(i) for i in range(50)]] == [i * i for i in range(50)]


def test_a_config_naming_an_executor_parlay_lacks_fails_at_once():
    text = "from parsl.config import Config\nfrom parsl.executors import WorkQueueExecutor\n"
    with pytest.raises(NotInParlay, match=r"parlay does not provide WorkQueueExecutor.*HighThroughputExecutor"):
        exec(text.replace("parsl", "parlay"), {})
