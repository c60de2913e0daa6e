"""What a failed Compute Engine call or operation means: the API's own message, what to check, and whether
trying again can help. Imported only when a call has failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.api_core import exceptions
from google.auth import exceptions as auth_exceptions

if TYPE_CHECKING:
    from parlay_provider_gcp.provider import GoogleCloudProvider

#: Reasons of a 403 that time cures (a quota or rate limit); any other 403 is a missing permission.
_LIMIT_REASONS = frozenset({"quotaExceeded", "rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})
_EXHAUSTED = ("ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS")


def credentials_source(provider: GoogleCloudProvider) -> str:
    return f"key_file={provider.key_file}" if provider.key_file else "Application Default Credentials"


def _quota_hint(provider: GoogleCloudProvider) -> str:
    return (
        f"a quota of project {provider.project_id} is used up: see IAM & Admin > Quotas (CPUs, instances and in-use "
        "IP addresses of the region), ask for more, or lower max_blocks or nodes_per_block"
    )


def _credentials_hint(provider: GoogleCloudProvider) -> str:
    if provider.key_file is None:
        return (
            "check Application Default Credentials (`gcloud auth application-default print-access-token`), or give "
            "key_file a service account's JSON key file"
        )
    return (
        f"check that key_file={provider.key_file} is a current key of an enabled service account (IAM & Admin > "
        "Service accounts > Keys), or use Application Default Credentials (key_file=None)"
    )


def unloadable_credentials(exc: BaseException, provider: GoogleCloudProvider) -> str:
    """The message for credentials that cannot be loaded (a missing or malformed key file, no ADC)."""
    return (
        f"cannot load credentials from {credentials_source(provider)}: {exc}; give key_file a service account's "
        "JSON key file, or set up Application Default Credentials (`gcloud auth application-default login`, or "
        "GOOGLE_APPLICATION_CREDENTIALS)"
    )


def explain(exc: BaseException, provider: GoogleCloudProvider) -> tuple[str, bool]:
    """The message for a failed call, and whether the failure is permanent (trying again cannot help)."""
    if isinstance(exc, auth_exceptions.RefreshError):
        return f"Google refused the credentials: {exc}; {_credentials_hint(provider)}", True
    if not isinstance(exc, exceptions.GoogleAPICallError):
        return f"cannot reach the Compute Engine API: {type(exc).__name__}: {exc}", False
    said = f"{exc.code} {exc.message}"
    reasons = {error.get("reason") for error in exc.errors if isinstance(error, dict)} | {exc.reason}
    if exc.code == 401:
        return f"{said}; {_credentials_hint(provider)}", True
    if exc.code == 403 and reasons & _LIMIT_REASONS:
        return f"{said}; {_quota_hint(provider)}", False
    if exc.code == 403:
        return (
            f"{said}; check that the account of {credentials_source(provider)} has the role Compute Instance Admin "
            f"(v1) (roles/compute.instanceAdmin.v1) in project {provider.project_id}, and that the project has the "
            "Compute Engine API enabled",
            True,
        )
    if exc.code == 404:
        return (
            f"{said}; check project_id={provider.project_id!r}, region={provider.region!r} (a zone), and the image "
            f"family (`gcloud compute images describe-from-family {provider.os_family} --project "
            f"{provider.os_project}`)",
            True,
        )
    if exc.code == 400:
        return (
            f"{said}; check instance_type={provider.instance_type!r} (`gcloud compute machine-types list --zones "
            f"{provider.region}`) and the other options",
            True,
        )
    return said, False


def operation_failure(errors: list[tuple[str, str]], provider: GoogleCloudProvider) -> str:
    """The message for an operation that finished with `errors` (code, message), with what to check."""
    said = "; ".join(f"{code}: {message}" for code, message in errors)
    codes = {code for code, _ in errors}
    if codes & set(_EXHAUSTED):
        return (
            f"{said}; zone {provider.region} has no capacity for {provider.instance_type} now: parlay tries again, "
            "and another zone (region) or instance_type may have some"
        )
    if "QUOTA_EXCEEDED" in codes:
        return f"{said}; {_quota_hint(provider)}"
    return said
