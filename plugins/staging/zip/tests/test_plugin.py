"""The entry points, the two modes, and objects that travel to workers by pickle."""

import pickle

from parlay import File
from parlay.plugins import registry
from parlay_staging_zip import ZipFileStaging, ZipInTaskStaging


def test_entry_points():
    found = {b.name: b for b in registry.available("staging") if b.distribution == "parlay-staging-zip"}
    assert registry.load_backend(found["zip"]) is ZipFileStaging
    assert registry.load_backend(found["zip-in-task"]) is ZipInTaskStaging


def test_modes_and_schemes():
    assert not ZipFileStaging.in_task and ZipInTaskStaging.in_task
    assert not ZipFileStaging.by_default and not ZipInTaskStaging.by_default  # listed in storage_access, as in Parsl
    staging = ZipInTaskStaging()
    assert staging.can_stage_in(File("zip:/a.zip/b")) and staging.can_stage_out(File("zip:/a.zip/b"))
    assert not staging.can_stage_in(File("/a.zip"))
    assert repr(pickle.loads(pickle.dumps(staging))) == "ZipInTaskStaging()"
