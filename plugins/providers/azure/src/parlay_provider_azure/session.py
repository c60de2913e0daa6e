"""The credential and the management clients of one subscription, built on first use so that importing the
provider loads no Azure SDK.

Sign-in: with AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (in the environment or in `key_file`),
a `ClientSecretCredential`; otherwise `DefaultAzureCredential` (workload or managed identity, `az login`...).
Endpoints: `base_url` (or AZURE_RESOURCE_MANAGER_URL) replaces the Resource Manager endpoint and `authority`
(or AZURE_AUTHORITY_HOST) the Entra ID one, for Azure Stack and other private clouds; AZURE_CLOUD picks a
sovereign cloud.
"""

from __future__ import annotations

import functools
import json
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from parlay.errors import ConfigurationError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

#: The variables of a service principal's secret sign-in, as azure-identity names them.
SECRET_SIGN_IN = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
ENDPOINT_VARIABLE = "AZURE_RESOURCE_MANAGER_URL"
AUTHORITY_VARIABLE = "AZURE_AUTHORITY_HOST"
#: HTTP attempts per call: a few, so that an unreachable endpoint fails a block within a poll or two.
RETRIES = 3


def read_key_file(path: str) -> dict[str, str]:
    """The `AZURE_*` settings of a key file (Parsl's format: a JSON object of them)."""
    try:
        with open(path) as stream:
            keys = json.load(stream)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"AzureProvider.key_file={path!r}: cannot read it as JSON ({exc})") from None
    if not isinstance(keys, dict):
        raise ConfigurationError(f"AzureProvider.key_file={path!r}: expected a JSON object of AZURE_* settings")
    return {name: str(value) for name, value in keys.items()}


def _host(authority: str) -> str | None:
    return urlparse(authority if "://" in authority else f"https://{authority}").hostname


class AzureSession:
    """One subscription's `resources`, `compute` and `network` clients, sharing one credential."""

    def __init__(
        self, subscription: str, base_url: str | None, authority: str | None, key_file: str | None, timeout: float
    ):
        self.subscription = subscription
        self.base_url = base_url
        self.authority = authority
        self.key_file = key_file
        self.timeout = timeout

    @functools.cached_property
    def credential(self) -> TokenCredential:
        from azure.identity import AzureAuthorityHosts, ClientSecretCredential, DefaultAzureCredential

        keys = read_key_file(self.key_file) if self.key_file else os.environ
        tenant, client, secret = (keys.get(name) for name in SECRET_SIGN_IN)
        options: dict[str, Any] = {}
        if self.authority:
            options["authority"] = self.authority
        if tenant and client and secret:
            known = {getattr(AzureAuthorityHosts, name) for name in dir(AzureAuthorityHosts) if name.isupper()}
            # Microsoft's instance discovery knows only Microsoft's clouds: a private authority skips it
            options["disable_instance_discovery"] = bool(self.authority) and _host(self.authority) not in known
            return ClientSecretCredential(tenant, client, secret, **options)
        if self.key_file:
            raise ConfigurationError(
                f"AzureProvider.key_file={self.key_file!r}: expected {', '.join(SECRET_SIGN_IN)} in it"
            )
        return DefaultAzureCredential(**options)

    def _client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "connection_timeout": self.timeout,
            "read_timeout": self.timeout,
            "retry_total": RETRIES,
        }
        if self.base_url:
            options["base_url"] = self.base_url
        return options

    @functools.cached_property
    def resources(self) -> ResourceManagementClient:
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(self.credential, self.subscription, **self._client_options())

    @functools.cached_property
    def compute(self) -> ComputeManagementClient:
        from azure.mgmt.compute import ComputeManagementClient

        return ComputeManagementClient(self.credential, self.subscription, **self._client_options())

    @functools.cached_property
    def network(self) -> NetworkManagementClient:
        from azure.mgmt.network import NetworkManagementClient

        return NetworkManagementClient(self.credential, self.subscription, **self._client_options())
