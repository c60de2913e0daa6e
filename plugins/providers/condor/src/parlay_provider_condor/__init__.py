"""parlay's HTCondor provider."""

from parlay_provider_condor.provider import CondorProvider

__all__ = ["CondorProvider"]
