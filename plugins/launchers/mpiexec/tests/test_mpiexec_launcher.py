"""The MPI launchers: the exact command lines, their scripts run under a fake `mpiexec`/`mpirun` that starts the
ranks the way MPICH would, and under the real mpiexec where one is installed."""

import os
import shutil
import subprocess
import sys

import pytest

import parlay.launchers
from parlay.errors import BadLauncher
from parlay.plugins.registry import load
from parlay.testing.launchers import FakeTools
from parlay_launcher_mpiexec import MpiExecLauncher, MpiRunLauncher

# Records its name and arguments, then runs the program (from the first `bash` argument on) as `-n`/`-np` ranks.
FAKE_MPI = """
import json, os, subprocess, sys
args = sys.argv[2:]
with open(os.environ["FAKE_LOG"], "a") as log:
    print(json.dumps(sys.argv[1:]), file=log)
ranks = int(args[args.index("-n" if "-n" in args else "-np") + 1])
program = args[next(i for i, arg in enumerate(args) if os.path.basename(arg) == "bash"):]
copies = [subprocess.Popen(program, env={**os.environ, "PMI_RANK": str(rank)}) for rank in range(ranks)]
sys.exit(max(copy.wait() for copy in copies))
"""

# Quotes, a variable expanded only in the rank, a semicolon, newlines and a heredoc with the launcher's delimiter.
TRICKY = """cat >> "$OUT.$PMI_RANK" << 'PARLAY_EOF'
literal $HOME `date`
PARLAY_EOF
printf '%s|%s\\n' "it's \\"quoted\\"; a && b" "$PMI_RANK" >> "$OUT.$PMI_RANK\""""
EXPECTED = 'literal $HOME `date`\nit\'s "quoted"; a && b|{rank}\n'

each_launcher = pytest.mark.parametrize(
    "launcher", [MpiExecLauncher(), MpiRunLauncher()], ids=lambda launcher: type(launcher).__name__
)


@pytest.fixture
def run(tmp_path):
    """Run a launcher's script with the fake mpiexec and mpirun first on PATH; return (exit code, calls, files left)."""
    tools = FakeTools(tmp_path)
    for name in ("mpiexec", "mpirun"):
        tools.add(name, FAKE_MPI, name)
    return tools.run


def test_mpiexec_launcher_renders_one_launch():
    command = "worker --name 'a b'"
    assert MpiExecLauncher(overrides="-ppn 2")(command, 2, 3) == (
        "mpiexec -n 6 --bind-to none -ppn 2 /bin/bash -c 'worker --name '\"'\"'a b'\"'\"''"
    )
    assert MpiExecLauncher(bind_cmd="")("worker", 1, 2) == "mpiexec -n 2 /bin/bash -c worker"
    assert MpiExecLauncher(debug=True, bind_cmd="--cpu-bind")("worker", 1, 1) == (
        "set -x\nmpiexec -n 1 --cpu-bind none /bin/bash -c worker"
    )


def test_mpirun_launcher_renders_one_launch():
    assert MpiRunLauncher(bash_location="/opt/my bash", overrides="--oversubscribe")("worker", 2, 2) == (
        'PARLAY_CMD_FILE=$(mktemp "$PWD/parlay_cmd.XXXXXX")\n'
        "trap 'rm -f \"$PARLAY_CMD_FILE\"; exit 143' TERM\n"
        "cat > \"$PARLAY_CMD_FILE\" << 'PARLAY_EOF'\n"
        "worker\n"
        "PARLAY_EOF\n"
        "mpirun -np 4 --oversubscribe '/opt/my bash' \"$PARLAY_CMD_FILE\"\n"
        "PARLAY_STATUS=$?\n"
        'rm -f "$PARLAY_CMD_FILE"\n'
        '(exit "$PARLAY_STATUS")'
    )


def test_mpiexec_launcher_runs_every_rank_with_the_command_intact(run, tmp_path):
    code, [call], _ = run(MpiExecLauncher(overrides="-ppn 2")(TRICKY, 2, 2))
    assert code == 0
    assert call == ["mpiexec", "-n", "4", "--bind-to", "none", "-ppn", "2", "/bin/bash", "-c", TRICKY]
    for rank in range(4):
        assert (tmp_path / f"out.{rank}").read_text() == EXPECTED.format(rank=rank)


def test_mpirun_launcher_runs_every_rank_with_the_command_intact(run, tmp_path):
    code, [call], left = run(MpiRunLauncher(overrides="--oversubscribe")(TRICKY, 3, 1))
    assert code == 0
    assert call[:4] == ["mpirun", "-np", "3", "--oversubscribe"]
    assert call[4] == "/bin/bash" and call[5].startswith(str(tmp_path / "work dir" / "parlay_cmd."))
    for rank in range(3):
        assert (tmp_path / f"out.{rank}").read_text() == EXPECTED.format(rank=rank)
    assert left == []  # the command file is gone


@each_launcher
def test_a_failing_rank_fails_the_job(run, launcher):
    code, _, left = run(launcher('[ "$PMI_RANK" != 1 ] || exit 3', 1, 2))
    assert code == 3
    assert left == []


@pytest.mark.skipif(
    shutil.which("mpiexec") is None or "HYDRA" not in subprocess.run(
        ["mpiexec", "--version"], capture_output=True, text=True
    ).stdout,
    reason="needs an MPICH-family mpiexec (Hydra) on PATH",
)  # fmt: skip
@each_launcher
def test_real_mpich_runs_every_rank(tmp_path, launcher):
    script = launcher(TRICKY, 3, 1)
    env = {"PATH": os.environ["PATH"], "OUT": str(tmp_path / "out")}
    assert subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, timeout=60).returncode == 0
    for rank in range(3):
        assert (tmp_path / f"out.{rank}").read_text() == EXPECTED.format(rank=rank)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"overrides": ["-ppn", "2"]}, r"MpiExecLauncher\.overrides=\['-ppn', '2'\]: expected a string of one line"),
        ({"bind_cmd": None}, r"MpiExecLauncher\.bind_cmd=None: expected a string of one line"),
        ({"overrides": "-ppn 2\nrm -rf ~"}, r"MpiExecLauncher\.overrides=.*: expected a string of one line"),
    ],
)
def test_bad_mpiexec_options(options, message):
    with pytest.raises(BadLauncher, match=message):
        MpiExecLauncher(**options)


def test_bad_mpirun_options():
    with pytest.raises(BadLauncher, match=r"MpiRunLauncher\.bash_location='': expected the path of bash"):
        MpiRunLauncher(bash_location="")
    with pytest.raises(BadLauncher, match=r"MpiRunLauncher\.overrides=3: expected a string of one line"):
        MpiRunLauncher(overrides=3)


def test_repr():
    assert repr(MpiExecLauncher()) == "MpiExecLauncher(debug=False, bind_cmd='--bind-to', overrides='')"
    assert repr(MpiRunLauncher(overrides="-x A")) == (
        "MpiRunLauncher(debug=False, bash_location='/bin/bash', overrides='-x A')"
    )


def test_resolved_lazily_through_entry_points():
    probe = (
        "import sys, parlay.launchers; assert 'parlay_launcher_mpiexec' not in sys.modules; "
        "print(parlay.launchers.MpiRunLauncher.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "parlay_launcher_mpiexec.launchers\n"), done.stderr
    assert parlay.launchers.MpiExecLauncher is MpiExecLauncher
    assert parlay.launchers.MpiRunLauncher is MpiRunLauncher
    assert load("launchers", "mpirun") is MpiRunLauncher
