"""AprunLauncher: the exact command line, and its script run under a fake `aprun` that starts the copies the way
ALPS would."""

import subprocess
import sys

import pytest

import parlay.launchers
from parlay.errors import BadLauncher
from parlay.plugins.registry import load
from parlay.testing.launchers import FakeTools
from parlay_launcher_aprun import AprunLauncher

# Records its arguments, then runs the program after `-n N -N T [overrides]` as N copies with ALPS_APP_PE set.
FAKE_APRUN = """
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    print(json.dumps(args), file=log)
program = args[args.index("/bin/bash"):]
copies = [subprocess.Popen(program, env={**os.environ, "ALPS_APP_PE": str(pe)}) for pe in range(int(args[1]))]
sys.exit(max(copy.wait() for copy in copies))
"""

# Quotes, a variable expanded only in the copy, a semicolon, newlines and a heredoc.
TRICKY = """cat >> "$OUT.$ALPS_APP_PE" << 'EOF'
literal $HOME `date`
EOF
printf '%s|%s\\n' "it's \\"quoted\\"; a && b" "$ALPS_APP_PE" >> "$OUT.$ALPS_APP_PE\""""
EXPECTED = 'literal $HOME `date`\nit\'s "quoted"; a && b|{}\n'


@pytest.fixture
def run(tmp_path):
    """Run a launcher's script with the fake aprun first on PATH; return (exit code, aprun calls)."""
    tools = FakeTools(tmp_path)
    tools.add("aprun", FAKE_APRUN)
    return lambda script: tools.run(script)[:2]


def test_renders_one_launch():
    assert AprunLauncher(overrides="-cc none")("worker --name 'a b'", 2, 3) == (
        "aprun -n 6 -N 2 -cc none /bin/bash -c 'worker --name '\"'\"'a b'\"'\"''"
    )
    assert AprunLauncher(debug=True)("worker", 1, 1) == "set -x\naprun -n 1 -N 1 /bin/bash -c worker"


def test_runs_every_copy_with_the_command_intact(run, tmp_path):
    code, [call] = run(AprunLauncher(overrides="-cc none")(TRICKY, 2, 2))
    assert code == 0
    assert call == ["-n", "4", "-N", "2", "-cc", "none", "/bin/bash", "-c", TRICKY]
    for pe in range(4):
        assert (tmp_path / f"out.{pe}").read_text() == EXPECTED.format(pe)


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
    probe = (
        "import sys, parlay.launchers; assert 'parlay_launcher_aprun' not in sys.modules; "
        "print(parlay.launchers.AprunLauncher.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "parlay_launcher_aprun.launcher\n"), done.stderr
    assert parlay.launchers.AprunLauncher is AprunLauncher
    assert load("launchers", "aprun") is AprunLauncher
