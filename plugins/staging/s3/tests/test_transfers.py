"""Transfers against moto's S3 through the kernel's own transfer functions: multipart both ways, the errors a
user meets (missing key or bucket, bad or missing credentials, access denied, an unreachable endpoint), the
endpoint's sources, and a client that never travels by pickle."""

import hashlib
import os
import pickle
import socket
import uuid

import pytest

from parlay import File
from parlay.errors import StagingError
from parlay.staging.transfer import fetch, fetch_through_cache, send
from parlay_staging_s3 import S3InTaskStaging, S3SeparateTaskStaging

MiB = 1024 * 1024


def unique(stem):
    return f"{stem}-{uuid.uuid4().hex[:8]}.txt"


def local(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def upload(staging, path, url):
    file = File(url)
    file.local_path = path
    send(staging, file)


def test_multipart_upload_and_download_round_trip(staging_server, tmp_path):
    """A 12 MiB file above a 5 MiB threshold goes up in three parts and comes down in three ranged GETs."""
    staging = S3SeparateTaskStaging(
        endpoint_url=staging_server.url, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=3
    )
    data = os.urandom(12 * MiB)
    calls = []
    staging.client().meta.events.register(
        "provide-client-params.s3", lambda params, model, **_: calls.append((model.name, params.get("Range")))
    )
    url = f"s3://{staging_server.bucket}/big/{unique('multipart')}"
    upload(staging, local(tmp_path, "big.bin", data), url)
    assert [name for name, _ in calls].count("UploadPart") == 3
    etag = staging_server.client().head_object(Bucket=staging_server.bucket, Key=url.split("/", 3)[3])["ETag"]
    assert etag.strip('"').endswith("-3")  # S3's multipart ETag: the hash of the parts' hashes, then "-parts"
    assert staging.version(File(url)) == etag

    calls.clear()
    fetch(staging, File(url), str(tmp_path / "back.bin"))
    assert len([r for name, r in calls if name == "GetObject" and r]) == 3
    assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).digest() == hashlib.sha256(data).digest()


def test_small_files_go_in_one_request(staging_server, tmp_path):
    staging = S3InTaskStaging(endpoint_url=staging_server.url)
    url = f"s3://{staging_server.bucket}/{unique('small')}"
    upload(staging, local(tmp_path, "small.txt", b"small\n"), url)
    assert staging.version(File(url)).strip('"') == hashlib.md5(b"small\n").hexdigest()  # a single PUT's ETag


def test_a_missing_key_names_the_key(staging_server, tmp_path):
    url = f"s3://{staging_server.bucket}/{unique('absent')}"
    staging = S3SeparateTaskStaging(endpoint_url=staging_server.url)
    with pytest.raises(StagingError, match=rf"could not stage in {url}: S3Error: no such key .* \(NoSuchKey: "):
        fetch(staging, File(url), str(tmp_path / "x"))
    assert os.listdir(tmp_path) == []
    in_task = S3InTaskStaging(endpoint_url=staging_server.url)  # asks for the version (HeadObject) first
    with pytest.raises(StagingError, match=rf"could not stage in {url}: S3Error: no such key .* \(NoSuchKey: "):
        fetch_through_cache(in_task, File(url), str(tmp_path / "cache"))


@pytest.mark.parametrize("direction", ["in", "out"])
def test_a_missing_bucket_names_the_bucket(staging_server, tmp_path, direction):
    url = f"s3://parlay-no-such-bucket-{uuid.uuid4().hex[:8]}/file.txt"
    staging = S3SeparateTaskStaging(endpoint_url=staging_server.url)
    with pytest.raises(StagingError, match=rf"stage {direction} {url}: S3Error: no such bucket .*\(NoSuchBucket: "):
        if direction == "in":
            fetch(staging, File(url), str(tmp_path / "x"))
        else:
            upload(staging, local(tmp_path, "y", b"y"), url)


REFUSALS = {  # profile (see conftest.py) -> what S3 answers
    "wrong-key": r"bad credentials: S3 knows no such access key id; check .*\(InvalidAccessKeyId: ",
    "wrong-secret": r"bad credentials: the secret key does not match the access key id; .*\(SignatureDoesNotMatch: ",
    "lister": r"access denied: these credentials may not {may} s3://.*; check their IAM policy .*\(AccessDenied: ",
}


