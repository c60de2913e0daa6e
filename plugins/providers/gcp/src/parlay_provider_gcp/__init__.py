"""parlay provider plugin: blocks as Google Compute Engine instances."""

from parlay_provider_gcp.provider import GoogleCloudProvider

__all__ = ["GoogleCloudProvider"]
