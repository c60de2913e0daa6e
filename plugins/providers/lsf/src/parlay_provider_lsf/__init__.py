"""parlay provider plugin: blocks as IBM Spectrum LSF batch jobs."""

from parlay_provider_lsf.provider import LSFProvider

__all__ = ["LSFProvider"]
