"""URLs, members in and out, a member written twice, writers in several threads and processes at once, and a
writer killed mid-write, through the kernel's transfer functions."""

import glob
import multiprocessing
import os
import signal
import threading
import zipfile

import pytest

from parlay import File
from parlay.errors import StagingError
from parlay.staging.transfer import fetch, fetch_through_cache, send
from parlay_staging_zip import ZipFileStaging, ZipInTaskStaging, ZipURLError
from parlay_staging_zip.archive import add
from parlay_staging_zip.urls import split

WAIT = 60  # seconds: only catches a hang


def upload(staging, url, data, folder):
    path = os.path.join(folder, f"upload-{os.getpid()}-{threading.get_ident()}")
    with open(path, "wb") as stream:
        stream.write(data)
    file = File(url)
    file.local_path = path
    send(staging, file)


def members(path):
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.mark.parametrize(
    "url, archive, member",
    [
        ("zip:/data/run.zip/out.txt", "/data/run.zip", "out.txt"),
        ("zip:///data/run.zip/deep/er/out.txt", "/data/run.zip", "deep/er/out.txt"),
        ("zip:/data/a.zip/b.zip/c.txt", "/data/a.zip", "b.zip/c.txt"),  # the first component ending in .zip
        ("zip:/data/x.zipped/a.zip/c.txt", "/data/x.zipped/a.zip", "c.txt"),
    ],
)
def test_urls(url, archive, member):
    assert split(File(url)) == (archive, member)


@pytest.mark.parametrize(
    "url, reason",
    [
        ("zip://host/data/run.zip/out.txt", r"has a host \('host'\): a zip URL names an archive on the worker's own"),
        ("zip:/data/run/out.txt", r"names no archive \(no part of its path ends in .zip\)"),
        ("zip:/data/run.zip", r"names no member of /data/run.zip"),
        ("zip:/data/run.zip/folder/", r"names no member"),
        ("zip:data/run.zip/out.txt", r"the archive's path must be absolute"),
        ("zip:/data/run.zip/a/../b", r"the member's name 'a/../b' has an empty, '.' or '..' part"),
        ("zip:/data/run.zip/a//b", r"has an empty"),
    ],
)
def test_urls_refused(url, reason):
    with pytest.raises(ZipURLError, match=reason):
        split(File(url))
    with pytest.raises(StagingError, match=rf"could not stage in {url}: ZipURLError: .*{reason}"):
        fetch(ZipFileStaging(), File(url), "/nowhere/x")


