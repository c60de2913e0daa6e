"""GnuParallelLauncher: the exact script, run under a fake `parallel` that starts the copies the way GNU parallel
does with `--quote`, and under the real GNU parallel (where installed) with a stand-in `ssh` for the nodes."""

import os
import shutil
import subprocess

import pytest

from parlay.testing.launchers import FakeTools, assert_resolved_lazily, tricky
from parlay_launcher_gnu_parallel import GnuParallelLauncher

# Records its arguments, then runs the words before `:::` once per argument after it ({} replaced), all at once,
# in the `--workdir`; exits with the number of failed copies.
FAKE_PARALLEL = """
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    print(json.dumps(args), file=log)
words = args[args.index("--quote") + 1 : args.index(":::")]
workdir = args[args.index("--workdir") + 1]
run = lambda arg: subprocess.Popen([word.replace("{}", arg) for word in words], cwd=workdir)
copies = [run(arg) for arg in args[args.index(":::") + 1 :]]
sys.exit(sum(copy.wait() != 0 for copy in copies))
"""
FAKE_SCONTROL = """
import sys
assert sys.argv[1:] == ["show", "hostnames", "n[1-2]"]
print("n1\\nn2")
"""
# Like ssh: runs the words after the host as one command line of the remote login shell, in the home directory,
# with a fresh environment (so only what GNU parallel sends along reaches the copy).
FAKE_SSH = """
import os, subprocess, sys
args = sys.argv[1:]
while args[0].startswith("-"):
    args = args[2:] if args[0] in ("-o", "-p", "-l", "-i", "-S", "-F") else args[1:]
host, words = args[0], [word for word in args[1:] if word != "--"]
env = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"], "SHELL": "/bin/bash", "FAKE_HOST": host}
sys.exit(subprocess.run(["bash", "-c", " ".join(words)], cwd=os.environ["HOME"], env=env).returncode)
"""


@pytest.fixture
def run(tmp_path):
    """`run(script, fakes, **env)`: run a launcher's script in a working directory with a space in its name, the
    named fake tools first on PATH; return (exit code, fake parallel's calls, files left in the directory)."""
    tools = FakeTools(tmp_path)

    def run(script, fakes=("parallel",), **env):
        for name in fakes:
            tools.add(name, {"parallel": FAKE_PARALLEL, "scontrol": FAKE_SCONTROL, "ssh": FAKE_SSH}[name])
        return tools.run(script, HOME=str(tmp_path), **env)

    return run


def test_renders_the_launch():
    assert GnuParallelLauncher()("worker", 2, 3) == (
        'PARLAY_CMD_FILE=$(mktemp "$PWD/parlay_cmd.XXXXXX")\n'
        "trap 'rm -f \"$PARLAY_CMD_FILE\"; exit 143' TERM\n"
        "cat > \"$PARLAY_CMD_FILE\" << 'PARLAY_EOF'\n"
        "worker\n"
        "PARLAY_EOF\n"
        "PARLAY_HOSTS=$(\n"
        '  if [ -n "${PBS_NODEFILE:-}" ]; then sort -u "$PBS_NODEFILE"\n'
        '  elif [ -n "${SLURM_JOB_NODELIST:-}" ]; then scontrol show hostnames "$SLURM_JOB_NODELIST"\n'
        "  else echo :\n"
        "  fi | paste -sd, -\n"
        ")\n"
        'parallel --jobs 2 --sshlogin "$PARLAY_HOSTS" --env _ --env PATH --line-buffer --workdir "$PWD" \\\n'
        '  --quote env PARLAY_COPY={} PARLAY_COPIES=6 bash "$PARLAY_CMD_FILE" ::: $(seq 1 6)\n'
        "PARLAY_STATUS=$?\n"
        'rm -f "$PARLAY_CMD_FILE"\n'
        '(exit "$PARLAY_STATUS")'
    )
    assert GnuParallelLauncher(debug=True)("worker", 1, 1).startswith("set -x\nPARLAY_CMD_FILE=")


def test_runs_every_copy_with_the_command_intact(run, tmp_path):
    command, expected = tricky("PARLAY_COPY", "$PARLAY_COPIES", "$PWD")
    code, [call], left = run(GnuParallelLauncher()(command, 2, 2))
    assert code == 0
    assert call[:4] == ["--jobs", "2", "--sshlogin", ":"]  # no scheduler: this machine, without ssh
    assert call[-11:-5] == ["--quote", "env", "PARLAY_COPY={}", "PARLAY_COPIES=4", "bash", call[-6]]
    assert call[-6].startswith(str(tmp_path / "work dir" / "parlay_cmd."))
    assert call[-5:] == [":::", "1", "2", "3", "4"]
    for copy in range(1, 5):
        assert (tmp_path / f"out.{copy}").read_text() == expected(copy, 4, tmp_path / "work dir")
    assert left == []  # the command file is gone


def test_nodes_from_pbs(run, tmp_path):
    (tmp_path / "nodefile").write_text("n1\nn1\nn2\nn2\n")
    code, [call], _ = run(GnuParallelLauncher()("true", 2, 2), PBS_NODEFILE=str(tmp_path / "nodefile"))
    assert code == 0
    assert call[:4] == ["--jobs", "2", "--sshlogin", "n1,n2"]


def test_nodes_from_slurm(run):
    code, [call], _ = run(GnuParallelLauncher()("true", 1, 2), ("parallel", "scontrol"), SLURM_JOB_NODELIST="n[1-2]")
    assert code == 0
    assert call[:4] == ["--jobs", "1", "--sshlogin", "n1,n2"]


def test_a_failing_copy_fails_the_job(run):
    code, _, left = run(GnuParallelLauncher()('[ "$PARLAY_COPY" != 2 ] || exit 3', 1, 3))
    assert code == 1
    assert left == []


@pytest.mark.skipif(shutil.which("parallel") is None, reason="GNU parallel is not installed")
def test_real_gnu_parallel_runs_the_copies_on_every_node(run, tmp_path):
    (tmp_path / "nodefile").write_text("n1\nn2\nn1\nn2\n")
    env = {"PBS_NODEFILE": str(tmp_path / "nodefile"), "PARALLEL_HOME": str(tmp_path / "parallel")}
    os.mkdir(env["PARALLEL_HOME"])
    subprocess.run(["parallel", "--record-env"], env={**os.environ, **env}, check=True, timeout=60)
    command, expected = tricky("PARLAY_COPY", "$PARLAY_COPIES", "$PWD")
    command += '\necho "$FAKE_HOST $FROM_WORKER_INIT" >> "$OUT.hosts"'
    code, _, left = run(GnuParallelLauncher()(command, 2, 2), ("ssh",), FROM_WORKER_INIT="set", **env)
    assert code == 0
    for copy in range(1, 5):
        assert (tmp_path / f"out.{copy}").read_text() == expected(copy, 4, tmp_path / "work dir")
    assert sorted((tmp_path / "out.hosts").read_text().splitlines()) == ["n1 set", "n1 set", "n2 set", "n2 set"]
    assert left == []


def test_repr():
    assert repr(GnuParallelLauncher(debug=True)) == "GnuParallelLauncher(debug=True)"


def test_resolved_lazily_through_entry_points():
    assert_resolved_lazily({"gnu-parallel": GnuParallelLauncher})
