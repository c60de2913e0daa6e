"""What a pod's status means for its block: the pod's `JobState` and, for a pod that cannot or will not run,
why, in the API's own words, with what to check. A pod that waits for something that will not come (an
image that cannot be pulled, a crash loop, a node that does not exist) fails its block at once rather than
leaving the tasks waiting."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from parlay.providers.base import JobState

#: Container waiting reasons that waiting longer does not cure, and what to check for each.
_IMAGE = "check KubernetesProvider.image={image!r} (registry, name and tag) and, for a private registry, `secret`"
_COMMAND = "check that the image has bash, and python3 with parlay-executor-htex, and check worker_init"
STUCK = {
    "ErrImagePull": _IMAGE,
    "ImagePullBackOff": _IMAGE,
    "InvalidImageName": _IMAGE,
    "ErrImageNeverPull": _IMAGE,
    "CrashLoopBackOff": _COMMAND,
    "RunContainerError": _COMMAND,
    "CreateContainerError": "check the pod's spec (`kubectl describe pod {pod}`)",
    "CreateContainerConfigError": "check that the secrets and volumes the pod names exist in its namespace",
}
_OOM = "raise KubernetesProvider.max_mem, or run fewer workers per pod (the executor's max_workers_per_node)"


@dataclass
class Verdict:
    """A pod's state; for a failure, why, the exit code, and which run of its container's log tells more."""

    state: JobState
    message: str = ""
    exit_code: int | None = None
    log_of: str | None = None  # the container whose log to quote
    previous: bool = False  # its previous run's log (it waits to restart)


def judge(pod: Any, unschedulable_timeout: float) -> Verdict:
    """The verdict on one pod (a `V1Pod`) of a block."""
    name, status = pod.metadata.name, pod.status
    if pod.metadata.deletion_timestamp is not None:
        return Verdict(JobState.FAILED, f"pod {name} is being deleted, not by parlay (a drained node, a user?)")
    for container in status.container_statuses or []:
        verdict = _stuck(name, container, pod.spec)
        if verdict is not None:
            return verdict
    if status.phase == "Succeeded":
        return Verdict(JobState.COMPLETED, exit_code=0)
    if status.phase == "Failed":
        return _failed(name, pod)
    if status.phase == "Running":
        return Verdict(JobState.RUNNING)
    if status.phase == "Pending":
        return _pending(name, pod, unschedulable_timeout)
    return Verdict(JobState.UNKNOWN, f"pod {name} is in phase {status.phase}: {status.message or status.reason or ''}")


def _stuck(name: str, container: Any, spec: Any) -> Verdict | None:
    waiting = container.state.waiting if container.state else None
    if waiting is None or waiting.reason not in STUCK:
        return None
    image = next((c.image for c in spec.containers if c.name == container.name), container.image)
    hint = STUCK[waiting.reason].format(image=image, pod=name)
    text = f"pod {name}: container {container.name} is waiting: {waiting.reason}: {waiting.message or ''}".rstrip()
    last = container.last_state.terminated if container.last_state else None
    if last is None:
        return Verdict(JobState.FAILED, f"{text}; {hint}")
    ran = f"it ran {container.restart_count + 1} times, the last ending with exit code {last.exit_code} ({last.reason})"
    hint = _OOM if last.reason == "OOMKilled" else hint
    return Verdict(JobState.FAILED, f"{text}; {ran}; {hint}", last.exit_code, container.name, previous=True)


def _failed(name: str, pod: Any) -> Verdict:
    status = pod.status
    why = f": {status.reason}: {status.message}" if status.reason else ""
    for container in status.container_statuses or []:
        ended = container.state.terminated if container.state else None
        if ended is not None and (ended.exit_code != 0 or ended.reason == "OOMKilled"):
            said = f": {ended.message.strip()}" if ended.message else ""
            text = f"pod {name} failed{why}: container {container.name} exited with code {ended.exit_code} "\
                   f"({ended.reason}){said}"  # fmt: skip
            if ended.reason == "OOMKilled":
                limit = _memory_limit(pod.spec, container.name)
                text += f"; it used more than its memory limit ({limit}): {_OOM}"
            else:
                text += f"; {_COMMAND}"
            return Verdict(JobState.FAILED, text, ended.exit_code, container.name)
    return Verdict(JobState.FAILED, f"pod {name} failed{why}")


def _pending(name: str, pod: Any, unschedulable_timeout: float) -> Verdict:
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == "Unschedulable":
            text = f"pod {name} cannot be scheduled: {condition.message}; it requests {_requests(pod.spec)}"
            since = condition.last_transition_time
            waited = (datetime.datetime.now(datetime.timezone.utc) - since).total_seconds() if since else 0.0
            if waited < unschedulable_timeout:
                return Verdict(JobState.PENDING, text)
            text += "; lower init_cpu, init_mem or extra_requests, or add nodes (where the cluster adds nodes on "\
                    "demand, raise unschedulable_timeout to the time that takes)"  # fmt: skip
            return Verdict(JobState.FAILED, text)
    waiting = [c.state.waiting.reason for c in pod.status.container_statuses or [] if c.state and c.state.waiting]
    return Verdict(JobState.PENDING, f"pod {name}: {', '.join(filter(None, waiting)) or 'pending'}")


def _requests(spec: Any) -> str:
    amounts = [
        f"{k}={v}" for c in spec.containers for k, v in sorted(((c.resources and c.resources.requests) or {}).items())
    ]
    return ", ".join(amounts) or "nothing"


def _memory_limit(spec: Any, container: str) -> str:
    for candidate in spec.containers:
        if candidate.name == container and candidate.resources and candidate.resources.limits:
            return str(candidate.resources.limits.get("memory", "none"))
    return "none"
