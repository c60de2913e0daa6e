"""One Globus Transfer task, from submission to its end: `transfer` submits it with the SDK's `TransferClient`,
polls its status until it ends or the timeout passes (then cancels it), and raises `TransferFailed` quoting
the task's status, `nice_status` and events. globus_sdk is imported only here, when a transfer runs."""

from __future__ import annotations

import datetime
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: The statuses of a task that has ended. INACTIVE (paused until someone renews the endpoints' credentials
#: or consents) counts as ended: the task is cancelled and the transfer fails, rather than wait unattended.
ENDED = ("SUCCEEDED", "FAILED", "INACTIVE")
#: `nice_status` values of an active task that is doing well.
HEALTHY = (None, "OK", "Queued")
#: Seconds before the first status poll; each later wait doubles, up to the polling interval.
FIRST_POLL = 0.5
#: Events a failure quotes at most.
MAX_EVENTS = 5


class TransferFailed(RuntimeError):
    """Globus refused a transfer, it failed, or it did not end in time; the message says which and quotes
    Globus."""


@dataclass(frozen=True)
class Location:
    """A path on a Globus endpoint (collection)."""

    endpoint: str
    path: str

    def __str__(self) -> str:
        return f"globus://{self.endpoint}{'' if self.path.startswith('/') else '/'}{self.path}"


def transfer(
    client: Any, source: Location, destination: Location, *, timeout: float, polling_interval: float, label: str
) -> str:
    """Copy `source` to `destination` with one Transfer task and wait for it; its id."""
    import globus_sdk

    deadline = time.monotonic() + timeout
    data = globus_sdk.TransferData(
        source_endpoint=source.endpoint,
        destination_endpoint=destination.endpoint,
        label=re.sub(r"[^A-Za-z0-9 _,.-]", "_", label)[:128],  # the characters Globus takes in a label
        # Globus itself gives up then too, should this process die while the task runs
        deadline=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=timeout),
    )
    data.add_item(source.path, destination.path)
    what = f"from {source} to {destination}"
    try:
        task_id = client.submit_transfer(data)["task_id"]
    except globus_sdk.GlobusError as exc:
        raise TransferFailed(f"Globus refused the transfer {what}: {describe(exc)}") from None
    logger.debug("Globus transfer task %s %s submitted", task_id, what)
    try:
        ended, task = _wait(client, task_id, deadline, polling_interval, what)
    except globus_sdk.GlobusError as exc:
        _cancel(client, task_id)
        raise TransferFailed(f"Globus transfer task {task_id} {what}: polling it failed: {describe(exc)}") from None
    if not ended:
        events = _events(client, task_id)
        _cancel(client, task_id)
        raise TransferFailed(
            f"Globus transfer task {task_id} {what} did not end within {timeout:g} s (the timeout option), so it "
            f"was cancelled; it was {_state(task)}{events}"
        )
    if task["status"] == "SUCCEEDED":
        logger.debug("Globus transfer task %s %s succeeded", task_id, what)
        return task_id
    if task["status"] == "INACTIVE":
        _cancel(client, task_id)
    raise TransferFailed(f"Globus transfer task {task_id} {what} ended {_state(task)}{_events(client, task_id)}")


def _wait(client: Any, task_id: str, deadline: float, polling_interval: float, what: str) -> tuple[bool, Any]:
    """Poll the task until it ends or the deadline passes: whether it ended, and its last document. Trouble it
    reports meanwhile (Globus retries faults itself) is logged as a warning."""
    wait = min(FIRST_POLL, polling_interval)
    warned = None
    while True:
        task = client.get_task(task_id)
        if task["status"] in ENDED:
            return True, task
        nice = task.get("nice_status")
        if nice not in HEALTHY and nice != warned:
            warned = nice
            logger.warning("Globus transfer task %s %s: %s (Globus retries it)", task_id, what, _state(task))
        left = deadline - time.monotonic()
        if left <= 0:
            return False, task
        time.sleep(min(wait, left))
        wait = min(wait * 2, polling_interval)


def _cancel(client: Any, task_id: str) -> None:
    try:
        client.cancel_task(task_id)
    except Exception as exc:  # it may have ended meanwhile; the failure is reported either way
        logger.warning("could not cancel Globus transfer task %s: %s", task_id, exc)


def _state(task: Any) -> str:
    status, nice = task.get("status"), task.get("nice_status")
    return f"{status} (nice_status {nice})" if nice else f"{status}"


def _events(client: Any, task_id: str) -> str:
    """The task's latest events, errors first: '; events: TIME CODE: description (details), ...'."""
    try:
        events = list(client.task_event_list(task_id, limit=50))
    except Exception as exc:
        return f"; its events could not be read: {exc}"
    if not events:
        return "; no events"
    events.sort(key=lambda e: not e.get("is_error"))
    shown = []
    for event in events[:MAX_EVENTS]:
        details = str(event.get("details") or "").strip().replace("\n", " ")
        text = f"{event.get('time', '')} {event.get('code', '')}: {event.get('description', '')}".strip()
        shown.append(f"{text} ({details[:500]})" if details else text)
    return "; events: " + ", ".join(shown)


def describe(exc: Exception) -> str:
    """An SDK error in one line: HTTP status, Globus's code and message."""
    status = getattr(exc, "http_status", None)
    if status is None:
        return f"{type(exc).__name__}: {exc}"
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or getattr(exc, "text", "")
    return f"HTTP {status} {code}: {message}".strip()
