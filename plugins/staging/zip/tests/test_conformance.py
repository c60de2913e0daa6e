"""The staging conformance suite, both modes, on the thread, process and htex executors, plus tasks writing
members of one archive at once, and the URLs refused when a task is submitted."""

import os
import uuid
import zipfile

import pytest

from parlay import File
from parlay.errors import DependencyError, StagingError
from parlay.testing import TIMEOUT, StagingConformance, workflow_apps
from parlay_staging_zip import ZipFileStaging, ZipInTaskStaging


@pytest.fixture(scope="module")
def staging_server(tmp_path_factory):
    """The folder of the archives (zip staging needs no server)."""
    folder = tmp_path_factory.mktemp("archives")
    with zipfile.ZipFile(folder / "inputs.zip", "w") as zf:
        zf.writestr("placeholder.txt", "")
    return str(folder)


def members(path):
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # every member's CRC checks
        return {name: zf.read(name) for name in zf.namelist()}


class TestZipStaging(StagingConformance):
    modes = ("separate", "in_task")

    def make_staging(self, mode):
        return ZipFileStaging() if mode == "separate" else ZipInTaskStaging()

    def put(self, name, data):
        archive = os.path.join(self.server, f"in-{name}.zip")  # its own archive: nothing writes one being read
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(f"data/{name}", data)
        return f"zip:{archive}/data/{name}"

    def get(self, url):
        archive, _, member = File(url).path.partition(".zip/")
        with zipfile.ZipFile(archive + ".zip") as zf:
            return zf.read(member)

    def target(self, name):
        return f"zip:{self.server}/outputs/results.zip/{name}"  # one archive, and a folder made on first use

    def missing(self):
        return f"zip:{self.server}/inputs.zip/absent-{uuid.uuid4().hex[:8]}.txt"

    def test_eight_tasks_write_one_archive(self, staging_run, mode):
        archive = os.path.join(self.server, "together", f"{staging_run['kind']}-{mode}.zip")
        write = self.app(staging_run, mode, workflow_apps.write_text)
        texts = {f"part/{n}.txt": f"{n}:" + "x" * (100_000 + n) for n in range(8)}
        futures = [write(text, outputs=[File(f"zip:{archive}/{name}")]) for name, text in texts.items()]
        for future in futures:
            future.outputs[0].result(TIMEOUT)
        assert members(archive) == {name: text.encode() for name, text in texts.items()}

    def test_a_missing_member_names_the_url(self, staging_run, mode):
        url = f"zip:{self.server}/inputs.zip/not/there.txt"
        future = self.app(staging_run, mode, workflow_apps.read_text)(inputs=[File(url)])
        with pytest.raises((StagingError, DependencyError), match=f"could not stage in {url}: FileNotFoundError: "
                           f"{self.server}/inputs.zip has no member 'not/there.txt'"):  # fmt: skip
            future.result(TIMEOUT)

    def test_a_url_with_a_host_is_refused_at_submission(self, staging_run, mode):
        read = self.app(staging_run, mode, workflow_apps.read_text)
        write = self.app(staging_run, mode, workflow_apps.write_text)
        url = f"zip://fileserver{self.server}/inputs.zip/placeholder.txt"
        with pytest.raises(StagingError, match=r"could not stage in zip://fileserver.* has a host \('fileserver'\)"):
            read(inputs=[File(url)])
        with pytest.raises(StagingError, match=r"could not stage out zip://fileserver.* has a host"):
            write("x", outputs=[File(url)])
