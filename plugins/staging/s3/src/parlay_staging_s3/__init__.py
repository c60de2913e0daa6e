"""parlay staging plugin: s3://bucket/key files through boto3 (imported only when a file moves)."""

from parlay_staging_s3.errors import S3Error
from parlay_staging_s3.staging import S3InTaskStaging, S3SeparateTaskStaging, S3Staging

__all__ = ["S3Error", "S3InTaskStaging", "S3SeparateTaskStaging", "S3Staging"]
