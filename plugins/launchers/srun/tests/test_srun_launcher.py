"""The srun launchers: the exact command lines, and their scripts run under a fake `srun` that starts the copies
the way Slurm would."""

import subprocess
import sys

import pytest

import parlay.launchers
from parlay.errors import BadLauncher
from parlay.plugins.registry import load
from parlay.testing.launchers import FakeTools
from parlay_launcher_srun import SrunLauncher, SrunMPILauncher

# Records its arguments, then runs the program after the options as `--ntasks` copies with SLURM_PROCID set.
FAKE_SRUN = """
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    print(json.dumps(args), file=log)
options = [arg for arg in args if arg.startswith("-")]
ntasks = next((int(o.split("=")[1]) for o in options if o.startswith("--ntasks=")), 1)
env = lambda rank: {**os.environ, "SLURM_PROCID": str(rank)}
copies = [subprocess.Popen(args[len(options):], env=env(rank)) for rank in range(ntasks)]
sys.exit(max(copy.wait() for copy in copies))
"""

# Quotes, variables expanded only in the copy, a semicolon, newlines and a heredoc with the launcher's delimiter.
TRICKY = """F="$OUT.$SLURM_PROCID.${PARLAY_COPY:-}"
cat >> "$F" << 'PARLAY_EOF'
literal $HOME `date`
PARLAY_EOF
printf '%s|%s\\n' "it's \\"quoted\\"; a && b" "$SLURM_PROCID-${PARLAY_COPY:-}" >> "$F\""""
EXPECTED = 'literal $HOME `date`\nit\'s "quoted"; a && b|{}\n'


@pytest.fixture
def run(tmp_path):
    """Run a launcher's script with the fake srun first on PATH; return (exit code, srun calls, files left)."""
    tools = FakeTools(tmp_path)
    tools.add("srun", FAKE_SRUN)
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
    code, calls, left = run(SrunLauncher(overrides="--label")(TRICKY, 2, 2))
    assert code == 0
    [call] = calls
    assert call[:5] == ["--ntasks=4", "--ntasks-per-node=2", "--nodes=2", "--label", "bash"]
    assert call[5].startswith(str(tmp_path / "work dir" / "parlay_cmd."))
    for rank in range(4):
        assert (tmp_path / f"out.{rank}.").read_text() == EXPECTED.format(f"{rank}-")
    assert left == []  # the command file is gone


def test_srun_launcher_fails_when_a_copy_fails(run):
    code, _, left = run(SrunLauncher()('[ "$SLURM_PROCID" != 1 ] || exit 3', 1, 3))
    assert code == 3
    assert left == []


def test_srun_mpi_launcher_runs_each_copy_in_a_step_of_its_own(run, tmp_path):
    code, calls, left = run(SrunMPILauncher(overrides="--mpi=pmix")(TRICKY + '\necho $PARLAY_COPIES >> "$OUT"', 2, 2))
    assert code == 0
    assert sorted(call[:6] for call in calls) == [
        ["--exclusive", "--nodes=1", "--ntasks=1", f"--relative={node}", "--mpi=pmix", "bash"] for node in (0, 0, 1, 1)
    ]
    for copy in range(1, 5):
        assert (tmp_path / f"out.0.{copy}").read_text() == EXPECTED.format(f"0-{copy}")
    assert (tmp_path / "out").read_text() == "4\n" * 4
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
    probe = (
        "import sys, parlay.launchers; assert 'parlay_launcher_srun' not in sys.modules; "
        "print(parlay.launchers.SrunMPILauncher.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "parlay_launcher_srun.launchers\n"), done.stderr
    assert parlay.launchers.SrunLauncher is SrunLauncher
    assert parlay.launchers.SrunMPILauncher is SrunMPILauncher
    assert load("launchers", "srun-mpi") is SrunMPILauncher
