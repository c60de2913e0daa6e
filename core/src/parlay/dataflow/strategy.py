"""Elasticity: a thread of the kernel that polls block-provider executors and scales their blocks.

Every `Config.strategy_period` seconds it asks each executor's provider for its blocks' states (no more
often than the provider's `status_polling_interval`), lets the executor deal with blocks that ended,
and applies the strategy:

- `simple`: start blocks while the slots (blocks x nodes x workers per node) fall short of
  `parallelism` x outstanding tasks, up to `max_blocks`; with no task for `max_idletime`, scale in to
  `min_blocks`.
- `htex_auto_scale`: as `simple`, and also scale in idle blocks while slots exceed the work.
- `none`: only the `init_blocks` started with the executor.

Scaling in takes only blocks that run no task. After the provider refused a submission, the next one waits
one period, then two, four, ... (at most `MAX_BACKOFF` seconds) while the refusals go on. An error of a
round (a status command that fails) is logged with its traceback once; while the same error repeats, in one
line when its count reaches 2, 4, 8, ...
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence

from parlay.executors.blocks import BlockProviderExecutor

logger = logging.getLogger(__name__)

#: The longest wait, in seconds, before submitting again after the provider refused a block.
MAX_BACKOFF = 600.0


class Strategy:
    def __init__(self, executors: Sequence[BlockProviderExecutor], strategy: str, period: float, max_idletime: float):
        self.executors = list(executors)
        self.strategy = strategy
        self.period = period
        self.max_idletime = max_idletime
        self._last_status: dict[str, float] = {}
        self._idle_since: dict[str, float] = {}
        self._submit_after: dict[str, float] = {}  # executor label -> no submission before then (refusals' back-off)
        self._errors: dict[str, tuple[str, int]] = {}  # executor label -> its last round's error, and how many in a row
        for executor in self.executors:
            executor.replaces_blocks = strategy != "none"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parlay-strategy", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            for executor in self.executors:
                if self._stop.is_set() or not executor.running:
                    continue
                try:
                    self.poll(executor, time.monotonic())
                except Exception as exc:
                    self._log_error(executor.label, exc)
                else:
                    self._errors.pop(executor.label, None)

    def _log_error(self, label: str, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        last, repeats = self._errors.get(label, ("", 0))
        repeats = repeats + 1 if text == last else 1
        self._errors[label] = (text, repeats)
        if repeats == 1:
            logger.exception("scaling executor %s failed; trying again next period", label)
        elif repeats & (repeats - 1) == 0:
            logger.warning("scaling executor %s failed again (%d times in a row): %s", label, repeats, text)

    def poll(self, executor: BlockProviderExecutor, now: float) -> None:
        """One round for one executor: status, ended blocks, then scaling."""
        label = executor.label
        if now - self._last_status.get(label, -math.inf) >= executor.provider.status_polling_interval:
            self._last_status[label] = now
            executor.handle_block_statuses(executor.status())
            if executor.hooks is not None and executor.hooks.node_listeners:
                executor.report_nodes()
        if self.strategy != "none" and executor.running:
            self.scale(executor, now)

    def scale(self, executor: BlockProviderExecutor, now: float) -> None:
        provider = executor.provider
        tasks = executor.outstanding
        blocks = len(executor.blocks)
        per_block = max(1, executor.workers_per_node) * provider.nodes_per_block
        slots = blocks * per_block
        if tasks == 0:
            idle_since = self._idle_since.setdefault(executor.label, now)
            if blocks > provider.min_blocks and now - idle_since > self.max_idletime:
                self._scale_in(executor, blocks - provider.min_blocks)
            return
        self._idle_since.pop(executor.label, None)
        wanted = math.ceil(tasks * provider.parallelism)
        if slots < wanted or (slots == 0 and tasks):
            more = max(1, math.ceil((wanted - slots) / per_block))
            more = min(more, provider.max_blocks - blocks)
            if more > 0 and now >= self._submit_after.get(executor.label, -math.inf):
                logger.info("executor %s: %d tasks, %d slots: starting %d block(s)", executor.label, tasks, slots, more)
                executor.scale_out(more)
                if executor.refusals:
                    backoff = min(self.period * 2 ** (executor.refusals - 1), MAX_BACKOFF)
                    self._submit_after[executor.label] = now + backoff
        elif self.strategy == "htex_auto_scale" and slots > wanted:
            excess = math.floor((slots - wanted) / per_block)
            if excess > 0 and blocks - excess >= provider.min_blocks:
                self._scale_in(executor, excess)

    def _scale_in(self, executor: BlockProviderExecutor, count: int) -> None:
        idle = executor.idle_blocks()[:count]
        if idle:
            logger.info("executor %s: scaling in idle block(s) %s", executor.label, idle)
            executor.scale_in(len(idle), block_ids=idle)
