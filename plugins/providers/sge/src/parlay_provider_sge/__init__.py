"""parlay's Grid Engine (SGE) provider."""

from parlay_provider_sge.provider import GridEngineProvider

__all__ = ["GridEngineProvider"]
