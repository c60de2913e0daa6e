"""Test support for launcher plugins: stand-in launch programs (named as the real ones) put first on PATH, a runner
for the script a launcher renders, a command that is hard to pass on intact, and the entry-point check."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# Run as `fake_launcher.py NAME RANK_VARIABLE COUNT_OPTION ARGS...`: records NAME ARGS, then runs the program (from
# the first argument named `bash` on) as COUNT copies at once, RANK_VARIABLE set to 0, 1...; exits with the worst
# status. COUNT follows COUNT_OPTION among the options (`-n 4`), or is joined to it if it ends in `=` (`--ntasks=4`).
FAKE_LAUNCHER = """
import json, os, subprocess, sys
name, rank_variable, count_option, *args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    print(json.dumps([name, *args]), file=log)
start = next(i for i, arg in enumerate(args) if os.path.basename(arg) == "bash")
options = args[:start]
if count_option.endswith("="):
    count = next(option[len(count_option) :] for option in options if option.startswith(count_option))
else:
    count = options[options.index(count_option) + 1]
env = lambda rank: {**os.environ, rank_variable: str(rank)}
copies = [subprocess.Popen(args[start:], env=env(rank)) for rank in range(int(count))]
sys.exit(max(copy.wait() for copy in copies))
"""


class FakeTools:
    """Each tool is a Python source run by a shim in `bin`; tools log their arguments as JSON lines to the file
    named by FAKE_LOG. Scripts run in `work` (a directory with a space in its name); OUT names a file prefix."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.bin = self.directory / "bin"
        self.work = self.directory / "work dir"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(exist_ok=True)
        self.log = self.directory / "calls"

    def add(self, name: str, source: str, *arguments: str) -> None:
        """Put `name` on PATH, running `source` with `arguments` before the caller's."""
        program = self.directory / f"fake_{name}.py"
        program.write_text(source)
        shim = self.bin / name
        shim.write_text(f'#!/bin/sh\nexec {shlex.join([sys.executable, str(program), *arguments])} "$@"\n')
        shim.chmod(0o755)

    def add_launcher(self, name: str, rank_variable: str, count_option: str) -> None:
        """Put a launch program `name` on PATH: it logs its whole command line (`name` first), then runs the `bash`
        program after its options as the number of copies given by `count_option` (`-n`, or `--ntasks=` if joined),
        each with `rank_variable` set to its rank (from 0), and exits with the worst status."""
        self.add(name, FAKE_LAUNCHER, name, rank_variable, count_option)

    def run(self, script: str, **env: str) -> tuple[int, list[list[str]], list[str]]:
        """Run `script` with bash; its exit code, the tools' calls and the files left in `work`."""
        environment = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_LOG": str(self.log),
            "OUT": str(self.directory / "out"),
            **env,
        }
        code = subprocess.run(["bash", "-c", script], cwd=self.work, env=environment, timeout=60).returncode
        calls = [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []
        return code, calls, sorted(p.name for p in self.work.iterdir())


def tricky(rank_variable: str, *also: str) -> tuple[str, Callable[..., str]]:
    """A command with quotes, variables expanded only in the copy, a semicolon, newlines and a heredoc with the
    launchers' own delimiter: each copy appends some text, its rank and the shell words `also` (`"$PWD"`...) to
    `$OUT.<rank>`. Returns the command and `expected(rank, *values of also)`, what that file must then hold."""
    words = " ".join(f'"{word}"' for word in [f"${rank_variable}", *also])
    fields = "|%s" * (1 + len(also))
    command = f"""cat >> "$OUT.${rank_variable}" << 'PARLAY_EOF'
literal $HOME `date`
PARLAY_EOF
printf '%s{fields}\\n' "it's \\"quoted\\"; a && b" {words} >> "$OUT.${rank_variable}\""""

    def expected(*values: object) -> str:
        return 'literal $HOME `date`\nit\'s "quoted"; a && b|' + "|".join(map(str, values)) + "\n"

    return command, expected


def assert_resolved_lazily(launchers: dict[str, type]) -> None:
    """Check that each class of `launchers` (by entry-point name) is `parlay.launchers.<its name>`, its plugin
    imported on first use only (in a fresh interpreter), and that `load` finds it by its entry-point name."""
    import parlay.launchers
    from parlay.plugins.registry import load

    packages = sorted({cls.__module__.split(".")[0] for cls in launchers.values()})
    probe = "\n".join(
        [
            "import sys, parlay.launchers",
            f"assert not set({packages!r}) & set(sys.modules)",
            *(f"print(parlay.launchers.{cls.__name__}.__module__)" for cls in launchers.values()),
        ]
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    modules = "".join(f"{cls.__module__}\n" for cls in launchers.values())
    assert (done.returncode, done.stdout) == (0, modules), done.stderr
    for name, cls in launchers.items():
        assert getattr(parlay.launchers, cls.__name__) is cls, cls
        assert load("launchers", name) is cls, name
