"""A stand-in instance's machine: its startup script runs as a local process group in a folder of its own, with
this Python first on PATH (as an image with parlay installed has it); what it prints is its serial console, and
`shutdown`, `poweroff` and `halt` only mark it powered off."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

_POWER_COMMANDS = ("shutdown", "poweroff", "halt")


class Machine:
    """The local processes of one instance."""

    def __init__(self, folder: Path, script: str):
        self.folder = folder
        self.console = folder / "serial-port-1"
        self._script = folder / "startup-script"
        self._powered_off = folder / "powered-off"
        self._process: subprocess.Popen | None = None
        commands = folder / "bin"
        commands.mkdir(parents=True)
        for command in _POWER_COMMANDS:  # first on PATH: the script's `shutdown -h now` must not reach this host
            path = commands / command
            path.write_text(f"#!/bin/sh\ntouch {shlex.quote(str(self._powered_off))}\n")
            path.chmod(0o755)
        self._script.write_text(script)
        self._path = os.pathsep.join(
            [str(commands), os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]
        )

    def boot(self) -> None:
        """Run the startup script, as root's shell would on a fresh instance: a clean environment, the folder as
        the working directory."""
        env = {"PATH": self._path, "HOME": str(self.folder), "LANG": "C.UTF-8"}
        with open(self.console, "ab") as console:
            self._process = subprocess.Popen(
                ["bash", str(self._script)],
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def script_ended(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    @property
    def powered_off(self) -> bool:
        return self._powered_off.exists()

    def serial_output(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, number: int) -> None:
        """Send `number` to every process of the machine, the script's and those it left."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):  # none is left
            os.killpg(self._process.pid, number)
        if number == signal.SIGKILL:
            self._process.wait()
