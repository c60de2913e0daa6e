"""Blocks that fail, through the kernel's strategy thread: a refused submission backs off and, repeated, fails
the waiting tasks with the scheduler's words; a block whose workers ran tasks and died is replaced, not
counted as a failure to start; `block_error_handler` and `block_error_threshold` as documented."""

import itertools
import time
from concurrent.futures import Future

import pytest

import parlay
from parlay import Config, python_app
from parlay.errors import (
    BadStateException,
    ConfigurationError,
    ExecutionProviderException,
    ScalingWarning,
    SubmitException,
)
from parlay.executors.blocks import BlockProviderExecutor
from parlay.providers.base import ExecutionProvider, JobState, JobStatus

TIMEOUT = 60
PERIOD = 0.05  # the strategy's period and the provider's polling interval: rounds come quickly


class ScriptedProvider(ExecutionProvider):
    """Blocks that exist only here: the test refuses submissions (as `qsub` would) or sets each job's state."""

    kind = "scripted"

    def __init__(self, **options):
        super().__init__(label="scripted", **options)
        self.status_polling_interval = PERIOD
        self.refusal = None  # what the scheduler says when it refuses a job
        self.permanent = False  # whether it says that trying again cannot help
        self.new_jobs = JobStatus(JobState.RUNNING)  # the state of jobs submitted from now on
        self.jobs = {}  # job id -> its status
        self.submissions = []  # when each submission came, accepted or not

    def _submit(self, command, tasks_per_node, job_name):
        self.submissions.append(time.monotonic())
        if self.refusal is not None:
            message = f"`qsub {job_name}.submit` exited with code 1"
            raise SubmitException(job_name, message, stderr=self.refusal, permanent=self.permanent)
        job_id = str(len(self.submissions))
        self.jobs[job_id] = self.new_jobs
        return job_id

    def _status(self, job_ids):
        return [self.jobs[job_id] for job_id in job_ids]

    def _cancel(self, job_ids):
        return [True] * len(job_ids)


class WaitingExecutor(BlockProviderExecutor):
    """Tasks wait for workers that never come; the test says how many tasks each block ran."""

    workers_per_node = 1

    def __init__(self, provider, **options):
        super().__init__("waiting", provider, **options)
        self.futures = []
        self.ran = {}  # block id -> tasks its workers ran, for blocks whose workers connected

    @property
    def outstanding(self):
        return sum(not future.done() for future in self.futures)

    def tasks_run_by(self, block_id):
        return self.ran.get(block_id)

    def _get_launch_command(self, block_id):
        return f"worker --block {block_id}"

    def _start_service(self):
        pass

    def _stop_service(self):
        for future in self.futures:
            future.cancel()

    def set_bad_state_and_fail_all(self, exception):
        for future in self.futures:
            if not future.done():
                future.set_exception(exception)

    def _submit(self, func, resource_specification, args, kwargs):
        future = Future()
        self.futures.append(future)
        return future


@python_app(executors=["waiting"])
def task():
    return "never runs"


def config(run_dir, executor, strategy="simple"):
    return Config(executors=[executor], run_dir=run_dir, strategy=strategy, strategy_period=PERIOD)


def read_log(dfk):
    with open(f"{dfk.run_dir}/parlay.log") as stream:
        return stream.read()


def wait_until(predicate, what):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("init_blocks", [0, 1])
def test_refused_submissions_back_off_then_fail_the_waiting_task(run_dir, init_blocks):
    provider = ScriptedProvider(init_blocks=init_blocks)
    provider.refusal = "qsub: Invalid account or account/partition combination specified"
    executor = WaitingExecutor(provider)
    with pytest.warns(ScalingWarning) as warned, parlay.load(config(run_dir, executor)) as dfk:
        with pytest.raises(BadStateException) as info:
            task().result(TIMEOUT)
        log = read_log(dfk)
        with pytest.raises(BadStateException, match="failed to start"):
            task().result(TIMEOUT)  # later tasks are refused at once
    text = str(info.value)
    assert "3 block(s) in a row failed to start and none is left" in text
    assert "block 2, never started: its submission was refused" in text
    assert "`qsub parlay.waiting.block-2.submit` exited with code 1" in text and "Invalid account" in text
    assert len(provider.submissions) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(provider.submissions)]
    assert gaps[1] >= 2 * PERIOD, f"no back-off between refusals: {gaps}"
    assert len([w for w in warned if w.category is ScalingWarning]) == 1, "the console is told once"
    assert "Invalid account" in str(warned[0].message)
    assert log.count("Traceback") == 1 and log.index("Traceback") < log.index("2 refusals in a row")


def test_a_permanent_refusal_fails_the_waiting_task_at_once(run_dir):
    provider = ScriptedProvider(init_blocks=0)
    provider.refusal, provider.permanent = "AuthFailure: the access key does not exist", True
    executor = WaitingExecutor(provider)
    with pytest.warns(ScalingWarning), parlay.load(config(run_dir, executor)):
        error = task().exception(TIMEOUT)
    assert isinstance(error, BadStateException) and "no retry can help" in str(error)
    assert "AuthFailure: the access key does not exist" in str(error)
    assert len(provider.submissions) == 1, "a refusal that cannot change is not tried again"


def test_refusals_are_retried_less_and_less_often(run_dir):
    provider = ScriptedProvider(init_blocks=0)
    provider.refusal = "qsub: Maximum number of jobs already in queue"
    executor = WaitingExecutor(provider, block_error_handler=False)
    with pytest.warns(ScalingWarning), parlay.load(config(run_dir, executor)):
        waiting = task()
        time.sleep(40 * PERIOD)  # a submission each period would make 40 of them
        assert not waiting.done(), "without an error handler the task waits for a block"
        assert 3 <= len(provider.submissions) <= 8, f"{len(provider.submissions)} submissions in 40 periods"
        provider.refusal = None
        wait_until(lambda: executor.blocks, "a block once the scheduler accepts jobs again")
        assert executor.refusals == 0


