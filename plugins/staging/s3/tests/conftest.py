"""moto's S3 server on loopback (`moto.server.ThreadedMotoServer`), checking credentials as AWS does: IAM users
with access keys and policies are made first, then moto's authentication is switched on, so that unknown keys,
wrong secrets and denied actions get S3's own answers. The environment points boto3 at an `admin` user's keys
(fake, for these tests only) and at a credentials file of profiles, and at no AWS file of this machine."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

REGION = "us-east-1"
BUCKET = "parlay-staging"


def policy(action: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}


EVERYTHING = policy("*")
LIST_ONLY = policy("s3:ListAllMyBuckets")  # may list the buckets, but neither read nor write an object


class S3Server:
    """The server's address, the users' keys, and an admin client to set up and inspect objects."""

    def __init__(self, url: str):
        self.url = url
        self.keys: dict[str, tuple[str, str]] = {}
        self.bucket = BUCKET
        self._client: Any = None

    def client(self) -> Any:
        """A client with the admin's keys."""
        import boto3

        if self._client is None:
            key_id, secret = self.keys["admin"]
            self._client = boto3.client(
                "s3", region_name=REGION, endpoint_url=self.url, aws_access_key_id=key_id, aws_secret_access_key=secret
            )
        return self._client

    def add_user(self, name: str, policy: dict[str, Any]) -> None:
        import boto3

        iam = boto3.client("iam", region_name=REGION, endpoint_url=self.url, aws_access_key_id="setup",
                           aws_secret_access_key="setup")  # fmt: skip
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="policy", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self.keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])

    def moto_api(self, what: str, body: bytes = b"") -> None:
        headers = {"Content-Type": "text/plain"}
        request = urllib.request.Request(f"{self.url}/moto-api/{what}", data=body, method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=30):
            pass

    def put(self, key: str, data: bytes) -> str:
        self.client().put_object(Bucket=self.bucket, Key=key, Body=data)
        return f"s3://{self.bucket}/{key}"

    def get(self, url: str) -> bytes:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def credentials_file(self) -> str:
        """Profiles: each user's keys, plus a key S3 does not know and a known key with a wrong secret."""
        admin_id, admin_secret = self.keys["admin"]
        profiles = {
            **{user: keys for user, keys in self.keys.items()},
            "wrong-key": ("AKIANOTKNOWNTOMOTO00", admin_secret),
            "wrong-secret": (admin_id, "not-the-secret"),
        }
        return "".join(
            f"[{name}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
            for name, (key_id, secret) in profiles.items()
        )


@pytest.fixture(scope="module")
def staging_server(tmp_path_factory: Any) -> Iterator[S3Server]:
    """A fresh moto S3 server with authentication on, its bucket, and this process's environment (and so the
    workers') pointing boto3 at the `admin` keys. moto's state is global to the process: reset on both ends."""
    from moto.server import ThreadedMotoServer

    folder = tmp_path_factory.mktemp("aws")
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # no line per request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    server = S3Server(f"http://{host}:{port}")
    try:
        server.moto_api("reset")
        server.add_user("admin", EVERYTHING)
        server.add_user("lister", LIST_ONLY)
        server.moto_api("reset-auth", b"0")  # from now on every request must be signed by a user's key
        server.client().create_bucket(Bucket=server.bucket)
        (folder / "credentials").write_text(server.credentials_file())
        with pytest.MonkeyPatch.context() as env:
            for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                         "AWS_ENDPOINT_URL_S3", "AWS_MAX_ATTEMPTS", "AWS_REGION"):  # fmt: skip
                env.delenv(name, raising=False)
            env.setenv("AWS_ACCESS_KEY_ID", server.keys["admin"][0])
            env.setenv("AWS_SECRET_ACCESS_KEY", server.keys["admin"][1])
            env.setenv("AWS_DEFAULT_REGION", REGION)
            env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "credentials"))
            env.setenv("AWS_CONFIG_FILE", str(folder / "no-config"))
            env.setenv("AWS_EC2_METADATA_DISABLED", "true")
            yield server
    finally:
        server.moto_api("reset-auth", b"inf")
        server.moto_api("reset")
        moto.stop()
        werkzeug.setLevel(level)
