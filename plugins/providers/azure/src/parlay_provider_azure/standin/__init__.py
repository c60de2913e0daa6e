"""A stand-in of Azure for the provider's tests: Resource Manager and Entra ID over HTTPS on 127.0.0.1, whose
VMs really run their custom data as local process groups."""

from parlay_provider_azure.standin.cloud import AzureStandIn

__all__ = ["AzureStandIn"]