def test_a_block_that_ran_tasks_is_lost_and_replaced_not_counted_as_failing_to_start(run_dir):
    provider = ScriptedProvider(init_blocks=1)
    executor = WaitingExecutor(provider)
    with parlay.load(config(run_dir, executor)) as dfk:
        waiting = task()
        executor.ran["0"] = 612
        provider.new_jobs = JobStatus(JobState.FAILED, "job script exited with code 1")
        provider.jobs["1"] = JobStatus(JobState.FAILED, "job script exited with code 137", exit_code=137)
        with pytest.raises(BadStateException) as info:
            waiting.result(TIMEOUT)
        log = read_log(dfk)
    text = str(info.value)
    assert "3 block(s) in a row failed to start" in text and "block 3, never started" in text
    assert "before them, block 0 died after running 612 tasks: its job ended FAILED" in text
    assert len(provider.submissions) == 4, "block 0 was replaced; then three blocks never started"
    assert "block 0 died after running 612 tasks" in log and "block 1 never started (1 in a row)" in log


def test_a_block_that_works_resets_the_count(run_dir):
    provider = ScriptedProvider(init_blocks=1)
    provider.new_jobs = JobStatus(JobState.FAILED, "job script exited with code 1")
    executor = WaitingExecutor(provider, block_error_threshold=2)
    with parlay.load(config(run_dir, executor)):
        waiting = task()
        wait_until(lambda: len(executor.failed_to_start) == 1, "the first block to fail")
        provider.new_jobs = JobStatus(JobState.RUNNING)
        wait_until(lambda: executor.blocks, "a block that runs")
        [(block_id, job_id)] = executor.blocks.items()
        executor.ran[block_id] = 5
        provider.new_jobs = JobStatus(JobState.FAILED, "job script exited with code 1")
        provider.jobs[job_id] = JobStatus(JobState.TIMEOUT, "walltime")
        with pytest.raises(BadStateException, match=r"2 block\(s\) in a row failed to start"):
            waiting.result(TIMEOUT)
    assert len(provider.submissions) == 4, "one failure, a block that worked, then two failures"


def test_under_strategy_none_the_first_failure_fails_the_tasks(run_dir):
    provider = ScriptedProvider(init_blocks=1, max_blocks=3)
    provider.new_jobs = JobStatus(JobState.FAILED, "job script exited with code 1")
    executor = WaitingExecutor(provider)
    failure = pytest.raises(BadStateException, match=r"1 block\(s\) in a row failed to start")
    with parlay.load(config(run_dir, executor, strategy="none")), failure:
        task().result(TIMEOUT)
    assert len(provider.submissions) == 1, "strategy='none' starts no other block"


def test_refused_first_block_under_strategy_none_fails_the_tasks(run_dir):
    provider = ScriptedProvider(init_blocks=1)
    provider.refusal = "qsub: Unknown queue"
    executor = WaitingExecutor(provider)
    failure = pytest.raises(BadStateException, match=r"(?s)its submission was refused.*Unknown queue")
    with pytest.warns(ScalingWarning, match="Unknown queue"), parlay.load(config(run_dir, executor, "none")), failure:
        task().result(TIMEOUT)


def test_block_error_handler_false_and_callable(run_dir):
    provider = ScriptedProvider(init_blocks=1)
    provider.new_jobs = JobStatus(JobState.FAILED, "job script exited with code 1")
    executor = WaitingExecutor(provider, block_error_handler=False)
    with parlay.load(config(run_dir, executor)):
        waiting = task()
        wait_until(lambda: len(executor.failed_to_start) >= 5, "five blocks to fail")
        assert not waiting.done()

    calls = []

    def handler(executor, statuses):
        calls.append(dict(statuses))
        if any(s.state is JobState.FAILED for s in statuses.values()):
            executor.set_bad_state_and_fail_all(RuntimeError("my site's policy"))

    provider = ScriptedProvider(init_blocks=1)
    provider.new_jobs = JobStatus(JobState.FAILED, "job script exited with code 1")
    executor = WaitingExecutor(provider, block_error_handler=handler)
    with parlay.load(config(run_dir, executor)), pytest.raises(RuntimeError, match="my site's policy"):
        task().result(TIMEOUT)
    assert {"0": JobState.FAILED} in [{b: s.state for b, s in c.items()} for c in calls]


def test_block_error_threshold_is_checked():
    with pytest.raises(ConfigurationError, match=r"block_error_threshold=0: expected an integer >= 1"):
        WaitingExecutor(ScriptedProvider(), block_error_threshold=0)


def test_a_repeated_scaling_error_is_logged_with_its_traceback_once(run_dir):
    provider = ScriptedProvider(init_blocks=1)

    def broken(job_ids):
        raise ExecutionProviderException("`squeue` exited with code 1\nstderr: Unable to contact slurm controller")

    provider._status = broken
    executor = WaitingExecutor(provider)
    with parlay.load(config(run_dir, executor)) as dfk:
        time.sleep(40 * PERIOD)
        log = read_log(dfk)
    assert log.count("Unable to contact slurm controller") >= 2
    assert log.count("Traceback") == 1
    assert 1 <= log.count("failed again") <= 6, "repeats are logged at 2, 4, 8, ... in a row"