def test_out_makes_the_archive_and_its_folder_then_in_reads_it(tmp_path):
    url = f"zip:{tmp_path}/new/folder/run.zip/results/a.txt"
    upload(ZipFileStaging(), url, b"alpha\n", tmp_path)
    assert members(tmp_path / "new/folder/run.zip") == {"results/a.txt": b"alpha\n"}
    fetch(ZipInTaskStaging(), File(url), str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == b"alpha\n"


def test_a_member_written_again_replaces_the_earlier_one(tmp_path):
    archive = tmp_path / "run.zip"
    staging = ZipFileStaging()
    for name, data in [("a.txt", b"first a"), ("b/", b""), ("c.txt", b"c")]:
        with zipfile.ZipFile(archive, "a") as zf:
            zf.writestr(name, data)
    with zipfile.ZipFile(archive, "a") as zf:
        zf.comment = b"kept"
    upload(staging, f"zip:{archive}/a.txt", b"second a, longer", tmp_path)
    assert members(archive) == {"b/": b"", "c.txt": b"c", "a.txt": b"second a, longer"}
    assert zipfile.ZipFile(archive).comment == b"kept"
    version = staging.version(File(f"zip:{archive}/a.txt"))
    assert version == f"crc {zipfile.crc32(b'second a, longer'):08x} size 16"


def test_the_archive_keeps_its_permissions(tmp_path):
    archive = tmp_path / "run.zip"
    upload(ZipFileStaging(), f"zip:{archive}/a.txt", b"a", tmp_path)
    os.chmod(archive, 0o640)
    upload(ZipFileStaging(), f"zip:{archive}/b.txt", b"b", tmp_path)
    assert os.stat(archive).st_mode & 0o777 == 0o640


def test_missing_archive_or_member_names_the_url(tmp_path):
    with zipfile.ZipFile(tmp_path / "run.zip", "w") as zf:
        zf.writestr("here.txt", "here")
    for url, reason in [
        (f"zip:{tmp_path}/run.zip/absent.txt", rf"FileNotFoundError: {tmp_path}/run.zip has no member 'absent.txt'"),
        (f"zip:{tmp_path}/none.zip/a.txt", rf"FileNotFoundError: no archive {tmp_path}/none.zip"),
    ]:
        with pytest.raises(StagingError, match=rf"could not stage in {url}: {reason}"):
            fetch(ZipFileStaging(), File(url), str(tmp_path / "x"))
        with pytest.raises(StagingError, match=rf"could not stage in {url}: {reason}"):  # in-task: the version first
            fetch_through_cache(ZipInTaskStaging(), File(url), str(tmp_path / "cache"))
    assert not (tmp_path / "x").exists()


def test_not_an_archive(tmp_path):
    (tmp_path / "run.zip").write_text("not a zip")
    with pytest.raises(StagingError, match=r"could not stage out .*: BadZipFile: .*/run.zip is not a zip archive"):
        upload(ZipFileStaging(), f"zip:{tmp_path}/run.zip/a.txt", b"a", tmp_path)
    assert (tmp_path / "run.zip").read_text() == "not a zip"  # left as it was


def _writers(barrier, archive, numbers, folder):
    """Threads of one process, each adding its member once all 8 writers are ready."""

    def write(n):
        barrier.wait(WAIT)
        upload(ZipFileStaging(), f"zip:{archive}/m/{n}.txt", f"{n}\n".encode() * 20_000, folder)

    threads = [threading.Thread(target=write, args=(n,)) for n in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)


def test_eight_writers_in_threads_and_processes_at_once(tmp_path):
    """4 processes of 2 threads each, released together: the archive is valid and has all 8 members."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(8)
    archive = tmp_path / "out" / "shared.zip"
    processes = [
        context.Process(target=_writers, args=(barrier, str(archive), (2 * p, 2 * p + 1), str(tmp_path)))
        for p in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(WAIT)
    assert [p.exitcode for p in processes] == [0] * 4
    assert members(archive) == {f"m/{n}.txt": f"{n}\n".encode() * 20_000 for n in range(8)}
    assert glob.glob(str(tmp_path / "out" / ".*.part")) == []


def test_a_writer_killed_mid_write_leaves_the_archive_whole(tmp_path):
    """The writer reads its member from a pipe; once it has taken 1 MiB (so it is inside the new archive's
    write) it is killed. The archive is still the old one, the lock is free, and the next writer clears the
    temporary file the dead one left."""
    archive = tmp_path / "run.zip"
    upload(ZipFileStaging(), f"zip:{archive}/before.txt", b"before", tmp_path)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    writer = multiprocessing.get_context("fork").Process(target=add, args=(str(archive), "big.bin", str(pipe)))
    writer.start()
    with open(pipe, "wb") as stream:
        stream.write(os.urandom(1024 * 1024))  # returns once the writer has read nearly all of it
        stream.flush()
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(WAIT)
    assert writer.exitcode == -signal.SIGKILL
    assert len(glob.glob(str(tmp_path / ".run.zip.*.part"))) == 1  # it died while writing the new archive
    assert members(archive) == {"before.txt": b"before"}
    upload(ZipFileStaging(), f"zip:{archive}/after.txt", b"after", tmp_path)
    assert members(archive) == {"before.txt": b"before", "after.txt": b"after"}
    assert glob.glob(str(tmp_path / ".run.zip.*.part")) == []
