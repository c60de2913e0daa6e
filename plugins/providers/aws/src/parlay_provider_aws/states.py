"""A block's state from the states of its EC2 instances."""

from __future__ import annotations

from typing import Any

from parlay.providers.base import JobState, JobStatus

#: EC2 instance states of instances that are still there (billed) -> JobState.
ALIVE = {"pending": JobState.PENDING, "running": JobState.RUNNING, "stopping": JobState.HELD, "stopped": JobState.HELD}
#: States of instances that are gone or going.
ENDED = frozenset({"shutting-down", "terminated"})
#: The state reason of an instance terminated through the API (parlay, the console, another tool).
TERMINATED_BY_CALL = "Client.UserInitiatedShutdown"


def block_status(instances: list[dict[str, Any]]) -> JobStatus:
    """The status of a block from the descriptions of its instances (DescribeInstances' `Instances`)."""
    if not instances:
        return JobStatus(JobState.MISSING, message="EC2 lists no instance of this block (ended over an hour ago?)")
    alive = [i for i in instances if i["State"]["Name"] not in ENDED]
    if alive:
        states = {ALIVE.get(i["State"]["Name"], JobState.UNKNOWN) for i in alive}
        state = next((s for s in (JobState.RUNNING, JobState.PENDING, JobState.HELD) if s in states), JobState.UNKNOWN)
        shown = ", ".join(f"{i['InstanceId']} {i['State']['Name']}" for i in instances)
        return JobStatus(state, message=f"instances {shown}")
    reasons = {i["InstanceId"]: i.get("StateReason") or {} for i in instances}
    codes = {reason.get("Code", "") for reason in reasons.values()}
    said = "; ".join(f"{ident}: {reason.get('Message') or reason.get('Code') or 'no reason given'}"
                     for ident, reason in reasons.items())  # fmt: skip
    if any(code.startswith("Server.") for code in codes):
        return JobStatus(JobState.FAILED, message=f"EC2 ended the instances ({said})")
    if codes == {TERMINATED_BY_CALL}:
        return JobStatus(JobState.CANCELLED, message=f"the instances were terminated through the API ({said})")
    return JobStatus(
        JobState.FAILED,
        message=(
            f"the instances shut themselves down ({said}): the block's script ended, its workers exited or "
            "worker_init or python3 failed; `aws ec2 get-console-output --instance-id ID` shows its output"
        ),
    )
