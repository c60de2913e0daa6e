"""Helpers users call from their scripts: finding earlier checkpoints (they live with memoization)."""

from parlay.dataflow.memoization import get_all_checkpoints, get_last_checkpoint
from parlay.parsl_fallback import parsl_attributes

__all__ = ["get_all_checkpoints", "get_last_checkpoint"]


__getattr__ = parsl_attributes(__name__)  # Parsl's names for this module
