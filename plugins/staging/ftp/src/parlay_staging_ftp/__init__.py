"""parlay staging of `ftp://` URLs with the standard library's ftplib: `FTPSeparateTaskStaging` (each
transfer a task of its own) and `FTPInTaskStaging` (transfers on the worker, around the app)."""

from parlay_staging_ftp.staging import FTPInTaskStaging, FTPSeparateTaskStaging

__all__ = ["FTPInTaskStaging", "FTPSeparateTaskStaging"]
