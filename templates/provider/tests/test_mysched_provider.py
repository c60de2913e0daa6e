"""MySchedProvider: the conformance suite every provider passes (against the fake MySched), the directives
its options render, and a workflow whose tasks run on MySched blocks."""

from pathlib import Path

import pytest

import parlay
from parlay.errors import ConfigurationError
from parlay.testing.fake_scheduler import fake_scheduler
from parlay.testing.providers import TIMEOUT, ProviderConformance
from parlay_provider_mysched import MySchedProvider
from parlay_provider_mysched.fake import FakeMySched


class TestMySchedProvider(ProviderConformance):
    fake_class = FakeMySched

    def make_provider(self, **options):
        return MySchedProvider(queue="debug", **options)


def script_for(tmp_path: Path, **options) -> list[str]:
    provider = MySchedProvider(**options)
    provider.script_dir = str(tmp_path)
    return provider.job_script("worker", 4, "parlay.x.block-0").splitlines()


def test_options_render_their_directives(tmp_path):
    lines = script_for(tmp_path, queue="debug", project="physics", nodes_per_block=2, walltime=5400)
    assert "#MYSCHED --queue=debug" in lines and "#MYSCHED --project=physics" in lines
    assert "#MYSCHED --nodes=2" in lines and "#MYSCHED --tasks-per-node=4" in lines
    assert "#MYSCHED --walltime=01:30:00" in lines
    assert not [line for line in script_for(tmp_path) if "--queue" in line or "--project" in line]


def test_the_queue_may_be_given_by_position():
    assert MySchedProvider("debug").queue == "debug"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"queue": "two words"}, r"MySchedProvider\.queue='two words': expected a name without spaces, or None"),
        ({"nodes_per_block": 0}, r"MySchedProvider\.nodes_per_block=0: expected an integer >= 1"),
        ({"walltime": "soon"}, r"MySchedProvider\.walltime='soon'"),
    ],
)
def test_a_wrong_option_is_named(options, message):
    with pytest.raises(ConfigurationError, match=message):
        MySchedProvider(**options)


def test_a_workflow_runs_on_mysched_blocks(tmp_path, monkeypatch):
    from parlay.executors import HighThroughputExecutor

    @parlay.python_app
    def square(x):
        return x * x

    with fake_scheduler(tmp_path / "mysched", FakeMySched, monkeypatch) as scheduler:
        provider = MySchedProvider(queue="debug", walltime="00:10:00", init_blocks=1, max_blocks=1)
        executor = HighThroughputExecutor(max_workers_per_node=2, address="127.0.0.1", provider=provider)
        config = parlay.Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=0.5)
        with parlay.load(config):
            assert sum(square(i).result(TIMEOUT) for i in range(10)) == 285
            [job] = scheduler.job_ids()
            assert scheduler.active_jobs() == [job], "the block is a MySched job"
        assert scheduler.active_jobs() == [], "cleanup cancels the block"
