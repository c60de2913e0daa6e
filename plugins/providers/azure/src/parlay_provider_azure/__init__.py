"""parlay's Azure provider."""

from parlay_provider_azure.provider import AzureProvider

__all__ = ["AzureProvider"]
