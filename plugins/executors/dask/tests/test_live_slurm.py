"""Dask workers in blocks that are real Slurm jobs: the single-node Slurm that the repository's `live_slurm`
fixture starts (tools/schedulers/slurm.sh; it needs root, and skips without). Selected with `-k Live`."""

import os
import subprocess

import pytest

import parlay
from parlay import Config, python_app
from parlay.providers.base import read_journal
from parlay.testing import TIMEOUT
from parlay.testing.providers import wait_for
from parlay_executor_dask import DaskExecutor


@python_app
def job_of(x):
    """The Slurm job whose worker runs this task."""
    import os

    return 2 * x, os.environ.get("SLURM_JOB_ID")


def listed(job_ids):
    """The jobs among `job_ids` that Slurm still lists, with their state codes."""
    out = subprocess.run(["squeue", "--noheader", "--format=%i %t"], capture_output=True, text=True, check=True)
    rows = [line.split() for line in out.stdout.splitlines()]
    return {row[0]: row[1] for row in rows if row and row[0] in job_ids}


class TestLiveSlurm:
    @pytest.fixture(autouse=True)
    def _slurm(self, live_slurm):
        return live_slurm

    def test_blocks_are_slurm_jobs_that_run_the_workflow_and_leave_no_job(self, tmp_path):
        from parlay.launchers import SrunLauncher
        from parlay.providers import SlurmProvider

        provider = SlurmProvider(
            partition=os.environ["PARLAY_TEST_SLURM_PARTITION"],
            exclusive=False,
            launcher=SrunLauncher(),
            nodes_per_block=1,
            init_blocks=1,
            max_blocks=1,
            walltime="00:10:00",
            status_polling_interval=2,
        )
        executor = DaskExecutor(provider=provider, n_workers=2, death_timeout=60)
        config = Config(executors=[executor], run_dir=str(tmp_path / "runinfo"), strategy_period=1)
        with parlay.load(config) as dfk:
            results = [future.result(TIMEOUT) for future in [job_of(i) for i in range(200)]]
            run_dir = dfk.run_dir
        assert [value for value, _ in results] == [2 * i for i in range(200)]
        jobs = [job_id for _, job_id in read_journal(run_dir)]
        assert {job for _, job in results} <= set(jobs), "every task ran inside a Slurm job of the run"
        assert all(state == "CG" for state in listed(jobs).values()), "no job of the run is queued or running"
        wait_for(lambda: not listed(jobs), "Slurm to list no job of the run")
