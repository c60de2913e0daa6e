"""Reaching EC2 through boto3: the client (with the provider's credentials, region and timeouts) and what a
refusal means (the API's own code and message, what to check, and whether trying again can help).

boto3 is imported here only when a client is built, so that importing the plugin stays cheap.
"""

from __future__ import annotations

import json
import os
from typing import Any

#: Error codes that no retry can fix: the credentials, the image, the instance type or another setting.
PERMANENT = {
    "AuthFailure",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnauthorizedOperation",
    "OptInRequired",
    "Blocked",
    "PendingVerification",
    "InvalidAMIID.NotFound",
    "InvalidAMIID.Malformed",
    "InvalidAMIID.Unavailable",
    "InvalidInstanceType",
    "InvalidInstanceType.NotFound",
    "Unsupported",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "InvalidKeyPair.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidVpcID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidGroupId.Malformed",
}

_CREDENTIALS = (
    "check the credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary "
    "ones), the provider's `profile` or its `key_file`"
)


def hint(code: str, provider: Any) -> str:
    """What to check after the API refused with `code`."""
    region = provider.region
    if code in ("AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch"):
        return _CREDENTIALS
    if code == "UnauthorizedOperation":
        return "the credentials are valid but lack this EC2 permission: ask for it in IAM"
    if code in ("OptInRequired", "Blocked", "PendingVerification"):
        return f"the account cannot use EC2 in {region} yet (its subscription, or the AMI's Marketplace terms)"
    if code.startswith("InvalidAMIID"):
        return f"image_id={provider.image_id!r} must be an AMI this account may use in {region} (AMIs are regional)"
    if code.startswith("InvalidInstanceType") or code == "Unsupported":
        return (
            f"instance_type={provider.instance_type!r} must be offered in {region} and the subnet's availability "
            "zone (`aws ec2 describe-instance-type-offerings`)"
        )
    if code in ("InstanceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded"):
        return (
            f"the account's EC2 quota in {region} is used up: lower max_blocks or nodes_per_block, end other "
            "instances, or ask for more in the Service Quotas console"
        )
    if code.startswith("Insufficient"):
        return (
            f"AWS has no {provider.instance_type} capacity in {region} now: try later, another instance_type, or "
            "another subnet_id (another availability zone)"
        )
    if code == "SpotMaxPriceTooLow":
        return f"spot_max_bid={provider.spot_max_bid!r} is below the spot price of {provider.instance_type}"
    if code.endswith("LimitExceeded"):
        return f"an EC2 quota of the account in {region} is used up: end what uses it or ask for more"
    if code == "InvalidKeyPair.NotFound":
        return f"key_name={provider.key_name!r} must be a key pair of {region}"
    if code.startswith(("InvalidSubnetID", "InvalidVpcID", "InvalidGroup")):
        return "subnet_id, vpc_id and security_group_id must name networking of this region"
    return "see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html"


class SettingError(Exception):
    """The provider's settings cannot work (an unreadable key file, networking options that do not fit
    together): no retry can help."""


def describe(exc: BaseException, provider: Any) -> tuple[str, bool]:
    """(What `exc`, raised by an EC2 call, means, and whether no retry can help)."""
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError, ProfileNotFound

    if isinstance(exc, SettingError):
        return str(exc), True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", str(exc))
        text = f"EC2 {exc.operation_name} failed: {code}: {message} ({hint(code, provider)})"
        return text, code in PERMANENT
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return f"EC2: {exc}; {_CREDENTIALS}", True
    if isinstance(exc, ProfileNotFound):
        return f"EC2: {exc}: `profile` must name a profile of ~/.aws/config or ~/.aws/credentials", True
    return f"EC2 unreachable: {type(exc).__name__}: {exc}", False


def api_errors() -> tuple[type[Exception], ...]:
    """What an EC2 call raises when it fails: a refusal, a network failure, missing credentials, a setting."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, SettingError)


def read_key_file(path: str) -> dict[str, str]:
    """boto3 session arguments from a JSON key file: boto3's names (`aws_access_key_id`,
    `aws_secret_access_key`, `aws_session_token`) or those of Parsl's docs (`AWSAccessKeyId`, `AWSSecretKey`)."""
    with open(os.path.expanduser(os.path.expandvars(path))) as stream:
        content = json.load(stream)
    if not isinstance(content, dict):
        raise ValueError("expected a JSON object")
    aliases = {"AWSAccessKeyId": "aws_access_key_id", "AWSSecretKey": "aws_secret_access_key"}
    keys = {aliases.get(name, name): value for name, value in content.items()}
    wanted = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
    missing = [name for name in wanted[:2] if not keys.get(name)]
    if missing:
        raise ValueError(f"no {' or '.join(missing)} in it")
    return {name: keys[name] for name in wanted if keys.get(name)}


def ec2_client(provider: Any) -> Any:
    """An EC2 client for the provider's region, with its `key_file` or `profile` (else boto3's usual chain:
    environment, ~/.aws, instance role) and `api_timeout`; botocore retries throttling and server errors."""
    import boto3
    from botocore.config import Config

    if provider.key_file is not None:
        try:
            keys = read_key_file(provider.key_file)
        except (OSError, ValueError) as exc:
            raise SettingError(f"key_file={provider.key_file!r} cannot be read: {exc}") from None
        session = boto3.session.Session(region_name=provider.region, **keys)
    else:
        session = boto3.session.Session(region_name=provider.region, profile_name=provider.profile)
    config = Config(
        connect_timeout=provider.api_timeout,
        read_timeout=provider.api_timeout,
        retries={"mode": "standard", "max_attempts": 3},
    )
    return session.client("ec2", config=config)
