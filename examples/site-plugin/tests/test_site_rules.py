"""Example Site's rules, with the plugin installed beside parlay, its Slurm provider and its htex executor.

No scheduler is needed: nothing here submits a job (the tests check that none was).
"""

import json
import os
import subprocess
import sysconfig

import pytest

import parlay
from parlay.errors import ConfigurationError, NoDataFlowKernelError
from parlay.executors import HighThroughputExecutor, ThreadPoolExecutor
from parlay.providers import SlurmProvider
from parlay_site_example.hooks import DEFAULT_WORKER_INIT, MODULE_LINES, POLICY


@parlay.python_app(executors=["login"])
def add(a, b):
    return a + b


def test_parlay_plugins_check_lists_the_plugin_as_working():
    parlay_command = os.path.join(sysconfig.get_path("scripts"), "parlay")
    checked = subprocess.run([parlay_command, "plugins", "--check", "--json"], capture_output=True, text=True,
                             timeout=120)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    hooks = [row for row in json.loads(checked.stdout)["plugins"] if row["kind"] == "hooks"]
    assert [(row["name"], row["distribution"], row["status"]) for row in hooks] == [
        ("example-site", "parlay-site-example", "ok")
    ]


def test_job_scripts_load_the_site_modules_before_worker_init(tmp_path):
    provider = SlurmProvider(partition="debug", account="proj-1", worker_init="source ~/env/bin/activate")
    provider.script_dir = str(tmp_path)
    lines = provider.job_script("parlay-worker", 1, "job-0").splitlines()
    start = lines.index(MODULE_LINES[0])
    assert lines[start : start + len(MODULE_LINES)] == list(MODULE_LINES)
    assert max(i for i, line in enumerate(lines) if line.startswith("#SBATCH")) < start
    assert lines.index("source ~/env/bin/activate") > start


def test_a_slurm_provider_without_an_account_is_refused_before_anything_starts(tmp_path):
    provider = SlurmProvider(partition="debug")
    config = parlay.Config(executors=[HighThroughputExecutor(provider=provider)], run_dir=str(tmp_path / "runinfo"))
    with pytest.raises(ConfigurationError) as refused:
        parlay.load(config)
    assert "plugin example-site" in str(refused.value)
    assert POLICY in str(refused.value)
    assert "'htex'" in str(refused.value)  # the executor to fix
    assert not (tmp_path / "runinfo").exists()  # no run began, so no block was submitted
    assert provider.job_names == {}
    assert provider.worker_init == ""  # a refused config is left as it was
    with pytest.raises(NoDataFlowKernelError):
        parlay.dfk()


def test_a_run_that_follows_the_rules_runs_with_the_site_defaults(tmp_path):
    # init_blocks=0 and no scaling: htex starts its interchange but asks Slurm for nothing
    provider = SlurmProvider(partition="debug", account="proj-1", init_blocks=0, min_blocks=0, max_blocks=1)
    executors = [ThreadPoolExecutor(label="login"), HighThroughputExecutor(provider=provider)]
    config = parlay.Config(executors=executors, strategy="none", run_dir=str(tmp_path / "runinfo"))
    with parlay.load(config):
        assert add(1, 2).result(timeout=60) == 3
        lines = provider.job_script("parlay-worker", 1, "job-0").splitlines()  # as the run would submit it
    assert provider.worker_init == DEFAULT_WORKER_INIT
    assert lines.index(MODULE_LINES[-1]) < lines.index(DEFAULT_WORKER_INIT)
    assert provider.job_names == {}
    assert not list((tmp_path / "runinfo").glob("*/jobs.jsonl"))  # the run's journal of submitted jobs
