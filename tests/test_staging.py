"""The kernel's staging path, end to end on the thread, process and high-throughput executors, with the
`folder:` staging of `parlay.testing`: separate-task and in-task transfers, DataFutures that wait for
uploads, one fetch per URL, no partial files, and Parsl-style providers written against the base class."""

from __future__ import annotations

import os
import threading

import pytest

import parlay
from parlay import Config, File
from parlay.errors import DependencyError, StagingError
from parlay.executors.threads import ThreadPoolExecutor
from parlay.plugins import hookimpl
from parlay.staging.base import Staging
from parlay.staging.files import NoOpFileStaging
from parlay.staging.transfer import fetch
from parlay.testing import TIMEOUT, StagingConformance, workflow_apps
from parlay.testing.staging import FolderStaging


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("remote"))


@pytest.fixture(scope="module")
def staging_server(root):
    return root


class TestFolderStaging(StagingConformance):
    def make_staging(self, mode):
        return FolderStaging(self.server, in_task=mode == "in_task")

    def put(self, name, data):
        with open(os.path.join(self.server, name), "wb") as stream:
            stream.write(data)
        return f"folder:///{name}"

    def get(self, url):
        with open(os.path.join(self.server, File(url).path.lstrip("/")), "rb") as stream:
            return stream.read()

    def target(self, name):
        return f"folder:///{name}"

    def missing(self):
        return "folder:///not-there.txt"


def downloads(root, url, log=".downloads"):
    path = os.path.join(root, log)
    return open(path).read().split().count(url) if os.path.exists(path) else 0


def put(root, name, data=b"data\n"):
    with open(os.path.join(root, name), "wb") as stream:
        stream.write(data)
    return f"folder:///{name}"


def run_with(tmp_path, staging, kind="threads", **options):
    from parlay.testing.staging import make_executor

    executor = make_executor(kind, "staged", staging)
    executor.working_dir = str(tmp_path / "work")
    return parlay.load(Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), **options))


read_text = parlay.python_app(workflow_apps.read_text)


@pytest.mark.parametrize("in_task", [False, True])
def test_a_url_is_fetched_once(tmp_path, root, in_task):
    """Separate-task: one stage-in task per URL a run fetches; in-task: once per node, whatever the
    number of worker processes reading it at once."""
    url = put(root, f"once-{in_task}.txt")
    with run_with(tmp_path, FolderStaging(root, in_task=in_task), kind="processes"):
        futures = [read_text(inputs=[File(url)]) for _ in range(12)]
        assert [f.result(TIMEOUT) for f in futures] == ["data\n"] * 12
    assert downloads(root, url) == 1
    assert downloads(root, url, ".uploads") == 0, "a stage-in sends nothing back"


def test_a_changed_file_is_fetched_again_in_task(tmp_path, root):
    url = put(root, "changing.txt", b"first\n")
    with run_with(tmp_path, FolderStaging(root, in_task=True)):
        assert read_text(inputs=[File(url)]).result(TIMEOUT) == "first\n"
        put(root, "changing.txt", b"second, longer\n")
        assert read_text(inputs=[File(url)]).result(TIMEOUT) == "second, longer\n"
    assert downloads(root, url) == 2


def test_the_node_cache_goes_with_the_run(tmp_path, root, monkeypatch):
    monkeypatch.setenv("PARLAY_STAGING_CACHE", str(tmp_path / "cache"))
    url = put(root, "cached.txt")
    with run_with(tmp_path, FolderStaging(root, in_task=True)) as dfk:
        assert read_text(inputs=[File(url)]).result(TIMEOUT) == "data\n"
        assert os.listdir(dfk.data_manager.cache_dir)
    assert not os.path.exists(dfk.data_manager.cache_dir)


def test_a_failed_download_leaves_nothing(tmp_path, root):
    class Broken(FolderStaging):
        def download(self, file, path):
            with open(path, "w") as stream:
                stream.write("half")
            raise ConnectionResetError("connection reset by peer")

    target = tmp_path / "out" / "file.txt"
    with pytest.raises(StagingError, match=r"could not stage in folder:///x: ConnectionResetError: connection reset"):
        fetch(Broken(root), File("folder:///x"), str(target))
    assert os.listdir(tmp_path / "out") == []


def test_dependents_name_the_failed_transfer(tmp_path, root):
    with run_with(tmp_path, FolderStaging(root)):
        future = read_text(inputs=[File("folder:///absent.txt")])
        with pytest.raises(DependencyError, match=r"could not stage in folder:///absent.txt"):
            future.result(TIMEOUT)


