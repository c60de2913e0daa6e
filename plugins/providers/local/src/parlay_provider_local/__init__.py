"""parlay provider plugin: blocks as local process groups."""

from parlay_provider_local.provider import LocalProvider

__all__ = ["LocalProvider"]
