"""parlay staging plugin: members of zip archives, `zip:/path/to/archive.zip/member/path`."""

from parlay_staging_zip.staging import ZipFileStaging, ZipInTaskStaging, ZipStaging
from parlay_staging_zip.urls import ZipURLError

__all__ = ["ZipFileStaging", "ZipInTaskStaging", "ZipStaging", "ZipURLError"]
