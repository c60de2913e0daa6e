"""A run directory on a read-only or a full filesystem, for real: each script runs in a mount namespace of
its own (`unshare`) with a small tmpfs as its run directory. Needs root (as in CI); skipped elsewhere.

At `load()`, a folder parlay cannot write to is a `ConfigurationError` naming it. Mid-run, a full disk costs
one warning per file (log, checkpoint) and the run goes on; the checkpoint keeps every result for the first
write that fits, and stays loadable.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None
    or subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0,
    reason="mounting a small tmpfs needs root and unshare",
)  # fmt: skip

TIMEOUT = 120


def run_on_tmpfs(tmp_path, script, options):
    """Run `script` with a tmpfs mounted (with `options`) at its `sys.argv[1]`, seen by it alone."""
    mount = tmp_path / "fs"
    mount.mkdir()
    command = [
        "unshare", "--mount", "--propagation", "private", "sh", "-c",
        f'mount -t tmpfs -o {options} parlay-test "$1" && exec "$0" -c "$2" "$1"',
        sys.executable, str(mount), textwrap.dedent(script),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT), mount


LOAD = """
import sys
import parlay
parlay.load(parlay.Config(run_dir=sys.argv[1] + "/runinfo"))
"""


def test_a_read_only_run_dir_fails_at_load(tmp_path):
    done, mount = run_on_tmpfs(tmp_path, LOAD, "ro,size=1m")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"parlay.errors.ConfigurationError: cannot write a run directory in {mount}/runinfo: Read-only file "
        "system; choose a folder parlay can write to with Config(run_dir=...)"
    )


FILL = """
import os


def fill(path, leave=0):
    \"\"\"Fill the filesystem with the file `path`, then give `leave` bytes back.\"\"\"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while os.write(fd, bytes(4096)):
            pass
    except OSError:
        pass
    os.ftruncate(fd, os.fstat(fd).st_size - leave)
    os.close(fd)
"""


def test_a_full_run_dir_fails_at_load(tmp_path):
    done, mount = run_on_tmpfs(tmp_path, FILL + "fill(__import__('sys').argv[1] + '/filler')" + LOAD, "size=256k")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"parlay.errors.ConfigurationError: cannot write a run directory in {mount}/runinfo: No space left on "
        "device; free some space there, or choose another folder with Config(run_dir=...)"
    )
    assert "Logging error" not in done.stderr


MID_RUN = FILL + """
import sys
import parlay
from parlay import Config, python_app
from parlay.dataflow.memoization import load_checkpoint

FILLER = sys.argv[1] + "/filler"


@python_app(cache=True)
def blob(n, size):
    return bytes([n]) * size


@python_app
def fail(why):
    raise ValueError(why)


dfk = parlay.load(Config(run_dir=sys.argv[1] + "/runinfo", checkpoint_mode="task_exit", retries=2))
assert blob(0, 10).result() == bytes(10)
fill(FILLER)  # nothing left: the log and the checkpoint cannot be written
results = [blob(n, 10).result() for n in (1, 2)]
assert isinstance(fail("a long reason " * 300).exception(), ValueError)  # its retries are logged
fill(FILLER, leave=64 * 1024)  # room for part of the next checkpoint: the write fails half-way
results.append(blob(3, 200 * 1024).result())
os.unlink(FILLER)
results.append(blob(4, 10).result())  # the next checkpoint writes every result kept since
dfk.cleanup()
print("results", [len(r) for r in results])
table = load_checkpoint(dfk.memoizer.checkpoint_dir)
print("checkpointed", sorted(len(r) for r in table.values()))
"""


def test_a_disk_that_fills_mid_run_costs_one_warning_per_file(tmp_path):
    done, mount = run_on_tmpfs(tmp_path, MID_RUN, "size=1m")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["results [10, 10, 204800, 10]", "checkpointed [10, 10, 10, 10, 204800]"]
    warnings = [line for line in done.stderr.splitlines() if "RunFileWarning" in line]
    run_dir = f"{mount}/runinfo/000"
    assert sorted(warnings) == [
        f"parlay:0: RunFileWarning: cannot write the checkpoint {run_dir}/checkpoint/tasks.pkl ([Errno 28] No space "
        "left on device); the run goes on, and the next checkpoint tries again",
        f"parlay:0: RunFileWarning: cannot write the log {run_dir}/parlay.log ([Errno 28] No space left on device); "
        "the run goes on",
    ], done.stderr
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr
