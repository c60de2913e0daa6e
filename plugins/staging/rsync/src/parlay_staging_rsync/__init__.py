"""parlay staging plugin: plain-path Files copied with rsync on the worker, around the app."""

from parlay_staging_rsync.command import RsyncError
from parlay_staging_rsync.staging import RSyncStaging

__all__ = ["RSyncStaging", "RsyncError"]
