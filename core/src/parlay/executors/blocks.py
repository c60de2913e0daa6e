"""`BlockProviderExecutor`: the base of executors whose workers run in blocks that a provider starts
(batch jobs, cloud instances, local process groups). It owns the block table and the primitives the
kernel's scaling strategy calls; every block it started is cancelled when it shuts down."""

from __future__ import annotations

import itertools
import logging
import threading
from abc import abstractmethod
from collections.abc import Callable

from parlay.errors import BadStateException, ScalingFailed
from parlay.executors.base import ParlayExecutor
from parlay.options import REQUIRED, Check, declare, option, state
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
        "when blocks end: True fails every task once every block failed to start, False does nothing, "
        "a callable is called with the executor and the blocks' statuses",
        Check(lambda value: isinstance(value, bool) or callable(value), "True, False or a callable"),
    )

    blocks: dict[str, str] = state(factory=dict)  # block id -> job id
    failed_blocks: list[tuple[str, JobStatus]] = state(factory=list)  # blocks that ended on their own, oldest first
    _block_ids: itertools.count = state(factory=itertools.count)
    _blocks_lock: threading.Lock = state(factory=threading.Lock)

    # --- lifecycle --------------------------------------------------------------------------------

    def _start(self) -> None:
        self._start_service()
        if self.provider.init_blocks:
            self.scale_out(self.provider.init_blocks)

    def _shutdown(self) -> None:
        try:
            self._stop_service()
        finally:
            self.scale_in(len(self.blocks))  # nothing this run started is left queued or running

    # --- scaling primitives -----------------------------------------------------------------------

    def scale_out(self, blocks: int = 1) -> list[str]:
        """Start `blocks` new blocks; their ids. A provider failure raises `ScalingFailed` quoting it."""
        started = []
        for _ in range(blocks):
            block_id = str(next(self._block_ids))
            job_name = f"parlay.{self.label}.block-{block_id}"
            try:
                job_id = self.provider.submit(self._get_launch_command(block_id), 1, job_name)
            except Exception as exc:
                raise ScalingFailed(self.label, f"could not start block {block_id}: {exc}") from exc
            with self._blocks_lock:
                self.blocks[block_id] = job_id
            started.append(block_id)
            self._block_event(block_id, job_id, JobState.PENDING, "submitted")
        return started

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
        """Forget blocks whose jobs ended on their own; when every block has failed, fail the tasks with
        the last failure's output and script instead of letting them wait forever."""
        ended = {b: s for b, s in statuses.items() if s.terminal}
        if not ended:
            return
        with self._blocks_lock:
            for block_id in ended:
                self.blocks.pop(block_id, None)
        for block_id, status in ended.items():
            self._block_event(block_id, None, status.state, status.message or "")
            self._block_ended(block_id, status)
            if status.state is not JobState.COMPLETED and not self.block_worked(block_id):
                self.failed_blocks.append((block_id, status))
        if self.block_error_handler is True:
            self._all_blocks_failed_error()
        elif callable(self.block_error_handler):
            self.block_error_handler(self, statuses)

    def _all_blocks_failed_error(self) -> None:
        if self.blocks or len(self.failed_blocks) < max(1, self.provider.init_blocks):
            return
        block_id, status = self.failed_blocks[-1]
        script = self.provider.script_path(f"parlay.{self.label}.block-{block_id}")
        text = [
            f"{len(self.failed_blocks)} block(s) failed to start and none is left; block {block_id} ended "
            f"{status.state.name}: {status.message or 'no message'}",
            f"job script: {script}",
        ]
        for name, tail in (("stderr", status.stderr_tail()), ("stdout", status.stdout_tail())):
            if tail.strip():
                text.append(f"its {name} ends with:\n{tail.rstrip()}")
        self.set_bad_state_and_fail_all(BadStateException(self.label, "\n".join(text)))

    def block_worked(self, block_id: str) -> bool:
        """Whether a block's workers ever connected: one that did and then died is replaced by scaling,
        not counted as a failure to start."""
        return False

    def idle_blocks(self) -> list[str]:
        """Blocks running no task, which scaling in may take; executors that know more refine this."""
        return list(self.blocks) if self.outstanding == 0 else []

    def _block_ended(self, block_id: str, status: JobStatus) -> None:
        """A block's job ended on its own: executors drop what they expected of it."""

    def _block_event(self, block_id: str, job_id: str | None, state: JobState, message: str) -> None:
        from parlay.plugins.manager import get_hooks

        (self.hooks or get_hooks()).block_state_changed(
            executor=self.label, block_id=block_id, job_id=job_id, state=state.name, message=message
        )

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
