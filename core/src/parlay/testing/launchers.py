"""Test support for launcher plugins: stand-in launch programs (`srun`, `mpiexec`...) put first on PATH, and
a runner for the script a launcher renders."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path


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
