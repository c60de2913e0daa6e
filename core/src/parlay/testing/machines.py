"""`LocalMachine`: a cloud stand-in's instance whose boot script runs as a local process group in a folder of
its own, as on an image with parlay installed (this Python's folder first on PATH).

`shutdown`, `poweroff` and `halt` come first on the script's PATH and only mark the machine powered off: never
this host's own. What the script prints is the machine's console. Standard library only: stand-in servers
import it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

#: An image's PATH, behind the machine's power commands and this Python's folder.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
POWER_COMMANDS = ("shutdown", "poweroff", "halt")


class LocalMachine:
    """One instance's local processes, in `folder`: its boot `script` (written to `folder/script_name`) run by
    `interpreter` (None: executed directly, as its shebang says), its output in `folder/console_name`.
    `environment` adds to the clean one (PATH, HOME = the folder, LANG)."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        script: str | bytes,
        *,
        script_name: str = "boot-script",
        console_name: str = "console.log",
        interpreter: str | None = "bash",
        environment: Mapping[str, str] | None = None,
    ):
        self.folder = Path(folder)
        self.script = self.folder / script_name
        self.console = self.folder / console_name
        self.marker = self.folder / "powered-off"
        self._command = [str(self.script)] if interpreter is None else [interpreter, str(self.script)]
        commands = self.folder / "bin"
        commands.mkdir(parents=True, exist_ok=True)
        for command in POWER_COMMANDS:  # first on PATH: `shutdown -h now` must not reach this host
            path = commands / command
            path.write_text(f"#!/bin/sh\ntouch {shlex.quote(str(self.marker))}\n")
            path.chmod(0o755)
        self.script.write_bytes(script.encode() if isinstance(script, str) else script)
        self.script.chmod(0o700)
        search = os.pathsep.join([str(commands), os.path.dirname(sys.executable), IMAGE_PATH])
        self._environment = {"PATH": search, "HOME": str(self.folder), "LANG": "C.UTF-8", **(environment or {})}
        self._process: subprocess.Popen[bytes] | None = None
        self._halted = False

    def boot(self) -> None:
        """Run the script as root's shell would on a fresh instance: a new session, the clean environment, the
        folder as working directory, nothing on stdin."""
        with open(self.console, "ab") as console:
            self._process = subprocess.Popen(
                self._command,
                cwd=self.folder,
                env=self._environment,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def script_ended(self) -> bool:
        """Whether the script was booted and has exited (what it left in the background may still run)."""
        return self._process is not None and self._process.poll() is not None

    @property
    def alive(self) -> bool:
        """Whether anything of the group still runs: the script, or what it left in the background."""
        if self._process is None or self._halted:
            return False
        self._process.poll()  # a script that ended is reaped: only the living count
        try:
            os.killpg(self._process.pid, 0)
        except (ProcessLookupError, PermissionError):  # PermissionError: only zombies left, on some systems
            return False
        return True

    @property
    def powered_off(self) -> bool:
        """Whether the script (or anything it started) ran `shutdown`, `poweroff` or `halt`."""
        return self.marker.exists()

    def console_text(self) -> str:
        """What the machine printed so far."""
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, number: int) -> None:
        """Send signal `number` to every process of the group, the script's and those it left."""
        if self._process is not None and not self._halted:
            with contextlib.suppress(ProcessLookupError, PermissionError):  # none is left
                os.killpg(self._process.pid, number)

    def halt(self) -> None:
        """SIGKILL the whole group, as the instance going down does, even once its script has ended; reap it."""
        if self._process is not None and not self._halted:
            self.signal(signal.SIGKILL)
            self._process.wait()
            self._halted = True
