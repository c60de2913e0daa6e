"""The staging conformance suite, both modes, on the thread, process and htex executors, against moto's S3."""

import uuid

import pytest

from parlay import File
from parlay.errors import StagingError
from parlay.testing import StagingConformance, workflow_apps
from parlay_staging_s3 import S3InTaskStaging, S3SeparateTaskStaging


class TestS3Staging(StagingConformance):
    modes = ("separate", "in_task")

    def make_staging(self, mode):
        kind = S3SeparateTaskStaging if mode == "separate" else S3InTaskStaging
        return kind(endpoint_url=self.server.url, region_name="us-east-1")

    def put(self, name, data):
        return self.server.put(f"inputs/{name}", data)

    def get(self, url):
        return self.server.get(url)

    def target(self, name):
        return f"s3://{self.server.bucket}/outputs/{name}"

    def missing(self):
        return f"s3://{self.server.bucket}/inputs/absent-{uuid.uuid4().hex[:8]}.txt"

    def test_a_url_naming_no_object_is_refused_at_submission(self, staging_run, mode):
        read = self.app(staging_run, mode, workflow_apps.read_text)
        with pytest.raises(StagingError, match=r"could not stage in s3://bucket-only: s3://bucket-only names no obj"):
            read(inputs=[File("s3://bucket-only")])
