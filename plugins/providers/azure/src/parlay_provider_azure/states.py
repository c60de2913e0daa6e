"""A block's state from its virtual machines' provisioning state and instance view.

| the block's VMs | JobState |
|---|---|
| none left (or all being deleted) | MISSING (CANCELLED once parlay cancelled it) |
| any whose provisioning failed (`ProvisioningState/failed/CODE`) | FAILED, quoting the code and message |
| any still being created or starting | PENDING |
| any running (`PowerState/running`) | RUNNING |
| all powered off (their workers ended) | COMPLETED |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parlay.providers.base import JobState, JobStatus
from parlay_provider_azure.failures import classify

RUNNING_POWER = "PowerState/running"
ENDED_POWER = ("PowerState/stopping", "PowerState/stopped", "PowerState/deallocating", "PowerState/deallocated")
FAILED_PROVISIONING = "ProvisioningState/failed/"


def block_status(vms: Sequence[Any]) -> JobStatus:
    """The status of a block whose VMs (as listed with their instance view) are `vms`."""
    alive = [vm for vm in vms if (vm.properties.provisioning_state or "").lower() != "deleting"]
    if not alive:
        return JobStatus(JobState.MISSING, message="none of the block's virtual machines exists")
    failures = [(vm.name, failure) for vm in alive if (failure := provisioning_failure(vm)) is not None]
    if failures:
        text = "; ".join(f"virtual machine {name} could not be created: {failure}" for name, failure in failures)
        return JobStatus(JobState.FAILED, message=text)
    powers = [power_state(vm) for vm in alive]
    if any(power not in (RUNNING_POWER, *ENDED_POWER) for power in powers):
        return JobStatus(JobState.PENDING, message="virtual machines being created or starting")
    if RUNNING_POWER in powers:
        return JobStatus(JobState.RUNNING)
    return JobStatus(JobState.COMPLETED, message="the virtual machines powered off: their workers ended")


def statuses(vm: Any) -> list[Any]:
    view = vm.properties.instance_view
    return list(view.statuses or []) if view is not None else []


def power_state(vm: Any) -> str | None:
    if (vm.properties.provisioning_state or "").lower() != "succeeded":
        return None
    return next((s.code for s in statuses(vm) if (s.code or "").startswith("PowerState/")), None)


def provisioning_failure(vm: Any) -> str | None:
    """What a VM whose provisioning failed reports (the long-running operation's final error), or None."""
    if (vm.properties.provisioning_state or "").lower() != "failed":
        return None
    for status in statuses(vm):
        code = status.code or ""
        if code.startswith(FAILED_PROVISIONING):
            return str(classify(code.removeprefix(FAILED_PROVISIONING), status.message or status.display_status or ""))
    return "provisioning failed, and its instance view says no more"
