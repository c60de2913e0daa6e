"""The stand-in's kubelet: runs one pod on the stand-in's single node, as a real kubelet would, with local
processes in place of containers.

It schedules the pod (requests beyond the node's capacity leave it Pending and Unschedulable), "pulls" each
image (a missing one gives ErrImagePull, then ImagePullBackOff), resolves the container's environment from
its `env` and `envFrom` (secrets of the stand-in), runs `command` + `args` in a session of its own with this
Python's folder first on PATH (as an image with parlay installed would have it), captures its output for the
log API, and restarts it under the pod's `restartPolicy`, with CrashLoopBackOff between attempts. The
cluster's memory watch kills a container that exceeds its memory limit (OOMKilled, exit code 137); it samples
every 0.2 s, so a shorter peak may pass where a real cgroup limit would not let it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parlay_provider_kubernetes.standin.processes import kill_all, resident_bytes

if TYPE_CHECKING:
    from parlay_provider_kubernetes.standin.cluster import Cluster

NODE = "standin-node"
#: What a host's PATH has besides this Python's folder.
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff")


class ContainerConfigError(Exception):
    """The container's environment names something that does not exist (CreateContainerConfigError)."""


@dataclass
class Container:
    """What the kubelet knows of one container of the pod."""

    index: int
    spec: dict[str, Any]
    memory_limit: int | None
    runs: list[Path] = field(default_factory=list)  # the log of each time it started
    process: subprocess.Popen | None = None
    oom: bool = False  # the memory watch killed it
    final: bool = False  # it terminated and will not restart

    @property
    def name(self) -> str:
        return self.spec["name"]


