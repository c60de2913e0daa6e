"""parlay's Slurm provider."""

from parlay_provider_slurm.provider import SlurmProvider

__all__ = ["SlurmProvider"]
