"""parlay provider plugin: blocks as Amazon EC2 instances (boto3 is imported only when one is used)."""

from parlay_provider_aws.provider import AWSProvider

__all__ = ["AWSProvider"]