@pytest.mark.parametrize("profile", list(REFUSALS))
@pytest.mark.parametrize("direction", ["in", "out"])
def test_credentials_s3_refuses(staging_server, tmp_path, profile, direction):
    """moto checks each request's key, signature and the user's IAM policy, and answers as S3 does."""
    url = staging_server.put(unique("guarded"), b"guarded\n")
    staging = S3SeparateTaskStaging(endpoint_url=staging_server.url, profile_name=profile)
    expected = REFUSALS[profile].format(may="read" if direction == "in" else "write")
    with pytest.raises(StagingError, match=rf"could not stage {direction} {url}: S3Error: {expected}"):
        if direction == "in":
            fetch(staging, File(url), str(tmp_path / "x"))
        else:
            upload(staging, local(tmp_path, "y", b"y"), url)


def test_the_profile_s_credentials_are_used(staging_server, tmp_path):
    url = staging_server.put(unique("profiled"), b"via the profile\n")
    fetch(S3InTaskStaging(endpoint_url=staging_server.url, profile_name="admin"), File(url), str(tmp_path / "x"))
    assert (tmp_path / "x").read_bytes() == b"via the profile\n"


def test_an_unknown_profile_is_named(staging_server, tmp_path):
    staging = S3InTaskStaging(endpoint_url=staging_server.url, profile_name="nobody")
    with pytest.raises(StagingError, match=r"The config profile \(nobody\) could not be found: add it to"):
        fetch(staging, File(f"s3://{staging_server.bucket}/x.txt"), str(tmp_path / "x"))


def test_no_credentials_at_all(staging_server, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    staging = S3SeparateTaskStaging(endpoint_url=staging_server.url)
    with pytest.raises(StagingError, match=r"S3Error: no AWS credentials found \(Unable to locate credentials\)"):
        fetch(staging, File(f"s3://{staging_server.bucket}/x.txt"), str(tmp_path / "x"))


def test_without_endpoint_url_boto3_s_environment_decides(staging_server, tmp_path, monkeypatch):
    """endpoint_url=None leaves the endpoint to boto3: AWS's, or AWS_ENDPOINT_URL(_S3) as here."""
    url = staging_server.put(unique("env"), b"found through the environment\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", staging_server.url)
    fetch(S3InTaskStaging(), File(url), str(tmp_path / "x"))
    assert (tmp_path / "x").read_bytes() == b"found through the environment\n"


def test_an_unreachable_endpoint_is_named(staging_server, tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # no retries with backoff
    endpoint = f"http://127.0.0.1:{port}"
    staging = S3SeparateTaskStaging(endpoint_url=endpoint)
    with pytest.raises(StagingError, match=rf"S3Error: cannot reach endpoint_url {endpoint}: "):
        fetch(staging, File(f"s3://{staging_server.bucket}/x.txt"), str(tmp_path / "x"))


def test_a_url_without_a_key_is_refused(staging_server, tmp_path):
    staging = S3SeparateTaskStaging(endpoint_url=staging_server.url)
    for url in ("s3://bucket-only", "s3://bucket/folder/", "s3:///key"):
        with pytest.raises(StagingError, match=r"names no object: an s3 URL is s3://bucket/key"):
            fetch(staging, File(url), str(tmp_path / "x"))


def test_the_client_never_travels(staging_server, tmp_path):
    """A pickled staging (what reaches the workers) carries its options, not this process's client."""
    staging = S3InTaskStaging(endpoint_url=staging_server.url, max_concurrency=4)
    client = staging.client()
    assert staging.client() is client  # one per process
    copy = pickle.loads(pickle.dumps(staging))
    assert copy._client is None and copy.max_concurrency == 4 and copy.endpoint_url == staging_server.url
    url = staging_server.put(unique("pickled"), b"pickled\n")
    fetch(copy, File(url), str(tmp_path / "x"))
    assert copy.client() is not client
    assert repr(copy) == f"S3InTaskStaging(endpoint_url={staging_server.url!r}, max_concurrency=4)"