class Kubelet:
    """Runs one pod until it ends or is deleted."""

    def __init__(self, cluster: Cluster, pod: dict[str, Any], workdir: Path):
        from kubernetes.utils.quantity import parse_quantity

        self.cluster = cluster
        self.pod = pod  # the stored object: changed under cluster.lock
        self.workdir = workdir
        self.stopping = threading.Event()
        self._lock = threading.Lock()  # each container's process is started, signalled and reaped under it
        self.containers = []
        for index, spec in enumerate(pod["spec"]["containers"]):
            memory = spec.get("resources", {}).get("limits", {}).get("memory")
            limit = int(parse_quantity(memory)) if memory is not None else None
            self.containers.append(Container(index, spec, limit))

    @property
    def name(self) -> str:
        return self.pod["metadata"]["name"]

    @property
    def namespace(self) -> str:
        return self.pod["metadata"]["namespace"]

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"kubelet-{self.name}", daemon=True).start()

    def stop(self, grace: float) -> None:
        """Stop every container: SIGTERM, then SIGKILL after `grace` seconds (at once when 0)."""
        self.stopping.set()
        self._signal(signal.SIGTERM if grace else signal.SIGKILL)
        deadline = time.monotonic() + grace
        while any(c.process is not None for c in self.containers) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        with self._lock:  # a container's first process is reaped under this lock: until then its pid is its own
            for container in self.containers:
                if container.process is not None:
                    kill_all(container.process.pid, signum)

    def enforce_memory_limits(self, table: dict[int, tuple[int, int, int]]) -> None:
        """OOM-kill the containers whose processes (in the host's process `table`) hold more than their limit."""
        with self._lock:
            for container in self.containers:
                process, limit = container.process, container.memory_limit
                if process is not None and limit is not None and resident_bytes(process.pid, table) > limit:
                    container.oom = True
                    kill_all(process.pid)

    # --- the pod ----------------------------------------------------------------------------------

    def _run(self) -> None:
        lacking = self.cluster.lacking(self.pod)
        if lacking:
            message = f"0/1 nodes are available: {', '.join(f'1 Insufficient {r}' for r in lacking)}. preemption: "
            message += "0/1 nodes are available: 1 No preemption victims found for incoming pod."
            self._condition("PodScheduled", "False", "Unschedulable", message)
            return
        with self.cluster.lock:
            self.pod["spec"]["nodeName"] = NODE
            self.pod["status"].update(hostIP="127.0.0.1", podIP="127.0.0.1", startTime=self.cluster.now())
        self._condition("PodScheduled", "True")
        for container in self.containers:
            threading.Thread(target=self._run_container, args=(container,), daemon=True).start()

    def _condition(self, kind: str, status: str, reason: str | None = None, message: str | None = None) -> None:
        condition = {"type": kind, "status": status, "lastTransitionTime": self.cluster.now()}
        if reason:
            condition.update(reason=reason, message=message)
        with self.cluster.lock:
            conditions = [c for c in self.pod["status"].get("conditions", []) if c["type"] != kind]
            self.pod["status"]["conditions"] = [*conditions, condition]
            self.cluster.touch(self.pod)

    def _set(self, container: Container, state: dict[str, Any], **changes: Any) -> None:
        """Set a container's state (and other status fields), then the pod's phase and readiness from all."""
        with self.cluster.lock:
            status = self.pod["status"]["containerStatuses"][container.index]
            status.update(state=state, ready="running" in state, started="running" in state, **changes)
            statuses = self.pod["status"]["containerStatuses"]
            never_ran = any("waiting" in s["state"] and not s.get("lastState") for s in statuses)
            if all("terminated" in s["state"] for s in statuses) and all(c.final for c in self.containers):
                failed = any(s["state"]["terminated"]["exitCode"] != 0 for s in statuses)
                phase = "Failed" if failed else "Succeeded"
            elif never_ran and not any("running" in s["state"] for s in statuses):
                phase = "Pending"
            else:
                phase = "Running"
            self.pod["status"]["phase"] = phase
            self.cluster.touch(self.pod)
        ready = all("running" in s["state"] for s in statuses)
        self._condition("Ready", "True" if ready else "False", None if ready else "ContainersNotReady")

    # --- a container ------------------------------------------------------------------------------

    def _run_container(self, container: Container) -> None:
        image = container.spec["image"]
        if self.cluster.image_missing(image):
            reference = image if "/" in image else f"docker.io/library/{image}"
            reference += "" if ":" in reference.rpartition("/")[2] else ":latest"
            message = (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{reference}": failed to '
                f'resolve reference "{reference}": {reference}: not found'
            )
            self._set(container, {"waiting": {"reason": "ErrImagePull", "message": message}})
            if not self.stopping.wait(self.cluster.pull_delay):
                back_off = {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}
                self._set(container, {"waiting": back_off})
            return
        previous: dict[str, Any] | None = None  # how its last run ended
        while not self.stopping.is_set():
            try:
                env = self._environment(container.spec)
            except ContainerConfigError as exc:
                self._set(container, {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}})
                self.stopping.wait(0.3)
                continue
            terminated = self._execute(container, env, previous)
            if self.stopping.is_set():
                return
            policy = self.pod["spec"]["restartPolicy"]
            if policy == "Never" or (policy == "OnFailure" and terminated["exitCode"] == 0):
                container.final = True
                self._set(container, {"terminated": terminated})
                return
            previous = terminated
            if len(container.runs) == 1:  # the first restart comes at once, later ones after a growing back-off
                self._set(container, {"terminated": terminated})
                continue
            delay = min(self.cluster.crash_backoff * 2 ** (len(container.runs) - 2), 10 * self.cluster.crash_backoff)
            message = f"back-off {delay:g}s restarting failed container={container.name} pod={self.name}"
            waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
            self._set(container, waiting, lastState={"terminated": terminated})
            self.stopping.wait(delay)

    def _execute(self, container: Container, env: dict[str, str], previous: dict[str, Any] | None) -> dict[str, Any]:
        """Run the container once (again, after a run that ended as `previous`); its `terminated` state."""
        command = [*container.spec.get("command", []), *container.spec.get("args", [])]
        started = self.cluster.now()
        log = self.workdir / f"{container.name}-{len(container.runs)}.log"
        with self._lock, open(log, "wb") as stream:
            if self.stopping.is_set():
                return {"exitCode": 137, "reason": "Error", "startedAt": started, "finishedAt": started}
            try:
                if not command:
                    raise OSError("the stand-in has no image entrypoints: give the container a command")
                process = subprocess.Popen(
                    command, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=stream,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                program = command[0] if command else ""
                message = f'failed to create containerd task: exec: "{program}": {exc.strerror or exc}'
                return {"exitCode": 128, "reason": "StartError", "message": message, "startedAt": started,
                        "finishedAt": started}  # fmt: skip
            container.runs.append(log)
            container.process, container.oom = process, False
        last = {"terminated": previous} if previous else {}
        self._set(container, {"running": {"startedAt": started}}, lastState=last, restartCount=len(container.runs) - 1)
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # it ended, but its pid stays its own
        kill_all(process.pid)  # the container's other processes end with its first one
        with self._lock:
            code = process.wait()
            container.process = None
        code = 128 - code if code < 0 else code
        reason = "OOMKilled" if container.oom else "Completed" if code == 0 else "Error"
        return {"exitCode": 137 if container.oom else code, "reason": reason, "startedAt": started,
                "finishedAt": self.cluster.now()}  # fmt: skip

    def _environment(self, spec: dict[str, Any]) -> dict[str, str]:
        env = {"PATH": f"{os.path.dirname(sys.executable)}:{_SYSTEM_PATH}", "HOME": str(self.workdir),
               "HOSTNAME": self.name}  # fmt: skip
        for source in spec.get("envFrom", []):
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                data = self._secret(source["secretRef"])
                env.update({prefix + key: value for key, value in (data or {}).items()})
            elif not source.get("configMapRef", {}).get("optional"):
                name = source.get("configMapRef", {}).get("name")
                raise ContainerConfigError(f'configmap "{name}" not found')  # the stand-in keeps no ConfigMaps
        for variable in spec.get("env", []):
            source = variable.get("valueFrom")
            if source is None:
                env[variable["name"]] = variable.get("value", "")
            elif "secretKeyRef" in source:
                reference = source["secretKeyRef"]
                data = self._secret(reference)
                if data is not None and reference["key"] in data:
                    env[variable["name"]] = data[reference["key"]]
                elif data is not None and not reference.get("optional"):
                    raise ContainerConfigError(
                        f"couldn't find key {reference['key']} in Secret {self.namespace}/{reference['name']}"
                    )
            elif "fieldRef" in source:
                fields = {"metadata.name": self.name, "metadata.namespace": self.namespace,
                          "spec.nodeName": NODE, "status.podIP": "127.0.0.1"}  # fmt: skip
                env[variable["name"]] = fields.get(source["fieldRef"]["fieldPath"], "")
            else:
                raise ContainerConfigError(f"the stand-in cannot resolve {variable['name']} from {sorted(source)}")
        return env

    def _secret(self, reference: dict[str, Any]) -> dict[str, str] | None:
        data = self.cluster.secret_values(self.namespace, reference["name"])
        if data is None and not reference.get("optional"):
            raise ContainerConfigError(f'secret "{reference["name"]}" not found')
        return data

    # --- logs -------------------------------------------------------------------------------------

    def log(self, name: str | None, tail: int | None, previous: bool) -> str:
        """The output of the container's current run (its last, while it waits to restart), or with `previous`
        of the run before; raises LookupError with the API's message when there is none."""
        if name is None and len(self.containers) > 1:
            names = " ".join(c.name for c in self.containers)
            raise LookupError(f"a container name must be specified for pod {self.name}, choose one of: [{names}]")
        found = [c for c in self.containers if name in (None, c.name)]
        if not found:
            raise LookupError(f"container {name} is not valid for pod {self.name}")
        container = found[0]
        with self.cluster.lock:  # the status names the current run: the runs list may hold one just starting
            status = dict(self.pod["status"]["containerStatuses"][container.index])
        state, current = status["state"], status["restartCount"]
        if "waiting" in state and not status.get("lastState"):  # it never ran
            current = -1
        index = current if not previous or "waiting" in state else current - 1
        if not 0 <= index < len(container.runs):
            if previous:
                raise LookupError(f'previous terminated container "{container.name}" in pod "{self.name}" not found')
            reason = state.get("waiting", {}).get("reason", "ContainerCreating")
            reason = "trying and failing to pull image" if reason in _PULL_FAILURES else reason
            raise LookupError(f'container "{container.name}" in pod "{self.name}" is waiting to start: {reason}')
        lines = container.runs[index].read_text(errors="replace").splitlines(keepends=True)
        return "".join(lines[-tail:] if tail is not None else lines)
