"""`s3://bucket/key` files, moved by boto3's managed transfers (multipart above `multipart_threshold`)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from parlay.errors import StagingError
from parlay.files import File
from parlay.staging.transfer import TransferStaging
from parlay_staging_s3 import options
from parlay_staging_s3.errors import BARE, S3Error, code_of, explain

#: The options and their defaults.
DEFAULTS: dict[str, Any] = {
    "endpoint_url": None,
    "region_name": None,
    "profile_name": None,
    "multipart_threshold": 8 * options.MiB,
    "multipart_chunksize": 8 * options.MiB,
    "max_concurrency": 10,
}


def split(file: File) -> tuple[str, str]:
    """The bucket and key of an `s3://bucket/key` URL."""
    key = file.path[1:] if file.path.startswith("/") else file.path
    if not file.netloc or not key or key.endswith("/"):
        raise S3Error(f"{file.url} names no object: an s3 URL is s3://bucket/key")
    return file.netloc, key


class S3Staging(TransferStaging):
    """Stages `s3://bucket/key` URLs in and out with boto3. Each process makes its own client on first use:
    the object travels to workers by pickle without it."""

    schemes: ClassVar[tuple[str, ...]] = ("s3",)
    _TRANSIENT: ClassVar[tuple[str, ...]] = ("_client", "_pid", "_lock")

    def __init__(
        self,
        *,
        endpoint_url: str | None = DEFAULTS["endpoint_url"],
        region_name: str | None = DEFAULTS["region_name"],
        profile_name: str | None = DEFAULTS["profile_name"],
        multipart_threshold: int = DEFAULTS["multipart_threshold"],
        multipart_chunksize: int = DEFAULTS["multipart_chunksize"],
        max_concurrency: int = DEFAULTS["max_concurrency"],
    ):
        owner = type(self).__name__
        self.endpoint_url = options.endpoint_url(owner, endpoint_url)
        self.region_name = options.name(owner, "region_name", region_name, "an AWS region such as 'us-east-1'")
        self.profile_name = options.name(owner, "profile_name", profile_name, "a profile of the AWS config files")
        threshold = "bytes > 0 (the size from which a file moves in parts)"
        self.multipart_threshold = options.integer(
            owner, "multipart_threshold", multipart_threshold, 1, None, threshold
        )
        parts = f"bytes from 5 MiB ({options.MIN_PART}) to 5 GiB ({options.MAX_PART}), S3's limits on a part"
        self.multipart_chunksize = options.integer(
            owner, "multipart_chunksize", multipart_chunksize, options.MIN_PART, options.MAX_PART, parts
        )
        self.max_concurrency = options.integer(
            owner, "max_concurrency", max_concurrency, 1, None, "an int >= 1 (threads moving parts of one file)"
        )
        self._forget()

    # --- the client, one per process ------------------------------------------------------------------

    def _forget(self) -> None:
        self._client: Any = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if name not in self._TRANSIENT}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._forget()

    def client(self) -> Any:
        """This process's boto3 S3 client, made on first use (and again in a forked child)."""
        pid = os.getpid()
        with self._lock:
            if self._client is None or self._pid != pid:
                import boto3
                from botocore.config import Config

                session = boto3.session.Session(profile_name=self.profile_name, region_name=self.region_name)
                config = Config(max_pool_connections=max(10, self.max_concurrency))  # a connection per thread
                self._client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
                self._pid = pid
            return self._client

    def transfer_config(self) -> Any:
        """boto3's `TransferConfig` of these options: it does the multipart transfers."""
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
            use_threads=True,
        )

    # --- TransferStaging ------------------------------------------------------------------------------

    def download(self, file: File, path: str) -> None:
        config = self.transfer_config()
        self._call(file, "read", lambda s3, bucket, key: s3.download_file(bucket, key, path, Config=config))

    def upload(self, path: str, file: File) -> None:
        config = self.transfer_config()
        self._call(file, "write", lambda s3, bucket, key: s3.upload_file(path, bucket, key, Config=config))

    def version(self, file: File) -> str | None:
        """The object's ETag (HeadObject)."""
        return self._call(file, "read", lambda s3, bucket, key: s3.head_object(Bucket=bucket, Key=key)).get("ETag")

    def stage_in(self, dm: Any, executor: str, file: File, parent_fut: Any) -> Any:
        _check(file, "in")
        return super().stage_in(dm, executor, file, parent_fut)

    def stage_out(self, dm: Any, executor: str, file: File, app_fu: Any) -> Any:
        _check(file, "out")
        return super().stage_out(dm, executor, file, app_fu)

    def _call(self, file: File, may: str, action: Callable[[Any, str, str], Any]) -> Any:
        """`action(client, bucket, key)`, with its failure explained as an `S3Error`."""
        bucket, key = split(file)
        client = None
        try:
            client = self.client()
            return action(client, bucket, key)
        except Exception as exc:
            failure: BaseException = exc
            if client is not None and may == "read" and code_of(exc) in BARE:
                failure = _ask_for_the_code(client, bucket, key) or exc
            explained = explain(failure, bucket, key, may, self.endpoint_url)
            if explained is None:
                raise
            raise explained from exc

    def __repr__(self) -> str:
        changed = [f"{name}={getattr(self, name)!r}" for name in DEFAULTS if getattr(self, name) != DEFAULTS[name]]
        return f"{type(self).__name__}({', '.join(changed)})"


def _ask_for_the_code(client: Any, bucket: str, key: str) -> BaseException | None:
    """The failure of a GET of the object's first byte: unlike HEAD's, its answer has S3's error code
    (NoSuchBucket or NoSuchKey, InvalidAccessKeyId or AccessDenied). None if it succeeds."""
    try:
        client.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")["Body"].close()
    except Exception as exc:
        return exc
    return None


def _check(file: File, direction: str) -> None:
    """Refuse, when the task is submitted, a URL that names no object."""
    try:
        split(file)
    except S3Error as exc:
        raise StagingError(file.url, direction, str(exc)) from None


class S3SeparateTaskStaging(S3Staging):
    """Each transfer is a task of its own on the app's executor; its workers must share `working_dir`."""

    in_task = False


class S3InTaskStaging(S3Staging):
    """Transfers run on the app's worker, around the app; each node fetches an object version once."""

    in_task = True
