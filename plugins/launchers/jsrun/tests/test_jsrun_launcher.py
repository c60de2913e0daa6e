"""JsrunLauncher: the exact command line, and its script run under a fake `jsrun` that starts the copies the way
LSF's job step manager would."""

import subprocess
import sys

import pytest

import parlay.launchers
from parlay.errors import BadLauncher
from parlay.plugins.registry import load
from parlay.testing.launchers import FakeTools
from parlay_launcher_jsrun import JsrunLauncher

# Records its arguments, then runs the program after `-n N -r T [overrides]` as N copies with JSM_NAMESPACE_RANK set.
FAKE_JSRUN = """
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    print(json.dumps(args), file=log)
program = args[args.index("/bin/bash"):]
env = lambda rank: {**os.environ, "JSM_NAMESPACE_RANK": str(rank)}
copies = [subprocess.Popen(program, env=env(rank)) for rank in range(int(args[1]))]
sys.exit(max(copy.wait() for copy in copies))
"""

# Quotes, a variable expanded only in the copy, a semicolon, newlines and a heredoc.
TRICKY = """cat >> "$OUT.$JSM_NAMESPACE_RANK" << 'EOF'
literal $HOME `date`
EOF
printf '%s|%s\\n' "it's \\"quoted\\"; a && b" "$JSM_NAMESPACE_RANK" >> "$OUT.$JSM_NAMESPACE_RANK\""""
EXPECTED = 'literal $HOME `date`\nit\'s "quoted"; a && b|{}\n'


@pytest.fixture
def run(tmp_path):
    """Run a launcher's script with the fake jsrun first on PATH; return (exit code, jsrun calls)."""
    tools = FakeTools(tmp_path)
    tools.add("jsrun", FAKE_JSRUN)
    return lambda script: tools.run(script)[:2]


def test_renders_one_launch():
    assert JsrunLauncher(overrides="-a 1 -c 7")("worker --name 'a b'", 2, 3) == (
        "jsrun -n 6 -r 2 -a 1 -c 7 /bin/bash -c 'worker --name '\"'\"'a b'\"'\"''"
    )
    assert JsrunLauncher(debug=True)("worker", 1, 1) == "set -x\njsrun -n 1 -r 1 /bin/bash -c worker"


def test_runs_every_copy_with_the_command_intact(run, tmp_path):
    code, [call] = run(JsrunLauncher(overrides="-a 1 -c 7")(TRICKY, 2, 2))
    assert code == 0
    assert call == ["-n", "4", "-r", "2", "-a", "1", "-c", "7", "/bin/bash", "-c", TRICKY]
    for rank in range(4):
        assert (tmp_path / f"out.{rank}").read_text() == EXPECTED.format(rank)


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
    probe = (
        "import sys, parlay.launchers; assert 'parlay_launcher_jsrun' not in sys.modules; "
        "print(parlay.launchers.JsrunLauncher.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "parlay_launcher_jsrun.launcher\n"), done.stderr
    assert parlay.launchers.JsrunLauncher is JsrunLauncher
    assert load("launchers", "jsrun") is JsrunLauncher
