"""Helpers users call from their scripts: finding earlier checkpoints (they live with memoization)."""

from parlay.dataflow.memoization import get_all_checkpoints, get_last_checkpoint

__all__ = ["get_all_checkpoints", "get_last_checkpoint"]
