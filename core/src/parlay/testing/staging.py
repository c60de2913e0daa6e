"""`StagingConformance`: the round trips every staging plugin's tests inherit.

A plugin's test module defines a `staging_server` fixture (module or session scope: the server it starts,
seen by the methods below as `self.server`), subclasses the suite and says how to make its providers and
reach that server::

    class TestMyStaging(StagingConformance):
        modes = ("separate", "in_task")

        def make_staging(self, mode):
            return MySeparateTaskStaging() if mode == "separate" else MyInTaskStaging()

        def put(self, name, data):         # a URL whose contents are `data`
            ...
        def get(self, url):                # the bytes at a URL the provider uploaded to
            ...
        def target(self, name):            # a URL to upload to (nothing there yet)
            ...
        def missing(self):                 # a URL the provider cannot fetch
            ...

Each test runs a small workflow on the thread, process and high-throughput executors (one run per
executor kind, with one executor per mode), through the public API.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import parlay
from parlay import File
from parlay.dataflow.kernel import DataFlowKernel
from parlay.errors import DependencyError, StagingError, url_for_messages
from parlay.staging.base import Staging
from parlay.staging.transfer import TransferStaging
from parlay.testing import workflow_apps
from parlay.testing.executors import TIMEOUT


def make_executor(kind: str, label: str, staging: Staging) -> Any:
    """An executor of `kind` (`threads`, `processes` or `htex`) with `staging` as its only provider
    (after plain files)."""
    from parlay.staging.files import NoOpFileStaging

    storage = [staging, NoOpFileStaging()]
    if kind == "threads":
        from parlay.executors.threads import ThreadPoolExecutor

        return ThreadPoolExecutor(label=label, max_threads=4, storage_access=storage)
    if kind == "processes":
        from parlay.executors import ProcessExecutor

        return ProcessExecutor(label=label, max_workers=2, storage_access=storage)
    from parlay.executors import HighThroughputExecutor

    return HighThroughputExecutor(label=label, max_workers_per_node=2, storage_access=storage)


class StageInConformance:
    """Inherited tests of a plugin that stages in: in each mode on each executor kind, failures, no partial
    files. `StagingConformance` adds stage-out."""

    #: The modes the plugin offers: "separate" (transfers as tasks of their own) and/or "in_task".
    modes: tuple[str, ...] = ("separate", "in_task")
    #: The executor kinds the suite runs on.
    executor_kinds: tuple[str, ...] = ("threads", "processes", "htex")

    def make_staging(self, mode: str) -> Staging:
        raise NotImplementedError

    def put(self, name: str, data: bytes) -> str:
        raise NotImplementedError

    def missing(self) -> str:
        raise NotImplementedError

    def get(self, url: str) -> bytes:
        raise NotImplementedError

    def target(self, name: str) -> str:
        raise NotImplementedError

    # --- the runs ---------------------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "kind" in metafunc.fixturenames:
            metafunc.parametrize("kind", self.executor_kinds, scope="class")
        if "mode" in metafunc.fixturenames:
            metafunc.parametrize("mode", self.modes)

    @pytest.fixture(scope="class")
    @classmethod
    def staging_run(cls, kind: str, staging_server: Any, tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
        """One run per executor kind, with an executor per mode; `self.server` is the `staging_server`
        fixture's value (the plugin's tests define that fixture: the server, its address, a folder)."""
        cls.server = staging_server
        suite = cls()
        folder = tmp_path_factory.mktemp(f"staging-{kind}")
        executors = []
        for mode in cls.modes:
            executor = make_executor(kind, f"{kind}-{mode}", suite.make_staging(mode))
            executor.working_dir = str(folder / "work" / mode)
            executors.append(executor)
        config = parlay.Config(executors=executors, run_dir=str(folder / "runinfo"), retries=0)
        with DataFlowKernel(config) as dfk:  # not the loaded kernel: it outlives each test
            yield {"dfk": dfk, "kind": kind, "folder": folder}

    def app(self, run: dict[str, Any], mode: str, func: Any, bash: bool = False) -> Any:
        decorator = parlay.bash_app if bash else parlay.python_app
        return decorator(executors=[f"{run['kind']}-{mode}"], data_flow_kernel=run["dfk"])(func)

    @staticmethod
    def unique(stem: str) -> str:
        return f"{stem}-{uuid.uuid4().hex[:8]}.txt"

    # --- stage in ---------------------------------------------------------------------------------

    def test_stage_in(self, staging_run, mode):
        url = self.put(self.unique("in"), b"hello from afar\n")
        read = self.app(staging_run, mode, workflow_apps.read_text)
        assert read(inputs=[File(url)]).result(TIMEOUT) == "hello from afar\n"

    def test_many_tasks_read_one_url(self, staging_run, mode):
        url = self.put(self.unique("shared"), b"shared\n")
        read = self.app(staging_run, mode, workflow_apps.read_text)
        futures = [read(inputs=[File(url)]) for _ in range(8)]
        assert [f.result(TIMEOUT) for f in futures] == ["shared\n"] * 8

    def test_missing_url_fails_naming_it_and_leaves_no_file(self, staging_run, mode):
        url = self.missing()
        read = self.app(staging_run, mode, workflow_apps.read_text)
        future = read(inputs=[File(url)])
        with pytest.raises((StagingError, DependencyError)) as info:
            future.result(TIMEOUT)
        assert url_for_messages(url) in str(info.value)  # its password, if any, hidden
        work = staging_run["folder"] / "work" / mode
        name = os.path.basename(File(url).filename)
        leftovers = [p.name for p in work.rglob("*") if p.is_file() and name in p.name] if work.exists() else []
        assert leftovers == []


class StagingConformance(StageInConformance):
    """`StageInConformance` plus stage-out: uploads, DataFutures that wait for them, chains."""

    def test_stage_out_completes_after_upload(self, staging_run, mode):
        url = self.target(self.unique("out"))
        write = self.app(staging_run, mode, workflow_apps.write_text)
        future = write("written there\n", outputs=[File(url)])
        data = future.outputs[0]
        assert data.result(TIMEOUT).url == url
        assert self.get(url) == b"written there\n"  # at its destination the moment the DataFuture is done

    def test_bash_app_in_and_out(self, staging_run, mode):
        source = self.put(self.unique("bash-in"), b"shout\n")
        url = self.target(self.unique("bash-out"))
        shout = self.app(staging_run, mode, workflow_apps.cat_command, bash=True)
        future = shout(inputs=[File(source)], outputs=[File(url)])
        future.outputs[0].result(TIMEOUT)
        assert self.get(url) == b"SHOUT\n"

    def test_output_feeds_the_next_task(self, staging_run, mode):
        url = self.target(self.unique("chain"))
        write = self.app(staging_run, mode, workflow_apps.write_text)
        read = self.app(staging_run, mode, workflow_apps.read_text)
        first = write("passed along\n", outputs=[File(url)])
        assert read(inputs=[first.outputs[0]]).result(TIMEOUT) == "passed along\n"


class FolderStaging(TransferStaging):
    """`folder:///name` URLs over the local folder `root`: the smallest `TransferStaging`, for the kernel's
    own tests. Each download (upload) appends the URL to `root/.downloads` (`.uploads`), so tests can count
    them."""

    schemes = ("folder",)

    def __init__(self, root: str, in_task: bool = False):
        self.root = root
        self.in_task = in_task  # type: ignore[misc]  # per instance here; plugins fix it per class

    def _path(self, file: File) -> str:
        return os.path.join(self.root, file.path.lstrip("/"))

    def download(self, file: File, path: str) -> None:
        with open(os.path.join(self.root, ".downloads"), "a") as log:
            log.write(file.url + "\n")
        with open(self._path(file), "rb") as source, open(path, "wb") as target:
            half = source.read(3)
            target.write(half)  # a partial write first: a failure after it must leave nothing behind
            target.write(source.read())

    def upload(self, path: str, file: File) -> None:
        with open(os.path.join(self.root, ".uploads"), "a") as log:
            log.write(file.url + "\n")
        shutil.copyfile(path, self._path(file))

    def version(self, file: File) -> str | None:
        stat = os.stat(self._path(file))
        return f"{stat.st_size}-{stat.st_mtime_ns}"

    def __repr__(self) -> str:
        return f"FolderStaging({self.root!r}, in_task={self.in_task})"
