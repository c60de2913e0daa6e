"""AprunLauncher: the exact command line, and its script run under a fake `aprun` that starts the copies the way
ALPS would."""

import pytest

from parlay.errors import BadLauncher
from parlay.testing.launchers import FakeTools, assert_resolved_lazily, tricky
from parlay_launcher_aprun import AprunLauncher


@pytest.fixture
def run(tmp_path):
    """Run a launcher's script with a fake aprun (`-n` copies, each with ALPS_APP_PE) first on PATH; return (exit
    code, aprun calls)."""
    tools = FakeTools(tmp_path)
    tools.add_launcher("aprun", "ALPS_APP_PE", "-n")
    return lambda script: tools.run(script)[:2]


def test_renders_one_launch():
    assert AprunLauncher(overrides="-cc none")("worker --name 'a b'", 2, 3) == (
        "aprun -n 6 -N 2 -cc none /bin/bash -c 'worker --name '\"'\"'a b'\"'\"''"
    )
    assert AprunLauncher(debug=True)("worker", 1, 1) == "set -x\naprun -n 1 -N 1 /bin/bash -c worker"


def test_runs_every_copy_with_the_command_intact(run, tmp_path):
    command, expected = tricky("ALPS_APP_PE")
    code, [call] = run(AprunLauncher(overrides="-cc none")(command, 2, 2))
    assert code == 0
    assert call == ["aprun", "-n", "4", "-N", "2", "-cc", "none", "/bin/bash", "-c", command]
    for pe in range(4):
        assert (tmp_path / f"out.{pe}").read_text() == expected(pe)


def test_a_failing_copy_fails_the_job(run):
    code, _ = run(AprunLauncher()('[ "$ALPS_APP_PE" != 1 ] || exit 3', 1, 2))
    assert code == 3


@pytest.mark.parametrize("overrides", [["-cc", "none"], None, "-cc none\nrm -rf ~"])
def test_bad_overrides(overrides):
    with pytest.raises(BadLauncher, match=r"AprunLauncher\.overrides=.*: expected a string of one line"):
        AprunLauncher(overrides=overrides)


def test_repr():
    assert repr(AprunLauncher(overrides="-cc none")) == "AprunLauncher(debug=False, overrides='-cc none')"


def test_resolved_lazily_through_entry_points():
    assert_resolved_lazily({"aprun": AprunLauncher})
