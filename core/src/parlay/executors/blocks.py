"""`BlockProviderExecutor`: the base of executors whose workers run in blocks that a provider starts
(batch jobs, cloud instances, local process groups). It owns the block table and the primitives the
kernel's scaling strategy calls; every block it started is cancelled when it shuts down.

A block that ends after its workers connected is lost like a node (its tasks fail or are retried, and the
strategy starts another). A block that ends before they ever connected, or whose submission the provider
refuses, failed to start: refused submissions are retried after a growing delay, and once
`block_error_threshold` blocks in a row failed to start and none is left, the waiting tasks fail with what
the scheduler said instead of waiting forever.
"""

from __future__ import annotations

import itertools
import logging
import threading
import warnings
from abc import abstractmethod
from collections.abc import Callable

from parlay.errors import BadStateException, ScalingWarning
from parlay.executors.base import ParlayExecutor
from parlay.options import REQUIRED, Check, count, declare, option, state
from parlay.providers.base import ExecutionProvider, JobState, JobStatus

logger = logging.getLogger(__name__)


@declare
class BlockProviderExecutor(ParlayExecutor):
    """An executor with a `provider`; subclasses start their service in `_start_service` and say how a
    block starts its workers in `_get_launch_command`."""

    provider: ExecutionProvider = option(
        REQUIRED,
        "starts and stops the blocks (batch jobs, instances, process groups) the workers run in",
        Check(lambda value: isinstance(value, ExecutionProvider), "a provider (an ExecutionProvider)"),
        positional=True,
    )
    block_error_handler: bool | Callable[..., None] = option(
        True,
        "after each status poll: True fails every task once `block_error_threshold` blocks in a row failed to "
        "start and none is left, False does nothing, a callable is called with the executor and the blocks' "
        "statuses",
        Check(lambda value: isinstance(value, bool) or callable(value), "True, False or a callable"),
    )
    block_error_threshold: int = option(
        3,
        "blocks in a row that fail to start (their job ends before their workers connect, or its submission is "
        "refused) before `block_error_handler=True` fails the tasks; 1 under `strategy='none'`",
        count(1),
    )

    blocks: dict[str, str] = state(factory=dict)  # block id -> job id
    # blocks that failed to start since the last block that worked, oldest first: id, how, status
    failed_to_start: list[tuple[str, str, JobStatus]] = state(factory=list)
    replaces_blocks: bool = state(True)  # whether the strategy starts blocks when blocks end (not under 'none')
    _block_ids: itertools.count = state(factory=itertools.count)
    _blocks_lock: threading.Lock = state(factory=threading.Lock)
    refusals: int = state(0)  # submissions the provider refused in a row (the strategy backs off by it)
    _last_worked: str | None = state()  # how the last block that ran tasks ended
    _block_states: dict[str, JobState] = state(factory=dict)  # the last state each block was reported in
    _nodes: dict[str, dict] = state(factory=dict)  # node id -> the node, as `nodes()` last gave it

    # --- lifecycle --------------------------------------------------------------------------------

    def _start(self) -> None:
        self._start_service()
        if self.provider.init_blocks:
            self.scale_out(self.provider.init_blocks)

    def _shutdown(self) -> None:
        try:
            self._stop_service()
        finally:
            try:
                self.scale_in(len(self.blocks))  # nothing this run started is left queued or running
            finally:
                self.provider.release()

    # --- scaling primitives -----------------------------------------------------------------------

    def scale_out(self, blocks: int = 1) -> list[str]:
        """Start up to `blocks` new blocks; the ids of those started. A submission the provider refuses ends
        the call and counts as a block that failed to start (`refusals` counts them in a row); the first of
        a row is logged with its traceback and warned about (`ScalingWarning`)."""
        started = []
        for _ in range(blocks):
            block_id = str(next(self._block_ids))
            job_name = f"parlay.{self.label}.block-{block_id}"
            try:
                job_id = self.provider.submit(self._get_launch_command(block_id), 1, job_name)
            except Exception as exc:
                self._submission_refused(block_id, exc)
                break
            self.refusals = 0
            with self._blocks_lock:
                self.blocks[block_id] = job_id
            started.append(block_id)
            self._block_event(block_id, job_id, JobState.PENDING, "submitted")
        return started

    def _submission_refused(self, block_id: str, exc: Exception) -> None:
        self.refusals += 1
        if self.refusals == 1:  # refusals tend to repeat (a wrong account): the traceback and the warning once
            logger.error("executor %s could not start block %s", self.label, block_id, exc_info=exc)
            outcome = "parlay tries again, less and less often"
            if self.block_error_handler is True:
                outcome += f"; if it goes on, the tasks fail (block_error_threshold={self.block_error_threshold})"
            # attributed to parlay, not to a line of the scaling thread that would mean nothing to the user
            text = f"executor {self.label} could not start block {block_id}: {exc}\n({outcome})"
            warnings.warn_explicit(text, ScalingWarning, "parlay", 0)
        else:
            logger.warning(
                "executor %s could not start block %s (%d refusals in a row): %s",
                self.label,
                block_id,
                self.refusals,
                exc,
            )
        how = f"its submission was refused: {exc}"
        status = JobStatus(JobState.FAILED, message=how)
        self._block_event(block_id, None, JobState.FAILED, how)
        self.failed_to_start.append((block_id, how, status))
        if getattr(exc, "permanent", False) and self.block_error_handler is True and not self.blocks:
            # trying again cannot help (wrong credentials, an unknown image): say so now, not after back-offs
            text = f"block {block_id} cannot start, and no retry can help: {exc}"
            self.set_bad_state_and_fail_all(BadStateException(self.label, text))
            return
        self._handle_errors({block_id: status})

    def scale_in(self, blocks: int, block_ids: list[str] | None = None) -> list[str]:
        """Cancel `blocks` blocks (the newest first, or exactly `block_ids`); the ids cancelled."""
        with self._blocks_lock:
            chosen = block_ids if block_ids is not None else list(self.blocks)[::-1][:blocks]
            jobs = {b: self.blocks.pop(b) for b in chosen if b in self.blocks}
        if not jobs:
            return []
        try:
            results = self.provider.cancel(list(jobs.values()))
        except Exception:
            logger.exception("executor %s could not cancel jobs %s", self.label, list(jobs.values()))
            raise
        for (block_id, job_id), cancelled in zip(jobs.items(), results, strict=True):
            self._block_event(block_id, job_id, JobState.SCALED_IN if cancelled else JobState.UNKNOWN, "scaled in")
        return [b for b, ok in zip(jobs, results, strict=True) if ok]

    def status(self) -> dict[str, JobStatus]:
        """The status of every block, from one batched provider call."""
        with self._blocks_lock:
            blocks = dict(self.blocks)
        statuses = self.provider.status(list(blocks.values()))
        return dict(zip(blocks, statuses, strict=True))

    def handle_block_statuses(self, statuses: dict[str, JobStatus]) -> None:
        """Forget blocks whose jobs ended on their own, telling a block that died after its workers ran
        tasks (lost like a node) from one that never started; then run `block_error_handler`."""
        ended = {b: s for b, s in statuses.items() if s.terminal}
        with self._blocks_lock:
            jobs = {b: self.blocks.pop(b, None) if b in ended else self.blocks.get(b) for b in statuses}
        for block_id, status in statuses.items():
            if block_id not in ended and self._block_states.get(block_id) is not status.state:
                self._block_event(block_id, jobs[block_id], status.state, status.message or "")
        for block_id, status in ended.items():
            self._block_event(block_id, jobs[block_id], status.state, status.message or "")
            self._block_ended(block_id, status)
            self._judge_ended_block(block_id, status)
        self._handle_errors(statuses)

    def _judge_ended_block(self, block_id: str, status: JobStatus) -> None:
        how = f"its job ended {status.state.name}" + (f": {status.message}" if status.message else "")
        tasks = self.tasks_run_by(block_id)
        if tasks is not None:
            self.failed_to_start.clear()
            verb = "ended" if status.state is JobState.COMPLETED else "died"
            self._last_worked = f"block {block_id} {verb} after running {tasks} tasks: {how}"
            level = logging.INFO if verb == "ended" else logging.WARNING
            logger.log(level, "executor %s: %s", self.label, self._last_worked)
        elif status.state is not JobState.COMPLETED:
            self.failed_to_start.append((block_id, how, status))
            count = len(self.failed_to_start)
            logger.warning("executor %s: block %s never started (%d in a row): %s", self.label, block_id, count, how)

    def _handle_errors(self, statuses: dict[str, JobStatus]) -> None:
        if self.block_error_handler is True:
            self.fail_if_blocks_cannot_start(self.block_error_threshold)
        elif callable(self.block_error_handler):
            self.block_error_handler(self, statuses)

    def fail_if_blocks_cannot_start(self, threshold: int) -> None:
        """The default block error handler: once `threshold` blocks in a row failed to start (one, when the
        strategy replaces none) and no block is left that may yet start, fail every task with what the last
        one left."""
        threshold = threshold if self.replaces_blocks else 1
        if self.blocks or len(self.failed_to_start) < threshold:
            return
        block_id, how, status = self.failed_to_start[-1]
        text = [
            f"{len(self.failed_to_start)} block(s) in a row failed to start and none is left "
            f"(block_error_threshold={self.block_error_threshold}); the last, block {block_id}, never started: {how}"
        ]
        if status.stdout_path or status.stderr_path:  # its job ran: show its script and what it printed
            text.append(f"job script: {self.provider.script_path(f'parlay.{self.label}.block-{block_id}')}")
            for name, tail in (("stderr", status.stderr_tail()), ("stdout", status.stdout_tail())):
                if tail.strip():
                    text.append(f"its {name} ends with:\n{tail.rstrip()}")
        if self._last_worked is not None:
            text.append(f"before them, {self._last_worked}")
        self.set_bad_state_and_fail_all(BadStateException(self.label, "\n".join(text)))

    def tasks_run_by(self, block_id: str) -> int | None:
        """How many tasks a block's workers finished, or None if they never connected (a block that connected
        and then died is lost like a node, not counted as a failure to start). Executors that can tell
        override this; the default cannot."""
        return None

    def idle_blocks(self) -> list[str]:
        """Blocks running no task, which scaling in may take; executors that know more refine this."""
        return list(self.blocks) if self.outstanding == 0 else []

    def _block_ended(self, block_id: str, status: JobStatus) -> None:
        """A block's job ended on its own: executors drop what they expected of it."""

    def _block_event(self, block_id: str, job_id: str | None, state: JobState, message: str) -> None:
        from parlay.plugins.manager import get_hooks

        if state.terminal:
            self._block_states.pop(block_id, None)
        else:
            self._block_states[block_id] = state
        (self.hooks or get_hooks()).block_state_changed(
            executor=self.label, block_id=block_id, job_id=job_id, state=state.name, message=message
        )

    def nodes(self) -> list[dict] | None:
        """The nodes serving this executor now (`id`, `hostname`, `workers`, `block_id`, ...), or None if the
        executor cannot tell. Executors that know them override this."""
        return None

    def report_nodes(self) -> None:
        """Tell `parlay_node_state_changed` which nodes joined and left since the last look."""
        from parlay.plugins.manager import get_hooks

        found = self.nodes()
        if found is None:
            return
        current = {str(node["id"]): node for node in found}
        hooks = self.hooks or get_hooks()
        for node_id in current.keys() - self._nodes.keys():
            node = current[node_id]
            hooks.node_state_changed(executor=self.label, block_id=node.get("block_id"), node=node, state="joined")
        for node_id in self._nodes.keys() - current.keys():
            node = self._nodes[node_id]
            hooks.node_state_changed(executor=self.label, block_id=node.get("block_id"), node=node, state="left")
        self._nodes = current

    # --- what a subclass implements ---------------------------------------------------------------

    @property
    @abstractmethod
    def outstanding(self) -> int:
        """Tasks submitted and not finished."""

    @property
    @abstractmethod
    def workers_per_node(self) -> int | float:
        """Workers each node of a block runs."""

    @abstractmethod
    def _get_launch_command(self, block_id: str) -> str:
        """The command a block runs to start this executor's workers."""

    @abstractmethod
    def _start_service(self) -> None:
        """Start what the blocks' workers connect to (an interchange, a listener)."""

    @abstractmethod
    def _stop_service(self) -> None:
        """Stop the service; tasks still running fail."""

    @abstractmethod
    def set_bad_state_and_fail_all(self, exception: BaseException) -> None:
        """Stop accepting tasks and fail every outstanding one with `exception`."""


# Parsl's block error handlers, for `block_error_handler=` (and `functools.partial(windowed_error_handler,
# threshold=N)`), with their meanings: `block_error_handler=True` is the windowed one with `block_error_threshold`.


def noop_error_handler(executor: BlockProviderExecutor, statuses: dict[str, JobStatus]) -> None:
    """Let the tasks wait, however many blocks fail."""


def simple_error_handler(executor: BlockProviderExecutor, statuses: dict[str, JobStatus]) -> None:
    """Fail the tasks once as many blocks as `init_blocks` (at least one) failed to start and none is left."""
    executor.fail_if_blocks_cannot_start(max(1, executor.provider.init_blocks))


def windowed_error_handler(executor: BlockProviderExecutor, statuses: dict[str, JobStatus], threshold: int = 3) -> None:
    """Fail the tasks once `threshold` blocks in a row failed to start and none is left."""
    executor.fail_if_blocks_cannot_start(threshold)
