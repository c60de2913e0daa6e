"""The manager's decisions that need no processes: when it polls without sleeping, and its walltime."""

import time

from parlay_executor_htex.manager import SPIN_WITHIN, block_deadline, spin_deadline

SHORT, LONG = SPIN_WITHIN / 5, SPIN_WITHIN * 5
NOW = 1000.0


def test_waits_for_a_short_task_without_sleeping_only_while_a_cpu_is_free():
    assert spin_deadline(NOW, cpus=2, busy=1, task_time=SHORT, idle_since=0.0, turnaround=LONG) == NOW + 2 * SHORT
    assert spin_deadline(NOW, cpus=2, busy=2, task_time=SHORT, idle_since=0.0, turnaround=LONG) == 0.0
    assert spin_deadline(NOW, cpus=8, busy=1, task_time=LONG, idle_since=0.0, turnaround=SHORT) == 0.0


def test_waits_for_the_next_task_of_a_quick_succession_for_twice_its_usual_gap():
    since = NOW - SHORT / 2
    assert spin_deadline(NOW, cpus=2, busy=0, task_time=LONG, idle_since=since, turnaround=SHORT) == since + 2 * SHORT
    assert spin_deadline(NOW, cpus=2, busy=0, task_time=SHORT, idle_since=since, turnaround=LONG) == 0.0
    assert spin_deadline(NOW, cpus=2, busy=0, task_time=SHORT, idle_since=0.0, turnaround=SHORT) == 0.0  # no result yet


def test_never_spins_on_one_cpu():
    assert spin_deadline(NOW, cpus=1, busy=1, task_time=SHORT, idle_since=0.0, turnaround=SHORT) == 0.0
    assert spin_deadline(NOW, cpus=1, busy=0, task_time=SHORT, idle_since=NOW, turnaround=SHORT) == 0.0


def test_block_deadline_moves_to_the_monotonic_clock_and_ignores_garbage():
    now = time.monotonic()
    assert abs(block_deadline(str(time.time() + 600), now) - (now + 600)) < 5
    assert block_deadline(None, now) is None
    assert block_deadline("soon", now) is None
