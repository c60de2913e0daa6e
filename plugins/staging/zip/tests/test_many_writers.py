"""8 tasks writing members of one archive at once, on 8 workers of the process executor and of htex, in both
modes: the archive is valid and has every member."""

import os
import zipfile

import pytest

import parlay
from parlay import File
from parlay.dataflow.kernel import DataFlowKernel
from parlay.staging.files import NoOpFileStaging
from parlay.testing import TIMEOUT, workflow_apps
from parlay_staging_zip import ZipFileStaging, ZipInTaskStaging

KINDS = ("processes", "htex")
MODES = {"separate": ZipFileStaging, "in_task": ZipInTaskStaging}


def executor(kind, mode, folder):
    from parlay.executors import HighThroughputExecutor, ProcessExecutor

    storage = [MODES[mode](), NoOpFileStaging()]
    label = f"{kind}-{mode}"
    if kind == "processes":
        made = ProcessExecutor(label=label, max_workers=8, storage_access=storage)
    else:
        made = HighThroughputExecutor(label=label, max_workers_per_node=8, storage_access=storage)
    made.working_dir = str(folder / "work" / mode)
    return made


@pytest.fixture(scope="module", params=KINDS)
def run(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"writers-{request.param}")
    executors = [executor(request.param, mode, folder) for mode in MODES]
    config = parlay.Config(executors=executors, run_dir=str(folder / "runinfo"), retries=0)
    with DataFlowKernel(config) as dfk:
        yield {"dfk": dfk, "kind": request.param, "folder": folder}


@pytest.mark.parametrize("mode", list(MODES))
def test_eight_tasks_write_one_archive_at_once(run, mode):
    archive = os.path.join(run["folder"], "archives", f"{mode}.zip")
    write = parlay.python_app(executors=[f"{run['kind']}-{mode}"], data_flow_kernel=run["dfk"])(
        workflow_apps.write_text
    )
    texts = {f"out/{n}.txt": f"{n}\n" * 200_000 for n in range(8)}
    futures = [write(text, outputs=[File(f"zip:{archive}/{name}")]) for name, text in texts.items()]
    for future in futures:
        future.outputs[0].result(TIMEOUT)
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        assert {name: zf.read(name).decode() for name in zf.namelist()} == texts
