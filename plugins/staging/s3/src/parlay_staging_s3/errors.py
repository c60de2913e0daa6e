"""botocore's failures as `S3Error`s that quote S3's error code and say what to check."""

from __future__ import annotations

from typing import Any

CREDENTIALS = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the profile (profile_name, AWS_PROFILE), ~/.aws/credentials"
#: S3 error code -> what it means, with `{bucket}`, `{key}` and `{may}` ("read" or "write") filled in.
MEANINGS = {
    "NoSuchKey": "no such key {key!r} in bucket {bucket!r}",
    "NoSuchBucket": "no such bucket {bucket!r}",
    "AccessDenied": "access denied: these credentials may not {may} s3://{bucket}/{key}; check their IAM policy "
    "and the bucket's policy",
    "AllAccessDisabled": "all access to bucket {bucket!r} is disabled",
    "InvalidAccessKeyId": f"bad credentials: S3 knows no such access key id; check {CREDENTIALS}",
    "SignatureDoesNotMatch": f"bad credentials: the secret key does not match the access key id; check {CREDENTIALS}",
    "InvalidToken": "bad credentials: the session token is malformed or invalid; renew the credentials",
    "ExpiredToken": "bad credentials: the session token has expired; renew the credentials",
    "TokenRefreshRequired": "bad credentials: the session token must be refreshed; renew the credentials",
    "PermanentRedirect": "bucket {bucket!r} is in another region: set region_name to it",
    "AuthorizationHeaderMalformed": "bucket {bucket!r} is in another region: set region_name to it",
}
#: The codes of answers without a body (HEAD requests): a GET of the object's first byte says more.
BARE = ("301", "400", "403", "404")


class S3Error(Exception):
    """An S3 request failed; the message quotes S3's error code and message."""


def client_error(exc: BaseException | None) -> Any:
    """The botocore `ClientError` that `exc` is or was raised while handling (boto3 wraps upload failures)."""
    from botocore.exceptions import ClientError

    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, ClientError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def code_of(exc: BaseException) -> str | None:
    """S3's error code in `exc` (`NoSuchKey`, or just the HTTP status, such as `404`, for a HEAD request)."""
    error = client_error(exc)
    return error.response.get("Error", {}).get("Code") if error is not None else None


def explain(exc: BaseException, bucket: str, key: str, may: str, endpoint: str | None) -> S3Error | None:
    """An `S3Error` saying what `exc` means for s3://bucket/key, or None to let it speak for itself."""
    from botocore.exceptions import (
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return S3Error(f"no AWS credentials found ({exc}): set {CREDENTIALS}, or run where an instance role has them")
    if isinstance(exc, ProfileNotFound):
        return S3Error(f"{exc}: add it to ~/.aws/config (or AWS_CONFIG_FILE), or pick another profile_name")
    if isinstance(exc, EndpointConnectionError):
        where = f"endpoint_url {endpoint}" if endpoint else "the S3 endpoint"
        return S3Error(f"cannot reach {where}: {exc}")
    error = client_error(exc)
    if error is None:
        return None
    details = error.response.get("Error", {})
    code, message = details.get("Code", "?"), details.get("Message", "")
    meaning = MEANINGS.get(code) or MEANINGS.get({"404": "NoSuchKey", "403": "AccessDenied"}.get(code, ""))
    quoted = f"{code}: {message}" if message else code
    if meaning is None:
        return S3Error(f"S3 answered {quoted}")
    return S3Error(f"{meaning.format(bucket=bucket, key=key, may=may)} ({quoted})")
