"""What an Azure refusal means: the API's own code and message, whether trying again can help, and what to
check. Every SDK call of the provider goes through `calling`, which turns the SDK's errors into `AzureRefused`
naming the call."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from parlay.errors import ExecutionProviderException

CREDENTIALS = (
    "check the principal's credentials: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or key_file), "
    "or the sign-in DefaultAzureCredential uses (`az login`, a managed identity)"
)
ROLE = "the principal needs the Contributor role on the subscription, or on group_name's group"
IMAGE = (
    "check vm_reference's publisher, offer, sku and version "
    "(`az vm image list --location LOCATION --publisher P --offer O --sku S --all`)"
)
SIZE = "check vm_reference['vm_size'] (`az vm list-sizes --location LOCATION`)"
QUOTA = (
    "the subscription's vCPU quota for this VM family in this location is used up: lower max_blocks or "
    "nodes_per_block, stop other VMs, or request more (Portal: Subscriptions > Usage + quotas)"
)
NOT_OFFERED = (
    "this vm_size is not offered to the subscription in this location "
    "(`az vm list-skus --location LOCATION --size SIZE --all`): pick another vm_size or location"
)
CAPACITY = "Azure has no capacity for this vm_size in this location now: parlay tries again; or pick another"

#: code -> (whether no retry can help, what to check)
KNOWN: dict[str, tuple[bool, str]] = {
    "InvalidAuthenticationToken": (True, CREDENTIALS),
    "InvalidAuthenticationTokenTenant": (True, CREDENTIALS),
    "ExpiredAuthenticationToken": (True, CREDENTIALS),
    "AuthenticationFailed": (True, CREDENTIALS),
    "AuthorizationFailed": (True, ROLE),
    "LinkedAuthorizationFailed": (True, ROLE),
    "SubscriptionNotFound": (True, "check subscription_id (or AZURE_SUBSCRIPTION_ID)"),
    "InvalidSubscriptionId": (True, "check subscription_id (or AZURE_SUBSCRIPTION_ID)"),
    "MissingSubscriptionRegistration": (
        True,
        "register the resource provider: `az provider register --namespace Microsoft.Compute` (and Microsoft.Network)",
    ),
    "ResourceGroupNotFound": (True, "create the group, or leave group_name=None for parlay to create one per run"),
    "PlatformImageNotFound": (True, IMAGE),
    "ImageNotFound": (True, IMAGE),
    "VMMarketplaceInvalidInput": (True, IMAGE),
    "SkuNotAvailable": (True, NOT_OFFERED),
    "QuotaExceeded": (False, QUOTA),
    "AllocationFailed": (False, CAPACITY),
    "ZonalAllocationFailed": (False, CAPACITY),
    "OverconstrainedAllocationRequest": (False, CAPACITY),
    "OverconstrainedZonalAllocationRequest": (False, CAPACITY),
}


class Failure(NamedTuple):
    """An Azure error: its code and message as the API gave them, whether retrying cannot help, what to check."""

    code: str
    message: str
    permanent: bool
    advice: str

    def __str__(self) -> str:
        text = self.message if self.code in self.message else f"{self.code}: {self.message}"
        return f"{text} ({self.advice})" if self.advice else text


class AzureRefused(ExecutionProviderException):
    """An Azure call failed; the message names the call, the API's code and message and what to check.
    `answered` is False when no answer came (a connection lost): a creation may have happened all the same."""

    def __init__(self, action: str, failure: Failure, answered: bool = True):
        self.action = action
        self.failure = failure
        self.answered = answered
        super().__init__(f"Azure refused to {action}: {failure}")


def classify(code: str, message: str, status: int | None = None) -> Failure:
    """The failure an API code and message (and HTTP status) stand for."""
    if code == "OperationNotAllowed" and "quota" in message.lower():
        return Failure(code, message, False, QUOTA)
    if code in KNOWN:
        permanent, advice = KNOWN[code]
        return Failure(code, message, permanent, advice)
    if code == "InvalidParameter":
        advice = SIZE if "size" in message.lower() else IMAGE if "image" in message.lower() else ""
        return Failure(code, message, True, advice or "check vm_reference and the provider's options")
    # other client errors repeat when repeated; conflicts, throttling and server errors pass
    return Failure(code, message, status in (400, 401, 403, 404), "")


def explain(exc: BaseException) -> Failure:
    """The failure an SDK exception reports."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    if isinstance(exc, ClientAuthenticationError):
        if not code:  # the token request itself failed: Entra ID's code is in the message (AADSTS7000215)
            found = re.search(r"\bAADSTS\d+", message)
            code = found.group() if found else "AuthenticationFailed"
        return Failure(code, message, True, CREDENTIALS)
    if isinstance(exc, HttpResponseError):
        return classify(code or str(exc.reason or ""), message, exc.status_code)
    return Failure(type(exc).__name__, message, False, "cannot reach Azure Resource Manager: check base_url")


@contextmanager
def calling(action: str) -> Iterator[None]:
    """Turn any Azure SDK error raised in the block into `AzureRefused(action, ...)`."""
    from azure.core.exceptions import AzureError, HttpResponseError

    try:
        yield
    except AzureError as exc:
        raise AzureRefused(action, explain(exc), answered=isinstance(exc, HttpResponseError)) from exc
