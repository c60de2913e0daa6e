"""The srun launchers: the exact command lines, and their scripts run under a fake `srun` that starts the copies
the way Slurm would."""

import pytest

from parlay.errors import BadLauncher
from parlay.testing.launchers import FakeTools, assert_resolved_lazily, tricky
from parlay_launcher_srun import SrunLauncher, SrunMPILauncher


@pytest.fixture
def run(tmp_path):
    """Run a launcher's script with a fake srun (`--ntasks=` copies, each with SLURM_PROCID) first on PATH; return
    (exit code, srun calls, files left)."""
    tools = FakeTools(tmp_path)
    tools.add_launcher("srun", "SLURM_PROCID", "--ntasks=")
    return tools.run


def test_srun_launcher_renders_one_step():
    assert SrunLauncher(overrides="--cpu-bind=none")("worker --block 0", 2, 3) == (
        'PARLAY_CMD_FILE=$(mktemp "$PWD/parlay_cmd.XXXXXX")\n'
        "trap 'rm -f \"$PARLAY_CMD_FILE\"; exit 143' TERM\n"
        "cat > \"$PARLAY_CMD_FILE\" << 'PARLAY_EOF'\n"
        "worker --block 0\n"
        "PARLAY_EOF\n"
        'srun --ntasks=6 --ntasks-per-node=2 --nodes=3 --cpu-bind=none bash "$PARLAY_CMD_FILE"\n'
        "PARLAY_STATUS=$?\n"
        'rm -f "$PARLAY_CMD_FILE"\n'
        '(exit "$PARLAY_STATUS")'
    )


def test_srun_launcher_runs_every_copy_with_the_command_intact(run, tmp_path):
    command, expected = tricky("SLURM_PROCID", "${PARLAY_COPY:-}")
    code, calls, left = run(SrunLauncher(overrides="--label")(command, 2, 2))
    assert code == 0
    [call] = calls
    assert call[:6] == ["srun", "--ntasks=4", "--ntasks-per-node=2", "--nodes=2", "--label", "bash"]
    assert call[6].startswith(str(tmp_path / "work dir" / "parlay_cmd."))
    for rank in range(4):
        assert (tmp_path / f"out.{rank}").read_text() == expected(rank, "")
    assert left == []  # the command file is gone


def test_srun_launcher_fails_when_a_copy_fails(run):
    code, _, left = run(SrunLauncher()('[ "$SLURM_PROCID" != 1 ] || exit 3', 1, 3))
    assert code == 3
    assert left == []


def test_srun_mpi_launcher_runs_each_copy_in_a_step_of_its_own(run, tmp_path):
    command, expected = tricky("PARLAY_COPY", "$PARLAY_COPIES", "$SLURM_PROCID")
    code, calls, left = run(SrunMPILauncher(overrides="--mpi=pmix")(command, 2, 2))
    assert code == 0
    assert sorted(call[:7] for call in calls) == [
        ["srun", "--exclusive", "--nodes=1", "--ntasks=1", f"--relative={node}", "--mpi=pmix", "bash"]
        for node in (0, 0, 1, 1)
    ]
    for copy in range(1, 5):
        assert (tmp_path / f"out.{copy}").read_text() == expected(copy, 4, 0)
    assert left == []


def test_srun_mpi_launcher_fails_when_a_copy_fails(run):
    code, calls, _ = run(SrunMPILauncher()('[ "$PARLAY_COPY" != 2 ] || exit 3', 1, 3))
    assert code == 1
    assert len(calls) == 3


def test_debug_traces_the_launch():
    assert SrunLauncher(debug=True)("worker", 1, 1).startswith("set -x\nPARLAY_CMD_FILE=")
    assert SrunMPILauncher(debug=True)("worker", 1, 1).startswith("set -x\nPARLAY_CMD_FILE=")


@pytest.mark.parametrize("launcher", [SrunLauncher, SrunMPILauncher])
@pytest.mark.parametrize("overrides", [["--mem=0"], None, "--mem=0\nrm -rf ~"])
def test_bad_overrides(launcher, overrides):
    with pytest.raises(BadLauncher, match=rf"{launcher.__name__}\.overrides=.*: expected a string of one line"):
        launcher(overrides=overrides)


def test_repr():
    assert repr(SrunLauncher(overrides="-K1")) == "SrunLauncher(debug=False, overrides='-K1')"
    assert repr(SrunMPILauncher(debug=True)) == "SrunMPILauncher(debug=True, overrides='')"


def test_resolved_lazily_through_entry_points():
    assert_resolved_lazily({"srun": SrunLauncher, "srun-mpi": SrunMPILauncher})
