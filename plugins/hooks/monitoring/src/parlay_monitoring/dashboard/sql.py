"""SQL building blocks of the dashboard's queries: time buckets, samples of a run's tasks, state counts over
time from state changes, percentiles.

A run of a million tasks has millions of rows; the dashboard answers from what indexes give at once (counts by
state, by app, by lane) and, for what would need a full scan (a task's state at every moment, run-time
percentiles, resource use), from a *sample*: every k-th task id (a run's ids are dense and increase with
submission time), each read through an index seek. Below the sample size the sample is the whole run and every
figure is exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, and_, case, cast, func, literal, or_, select, true
from sqlalchemy.sql import ColumnElement, FromClause

#: The states a task can be in, in the order charts stack them.
STATE_ORDER = (
    "pending",
    "launched",
    "running",
    "running_ended",
    "joining",
    "fail_retryable",
    "exec_done",
    "memo_done",
    "failed",
    "dep_fail",
    "cancelled",
)
FINAL = frozenset({"exec_done", "memo_done", "failed", "dep_fail", "cancelled"})
DONE = frozenset({"exec_done", "memo_done"})
FAILED = frozenset({"failed", "dep_fail"})


def unindexed(expr: ColumnElement) -> ColumnElement:
    """`expr` wrapped so that no index on it is used: steers SQLite's planner (which has no statistics) to the
    index a query should read, such as a primary key's range of task ids rather than every row of a run."""
    return func.coalesce(expr, "")


def bucket(expr: ColumnElement, start: float, step: float, dialect: str) -> ColumnElement:
    """The index of the time bucket of `expr` (seconds since the epoch): `floor((expr - start) / step)`.
    Values before `start` may give 0 or -1; callers clamp."""
    scaled = (expr - start) / step
    if dialect == "sqlite":
        return cast(scaled, Integer)  # truncates toward zero; floor() needs SQLite's optional math functions
    return func.floor(scaled)


def clamp(index: Any, buckets: int) -> int:
    return min(max(int(index or 0), 0), buckets - 1)


@dataclass(frozen=True)
class Sample:
    """Which tasks of a run a query reads: every `stride`-th task id from `first` (every task when 1)."""

    tasks: int  # how many tasks the run has
    first: int = 0
    stride: int = 1

    @property
    def exact(self) -> bool:
        return self.stride == 1

    @property
    def last(self) -> int:
        return self.first + self.tasks - 1

    @property
    def size(self) -> int:
        """How many tasks the sample holds."""
        return -(-self.tasks // self.stride)

    def describe(self) -> dict[str, Any]:
        return {"exact": self.exact, "tasks": self.size, "of": self.tasks}


def plan_sample(first_id: int, tasks: int, size: int) -> Sample:
    """About `size` of a run's `tasks` tasks (ids `first_id`, `first_id + 1`, ...): one task in each stretch of k
    consecutive ids, at a pseudo-random place in it. The sample spreads evenly over the run's time (ids increase
    with submission), does not alias with tasks submitted in a repeating pattern (a, b, a, b, ...), is the same
    at each call, and each of its tasks is read through an index seek."""
    return Sample(tasks, first_id, 1 if tasks <= size else math.ceil(tasks / size))


def sample_ids(sample: Sample) -> Any:
    """The sampled task ids: a recursive CTE of (k, seed, id), the seed a linear congruential generator."""
    big = lambda value: literal(value, BigInteger)  # noqa: E731
    first = select(big(0).label("k"), big(12345).label("seed")).cte("strata", recursive=True)
    strata = first.union_all(
        select(
            (first.c.k + big(1)).label("k"), ((first.c.seed * big(69069) + big(1)) % big(1 << 32)).label("seed")
        ).where(first.c.k + big(1) < big(sample.size))
    )
    chosen = big(sample.first) + strata.c.k * big(sample.stride) + (strata.c.seed // big(1 << 16)) % big(sample.stride)
    return select(chosen.label("id")).where(chosen <= big(sample.last)).cte("ids")


def sampled(table: Any, sample: Sample, run_id: str, *, by_key: bool = True) -> tuple[FromClause, Any]:
    """The FROM clause and WHERE condition that select `sample`'s rows of `table` for `run_id`: each task read
    through the index that starts with `task_id` (the primary key, when `by_key`), else through one that starts
    with `run_id, task_id`."""
    if sample.exact:
        return table, table.c.run_id == run_id
    ids = sample_ids(sample)
    run = table.c.run_id
    join = ids.join(table, and_(table.c.task_id == ids.c.id, (unindexed(run) if by_key else run) == run_id))
    return join, true()


def state_rank(state: ColumnElement) -> ColumnElement:
    """Orders changes with equal timestamps: a task's final state last (also when a worker's clock ran ahead)."""
    whens = {name: i for i, name in enumerate(STATE_ORDER)}
    return case(whens, value=state, else_=len(STATE_ORDER) // 2)


def is_final(state: ColumnElement) -> ColumnElement:
    return case((state.in_(sorted(FINAL)), 1), else_=0)


def counts_over_time(rows: Iterable[Sequence[Any]], buckets: int) -> dict[str, list[float]]:
    """How many items are in each state at the end of each bucket, from `(bucket, previous_state, state, n)`
    rows: n items entered `state` (and left `previous_state`, unless None) within `bucket`."""
    deltas: dict[str, list[float]] = {}
    for index, previous, state, n in rows:
        b = clamp(index, buckets)
        deltas.setdefault(state, [0.0] * buckets)[b] += n
        if previous is not None:
            deltas.setdefault(previous, [0.0] * buckets)[b] -= n
    series = {}
    for state, delta in deltas.items():
        running, values_ = 0.0, []
        for d in delta:
            running += d
            values_.append(running)
        series[state] = values_
    return series


def ordered_states(names: Iterable[str]) -> list[str]:
    known = [s for s in STATE_ORDER if s in names]
    return known + sorted(set(names) - set(known))


def percentile_positions(n: int, p: float) -> tuple[int, float]:
    """The 1-based rank of the value at or below the `p` quantile of `n` sorted values, and the fraction towards
    the next one (linear interpolation, as PostgreSQL's percentile_cont)."""
    h = p * (n - 1)
    low = math.floor(h)
    return low + 1, h - low


def interpolate(sorted_values: dict[int, float], n: int, p: float) -> float | None:
    """The `p` quantile from the values at ranks 1..n that `sorted_values` holds (at least those it needs)."""
    if n <= 0:
        return None
    rank, fraction = percentile_positions(n, p)
    low = sorted_values.get(rank)
    if low is None:
        return None
    high = sorted_values.get(rank + 1, low)
    return low + fraction * (high - low)


def rank_condition(rank: ColumnElement, n: ColumnElement, quantiles: Sequence[float]) -> ColumnElement:
    """True for the rows a quantile of `quantiles` needs: ranks floor(p*(n-1))+1 and +2 (SQLite's CAST truncates,
    as floor does for these non-negative values)."""
    terms = [rank == 1]
    for p in quantiles:
        low = cast(p * (n - 1), Integer) + 1
        terms.extend((rank == low, rank == low + 1))
    return or_(*terms)
