"""JsrunLauncher: the exact command line, and its script run under a fake `jsrun` that starts the copies the way
LSF's job step manager would."""

import pytest

from parlay.errors import BadLauncher
from parlay.testing.launchers import FakeTools, assert_resolved_lazily, tricky
from parlay_launcher_jsrun import JsrunLauncher


@pytest.fixture
def run(tmp_path):
    """Run a launcher's script with a fake jsrun (`-n` copies, each with JSM_NAMESPACE_RANK) first on PATH; return
    (exit code, jsrun calls)."""
    tools = FakeTools(tmp_path)
    tools.add_launcher("jsrun", "JSM_NAMESPACE_RANK", "-n")
    return lambda script: tools.run(script)[:2]


def test_renders_one_launch():
    assert JsrunLauncher(overrides="-a 1 -c 7")("worker --name 'a b'", 2, 3) == (
        "jsrun -n 6 -r 2 -a 1 -c 7 /bin/bash -c 'worker --name '\"'\"'a b'\"'\"''"
    )
    assert JsrunLauncher(debug=True)("worker", 1, 1) == "set -x\njsrun -n 1 -r 1 /bin/bash -c worker"


def test_runs_every_copy_with_the_command_intact(run, tmp_path):
    command, expected = tricky("JSM_NAMESPACE_RANK")
    code, [call] = run(JsrunLauncher(overrides="-a 1 -c 7")(command, 2, 2))
    assert code == 0
    assert call == ["jsrun", "-n", "4", "-r", "2", "-a", "1", "-c", "7", "/bin/bash", "-c", command]
    for rank in range(4):
        assert (tmp_path / f"out.{rank}").read_text() == expected(rank)


def test_a_failing_copy_fails_the_job(run):
    code, _ = run(JsrunLauncher()('[ "$JSM_NAMESPACE_RANK" != 1 ] || exit 3', 1, 2))
    assert code == 3


@pytest.mark.parametrize("overrides", [["-a", "1"], None, "-a 1\nrm -rf ~"])
def test_bad_overrides(overrides):
    with pytest.raises(BadLauncher, match=r"JsrunLauncher\.overrides=.*: expected a string of one line"):
        JsrunLauncher(overrides=overrides)


def test_repr():
    assert repr(JsrunLauncher(overrides="-g 1")) == "JsrunLauncher(debug=False, overrides='-g 1')"


def test_resolved_lazily_through_entry_points():
    assert_resolved_lazily({"jsrun": JsrunLauncher})