def test_a_path_a_provider_set_travels_with_the_file():
    import pickle

    file = File("folder:///relative/name.txt")
    file.path, file.local_path = "/absolute/name.txt", "work/name.txt"
    copy = pickle.loads(pickle.dumps(file))
    assert (copy.path, copy.local_path, copy.url) == ("/absolute/name.txt", "work/name.txt", file.url)


def test_two_urls_with_one_name_do_not_collide(tmp_path, root):
    os.makedirs(os.path.join(root, "a"), exist_ok=True)
    os.makedirs(os.path.join(root, "b"), exist_ok=True)
    first, second = put(root, "a/same.txt", b"A"), put(root, "b/same.txt", b"B")
    with run_with(tmp_path, FolderStaging(root)):
        assert read_text(inputs=[File(first), File(second)]).result(TIMEOUT) == "AB"


def test_staged_inputs_are_memoized_by_url(tmp_path, root):
    url = put(root, "memo.txt")
    calls = []

    @parlay.python_app(cache=True)
    def count(inputs=()):
        calls.append(1)
        return open(inputs[0]).read()

    with run_with(tmp_path, FolderStaging(root, in_task=True)):
        assert count(inputs=[File(url)]).result(TIMEOUT) == "data\n"
        assert count(inputs=[File(url)]).result(TIMEOUT) == "data\n"
    assert len(calls) == 1


def test_submitting_from_several_threads(tmp_path, root):
    """Stage-ins and stage-outs from 4 threads at once: every result right, each URL fetched once."""
    urls = [put(root, f"threads-{n}.txt", f"{n}\n".encode()) for n in range(10)]
    write = parlay.python_app(workflow_apps.write_text)
    results: list = []

    def submit(worker):
        for n, url in enumerate(urls):
            out = File(f"folder:///threads-out-{worker}-{n}.txt")
            results.append((worker, n, read_text(inputs=[File(url)]), write(f"{worker}:{n}", outputs=[out])))

    with run_with(tmp_path, FolderStaging(root), kind="processes"):
        threads = [threading.Thread(target=submit, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for worker, n, read, written in results:
            assert read.result(TIMEOUT) == f"{n}\n"
            written.outputs[0].result(TIMEOUT)
            assert open(os.path.join(root, f"threads-out-{worker}-{n}.txt")).read() == f"{worker}:{n}"
    assert all(downloads(root, url) == 1 for url in urls)


class Rot13Staging(Staging):
    """A provider written as for Parsl: `replace_task` wraps the function in a closure."""

    schemes = ("rot13",)

    def stage_in(self, dm, executor, file, parent_fut):
        file.local_path = os.path.join(dm.dfk.executors[executor].working_dir, file.filename)
        return None

    def replace_task(self, dm, executor, file, func):
        import codecs

        def wrapper(*args, **kwargs):
            os.makedirs(os.path.dirname(file.local_path), exist_ok=True)
            with open(file.local_path, "w") as stream:
                stream.write(codecs.encode(file.netloc, "rot13"))
            return func(*args, **kwargs)

        return wrapper


def test_a_parsl_style_provider(tmp_path):
    threads = ThreadPoolExecutor(label="t", storage_access=[Rot13Staging(), NoOpFileStaging()])
    threads.working_dir = str(tmp_path / "work")
    with parlay.load(Config(executors=[threads], run_dir=str(tmp_path / "runinfo"))):
        assert read_text(inputs=[File("rot13://uryyb/x.txt")]).result(TIMEOUT) == "hello"


def test_a_hook_picks_the_provider(tmp_path, root):
    put(root, "hooked.txt", b"via the hook")

    class Site:
        @hookimpl
        def parlay_staging_for(self, file, executor):
            return FolderStaging(root) if file.scheme == "site" else None

    with parlay.load(Config(run_dir=str(tmp_path / "runinfo"), plugins=[Site()])) as dfk:
        dfk.executors["threads"].working_dir = str(tmp_path / "work")
        assert read_text(inputs=[File("site:///hooked.txt")]).result(TIMEOUT) == "via the hook"


def test_errors_hide_a_password_in_the_url():
    error = StagingError("ftp://me:secret@host/data.csv", "in", "550 No such file")
    assert str(error) == "could not stage in ftp://me:***@host/data.csv: 550 No such file"
    assert error.url == "ftp://me:secret@host/data.csv"  # for code that needs it
