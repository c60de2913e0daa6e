"""The MPI launchers: the exact command lines, their scripts run under a fake `mpiexec`/`mpirun` that starts the
ranks the way MPICH would, and under the real mpiexec where one is installed."""

import os
import subprocess

import pytest

from parlay.errors import BadLauncher
from parlay.testing.launchers import FakeTools, assert_resolved_lazily, tricky
from parlay_launcher_mpiexec import MpiExecLauncher, MpiRunLauncher

each_launcher = pytest.mark.parametrize(
    "launcher", [MpiExecLauncher(), MpiRunLauncher()], ids=lambda launcher: type(launcher).__name__
)


def hydra_mpiexec() -> bool:
    """Whether the mpiexec on PATH is MPICH's Hydra; one that is missing, fails or hangs (10 s) is not."""
    try:
        done = subprocess.run(["mpiexec", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and "HYDRA" in done.stdout


@pytest.fixture
def run(tmp_path):
    """Run a launcher's script with a fake mpiexec (`-n` ranks) and mpirun (`-np` ranks), each rank with PMI_RANK,
    first on PATH; return (exit code, calls, files left)."""
    tools = FakeTools(tmp_path)
    tools.add_launcher("mpiexec", "PMI_RANK", "-n")
    tools.add_launcher("mpirun", "PMI_RANK", "-np")
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
    command, expected = tricky("PMI_RANK")
    code, [call], _ = run(MpiExecLauncher(overrides="-ppn 2")(command, 2, 2))
    assert code == 0
    assert call == ["mpiexec", "-n", "4", "--bind-to", "none", "-ppn", "2", "/bin/bash", "-c", command]
    for rank in range(4):
        assert (tmp_path / f"out.{rank}").read_text() == expected(rank)


def test_mpirun_launcher_runs_every_rank_with_the_command_intact(run, tmp_path):
    command, expected = tricky("PMI_RANK")
    code, [call], left = run(MpiRunLauncher(overrides="--oversubscribe")(command, 3, 1))
    assert code == 0
    assert call[:4] == ["mpirun", "-np", "3", "--oversubscribe"]
    assert call[4] == "/bin/bash" and call[5].startswith(str(tmp_path / "work dir" / "parlay_cmd."))
    for rank in range(3):
        assert (tmp_path / f"out.{rank}").read_text() == expected(rank)
    assert left == []  # the command file is gone


@each_launcher
def test_a_failing_rank_fails_the_job(run, launcher):
    code, _, left = run(launcher('[ "$PMI_RANK" != 1 ] || exit 3', 1, 2))
    assert code == 3
    assert left == []


@pytest.mark.skipif(not hydra_mpiexec(), reason="needs an MPICH-family mpiexec (Hydra) on PATH")
@each_launcher
def test_real_mpich_runs_every_rank(tmp_path, launcher):
    command, expected = tricky("PMI_RANK")
    script = launcher(command, 3, 1)
    env = {"PATH": os.environ["PATH"], "OUT": str(tmp_path / "out")}
    assert subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, timeout=60).returncode == 0
    for rank in range(3):
        assert (tmp_path / f"out.{rank}").read_text() == expected(rank)


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
    assert_resolved_lazily({"mpiexec": MpiExecLauncher, "mpirun": MpiRunLauncher})
