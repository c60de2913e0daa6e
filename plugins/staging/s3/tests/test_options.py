"""The constructor's options: defaults, and each wrong value refused naming the option and what is allowed;
the entry points; nothing of boto3 imported until a file moves."""

import subprocess
import sys

import pytest

from parlay import File
from parlay.errors import ConfigurationError
from parlay.plugins import registry
from parlay_staging_s3 import S3InTaskStaging, S3SeparateTaskStaging

MiB = 1024 * 1024


def test_defaults():
    staging = S3SeparateTaskStaging()
    assert (staging.endpoint_url, staging.region_name, staging.profile_name) == (None, None, None)
    assert (staging.multipart_threshold, staging.multipart_chunksize, staging.max_concurrency) == (8 * MiB, 8 * MiB, 10)
    assert repr(staging) == "S3SeparateTaskStaging()"
    assert not S3SeparateTaskStaging.in_task and S3InTaskStaging.in_task
    assert not S3SeparateTaskStaging.by_default and not S3InTaskStaging.by_default
    assert staging.can_stage_in(File("s3://b/k")) and staging.can_stage_out(File("s3://b/k"))
    assert not staging.can_stage_in(File("https://host/k"))


def test_good_values_are_kept():
    staging = S3InTaskStaging(
        endpoint_url="https://s3.example.org:9000",
        region_name="eu-west-3",
        profile_name="science",
        multipart_threshold=1,
        multipart_chunksize=5 * MiB,
        max_concurrency=1,
    )
    config = staging.transfer_config()
    assert (config.multipart_threshold, config.multipart_chunksize, config.max_concurrency) == (1, 5 * MiB, 1)


@pytest.mark.parametrize(
    "option, value, allowed",
    [
        ("multipart_threshold", 0, "bytes > 0"),
        ("multipart_threshold", "8MB", "bytes > 0"),
        ("multipart_threshold", True, "bytes > 0"),
        ("multipart_chunksize", 1024, r"bytes from 5 MiB \(5242880\) to 5 GiB \(5368709120\), S3's limits on a part"),
        ("multipart_chunksize", 6 * 1024 * MiB, r"bytes from 5 MiB"),
        ("max_concurrency", 0, r"an int >= 1"),
        ("max_concurrency", 2.5, r"an int >= 1"),
        ("endpoint_url", "localhost:9000", r"None or an http:// or https:// URL"),
        ("endpoint_url", "ftp://host", r"None or an http:// or https:// URL"),
        ("endpoint_url", 9000, r"None or an http:// or https:// URL"),
        ("region_name", "", r"None or an AWS region such as 'us-east-1'"),
        ("region_name", "us east", r"None or an AWS region"),
        ("profile_name", 3, r"None or a profile of the AWS config files"),
    ],
)
@pytest.mark.parametrize("kind", [S3SeparateTaskStaging, S3InTaskStaging])
def test_wrong_values_are_refused_naming_the_option(kind, option, value, allowed):
    with pytest.raises(ConfigurationError, match=rf"^{kind.__name__}\.{option}={value!r}: expected {allowed}"):
        kind(**{option: value})


def test_options_are_keywords_only():
    with pytest.raises(TypeError):
        S3SeparateTaskStaging("http://127.0.0.1:9000")


def test_entry_points():
    found = {b.name: b for b in registry.available("staging") if b.distribution == "parlay-staging-s3"}
    assert registry.load_backend(found["s3"]) is S3SeparateTaskStaging
    assert registry.load_backend(found["s3-in-task"]) is S3InTaskStaging


def test_importing_the_plugin_does_not_import_boto3():
    """The kernel loads every staging plugin's class to find the default ones: that must stay cheap."""
    code = "import sys, parlay_staging_s3; print('boto3' in sys.modules or 'botocore' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout == "False\n"
