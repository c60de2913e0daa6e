"""A stand-in VM's guest: its custom data run as cloud-init runs it at first boot, as a local process group in a
folder of its own. `python3` is this Python (as on an image with parlay installed), and `shutdown`/`poweroff`
power the machine off: the stand-in then stops its processes and reports it stopped."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from parlay.execution import kill_group

POWER_COMMANDS = ("shutdown", "poweroff", "halt")


class Machine:
    """The guest of one VM, in `directory`."""

    def __init__(self, directory: Path, custom_data: bytes):
        self.directory = directory
        self.custom_data = custom_data
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def marker(self) -> Path:
        return self.directory / "powered-off"

    def boot(self) -> None:
        """Run the custom data (as root would, in the machine's folder), its output in cloud-init's log."""
        sbin = self.directory / "sbin"
        sbin.mkdir(parents=True, exist_ok=True)
        for command in POWER_COMMANDS:
            path = sbin / command
            path.write_text(
                f"#!/bin/sh\n# the stand-in's power-off: the machine stops\ntouch {shlex.quote(str(self.marker))}\n"
            )
            path.chmod(0o755)
        script = self.directory / "custom-data"
        script.write_bytes(self.custom_data)
        (self.directory / "tmp").mkdir(exist_ok=True)
        search = os.pathsep.join([str(sbin), os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])
        environment = {
            "PATH": search,
            "HOME": str(self.directory),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.directory / "tmp"),
        }
        with open(self.directory / "cloud-init-output.log", "ab") as log:
            self._process = subprocess.Popen(
                ["bash", str(script)],
                cwd=self.directory,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def powered_off(self) -> bool:
        return self.marker.exists()

    def stop(self) -> None:
        """Stop every process of the machine."""
        if self._process is not None:
            kill_group(self._process.pid, signal.SIGKILL)
            self._process.wait()
