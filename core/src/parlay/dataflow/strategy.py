"""Elasticity: a thread of the kernel that polls block-provider executors and scales their blocks.

Every `Config.strategy_period` seconds it asks each executor's provider for its blocks' states (no more
often than the provider's `status_polling_interval`), lets the executor deal with blocks that ended,
and applies the strategy:

- `simple`: start blocks while the slots (blocks x nodes x workers per node) fall short of
  `parallelism` x outstanding tasks, up to `max_blocks`; with no task for `max_idletime`, scale in to
  `min_blocks`.
- `htex_auto_scale`: as `simple`, and also scale in idle blocks while slots exceed the work.
- `none`: only the `init_blocks` started with the executor.

Scaling in takes only blocks that run no task.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence

from parlay.executors.blocks import BlockProviderExecutor

logger = logging.getLogger(__name__)


class Strategy:
    def __init__(self, executors: Sequence[BlockProviderExecutor], strategy: str, period: float, max_idletime: float):
        self.executors = list(executors)
        self.strategy = strategy
        self.period = period
        self.max_idletime = max_idletime
        self._last_status: dict[str, float] = {}
        self._idle_since: dict[str, float] = {}
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
                except Exception:
                    logger.exception("scaling executor %s failed; trying again next period", executor.label)

    def poll(self, executor: BlockProviderExecutor, now: float) -> None:
        """One round for one executor: status, ended blocks, then scaling."""
        label = executor.label
        if now - self._last_status.get(label, -math.inf) >= executor.provider.status_polling_interval:
            self._last_status[label] = now
            executor.handle_block_statuses(executor.status())
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
            if more > 0:
                logger.info("executor %s: %d tasks, %d slots: starting %d block(s)", executor.label, tasks, slots, more)
                executor.scale_out(more)
        elif self.strategy == "htex_auto_scale" and slots > wanted:
            excess = math.floor((slots - wanted) / per_block)
            if excess > 0 and blocks - excess >= provider.min_blocks:
                self._scale_in(executor, excess)

    def _scale_in(self, executor: BlockProviderExecutor, count: int) -> None:
        idle = executor.idle_blocks()[:count]
        if idle:
            logger.info("executor %s: scaling in idle block(s) %s", executor.label, idle)
            executor.scale_in(len(idle), block_ids=idle)
