"""parlay staging plugin: `globus://` Files moved by Globus Transfer tasks, before and after the app."""

from parlay_staging_globus.staging import TOKEN_VARIABLE, GlobusStaging
from parlay_staging_globus.transfer import TransferFailed

__all__ = ["TOKEN_VARIABLE", "GlobusStaging", "TransferFailed"]
