"""The monitoring database's one writer: a background thread that takes the hub's events from a bounded
queue, turns them into rows (`rows.Batch`) and writes them in batches, about once a second.

Statements are SQLAlchemy Core constructs (plain inserts; each dialect's `insert(...).on_conflict_do_update`
for the task and try rows, which later events complete: a column a flush leaves None keeps what is there),
compiled once per table, with values already in the driver's form: SQLAlchemy's per-row parameter processing
would cost more than the database itself. PostgreSQL gets one executemany per table and flush. SQLite gets
statements of many rows each (`INSERT ... VALUES (...), (...), ...`): Python's sqlite3 lets go of the
interpreter for every statement it steps, and an executemany that waited to get it back after each row, while
the run's threads keep it busy, would write a few hundred rows a second. SQLite runs in WAL mode with
`synchronous=NORMAL`.

Monitoring never breaks or stalls a run. When the database cannot be opened or written (a folder it cannot
create, a full disk, a server that went away), the writer gives one `MonitoringWarning` and a log line saying
why, then drops every later event. A full queue holds the run back rather than lose events: a hook waits
while the writer is taking events from it; only a writer that takes none for `stall_seconds` has events
dropped, counted and said once.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import itertools
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, create_engine, event, func, insert, update
from sqlalchemy.engine import URL, Connection, Engine, make_url

from parlay_monitoring import schema
from parlay_monitoring.errors import MonitoringWarning
from parlay_monitoring.rows import COLUMNS, FIRST_WINS, TASK_COLUMNS, TRY_COLUMNS, Batch

logger = logging.getLogger("parlay.monitoring")

#: Rows (or events) the writer handles between two offers of the interpreter to the kernel's threads: the
#: kernel holds its lock while it calls the hooks, so a writer that kept the GIL for the interpreter's whole
#: switch interval (5 ms) would stall every thread of the run behind it.
SLICE = 100

#: Dialects whose upserts the writer knows.
DIALECTS = ("sqlite", "postgresql")


def resolve_url(url: str) -> URL:
    """`url` parsed, with `postgresql://` meaning psycopg (3) when psycopg2, SQLAlchemy's default, is missing.
    Raises ValueError saying what is wrong with it."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ValueError(f"not a database URL ({exc})") from None
    if parsed.get_backend_name() not in DIALECTS:
        raise ValueError(f"monitoring writes to {' or '.join(DIALECTS)} databases, not {parsed.get_backend_name()}")
    if parsed.drivername == "postgresql" and not _importable("psycopg2") and _importable("psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError as exc:
        raise ValueError(f"its driver is not installed ({exc})") from None
    return parsed


def shown(url: URL) -> str:
    """The URL without its password, for messages."""
    return url.render_as_string(hide_password=True)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


class Database:
    """A monitoring database: its engine, one connection, and executemany writes of prepared rows."""

    def __init__(self, url: URL, timeout: float = 30.0):
        self.url = url
        self.sqlite = url.get_backend_name() == "sqlite"
        options: dict[str, Any] = {}
        if self.sqlite:
            path = url.database
            if path and path != ":memory:" and not path.startswith("file:"):
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            options["connect_args"] = {"timeout": timeout}
        else:
            options["connect_args"] = {"connect_timeout": int(max(1, timeout))}
            options["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **options)
        if self.sqlite:
            event.listen(self.engine, "connect", _sqlite_setup)
        #: A time as this database's DateTime columns take it from the driver.
        self.when: Callable[[float], Any] = sqlite_clock() if self.sqlite else datetime.datetime.fromtimestamp
        self._statements: dict[tuple, tuple[str, tuple[str, ...] | None]] = {}
        self.connection: Connection = self.engine.connect()
        #: Rows per SQLite statement: as many as its limit on bound values allows, up to `ROWS_PER_STATEMENT`.
        self._values_limit = _variable_limit(self.connection) if self.sqlite else 0

    def create(self) -> None:
        """Create the tables, columns and indexes that are missing: a database of an older parlay, or Parsl's,
        gains parlay's newer columns. Tried twice, should another run race us to it."""
        for attempt in (1, 2):
            try:
                with self.connection.begin():
                    schema.metadata.create_all(self.connection)
                    self._add_missing()
                return
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(0.5)

    def _add_missing(self) -> None:
        from sqlalchemy import inspect

        connection, dialect = self.connection, self.engine.dialect
        inspector = inspect(connection)
        quote = dialect.identifier_preparer.quote
        for table in schema.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    kind = column.type.compile(dialect=dialect)
                    added = f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}"
                    connection.exec_driver_sql(added)
            indexes = {index["name"] for index in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in indexes:
                    index.create(connection)

    def insert_rows(self, table: Table, columns: Sequence[str], rows: Sequence[tuple], upsert: bool = False) -> None:
        """Write `rows` (tuples of `columns`' values, in driver form, in the table's column order) into `table`:
        new rows only, or (`upsert`) rows merged into those with the same primary key, where each value that is
        not None replaces the stored one (`rows.FIRST_WINS`: fills it only if it is empty)."""
        if not rows:
            return
        columns = tuple(columns)
        sql, names = self._statement(table, columns, upsert)
        if self.sqlite:
            per = max(1, min(ROWS_PER_STATEMENT, self._values_limit // len(columns)))
            head, values, tail = _values_split(sql)
            for start in range(0, len(rows), per):
                chunk = rows[start : start + per]
                many = f"{head}{', '.join([values] * len(chunk))}{tail}"
                self.connection.exec_driver_sql(many, tuple(itertools.chain.from_iterable(chunk)))
                time.sleep(0)
            return
        for start in range(0, len(rows), 20 * SLICE):
            chunk = rows[start : start + 20 * SLICE]
            if names is not None and names != columns:  # a dialect that orders or names binds its own way
                position = {name: i for i, name in enumerate(columns)}
                chunk = [tuple(row[position[n]] for n in names) for row in chunk]
            elif names is None:
                chunk = [dict(zip(columns, row, strict=True)) for row in chunk]
            self.connection.exec_driver_sql(sql, chunk)  # type: ignore[arg-type]
            time.sleep(0)

    def _statement(self, table: Table, columns: tuple[str, ...], upsert: bool) -> tuple[str, tuple[str, ...] | None]:
        key = (table.name, columns, upsert)
        found = self._statements.get(key)
        if found is None:
            dialect = self.engine.dialect
            if self.sqlite:
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            else:
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            statement = dialect_insert(table)
            if upsert:
                keys = [c.name for c in table.primary_key.columns]
                stored, new, first_wins = table.c, statement.excluded, FIRST_WINS.get(table.name, ())
                merged = {
                    c: func.coalesce(stored[c], new[c]) if c in first_wins else func.coalesce(new[c], stored[c])
                    for c in columns
                    if c not in keys
                }
                statement = statement.on_conflict_do_update(index_elements=keys, set_=merged)
            else:  # a row seen twice (a status at the same instant) is kept once
                statement = statement.on_conflict_do_nothing()
            compiled = statement.compile(dialect=dialect, column_keys=list(columns))
            names = tuple(compiled.positiontup) if compiled.positional else None  # type: ignore[arg-type]
            found = self._statements[key] = (str(compiled), names)
        return found

    def write(self, batch: Batch, also: Any = None) -> None:
        """One transaction with every row of `batch` (and the statement `also`)."""
        with self.connection.begin():
            self.insert_rows(schema.task, TASK_COLUMNS, list(map(tuple, batch.tasks.values())), upsert=True)
            self.insert_rows(schema.try_, TRY_COLUMNS, list(map(tuple, batch.tries.values())), upsert=True)
            for name in ("status", "resource", "block", "node"):
                self.insert_rows(schema.metadata.tables[name], COLUMNS[name], getattr(batch, name))
            if also is not None:
                self.connection.execute(also)

    def execute(self, statement: Any) -> None:
        with self.connection.begin():
            self.connection.execute(statement)

    def close(self) -> None:
        try:
            self.connection.close()
        finally:
            self.engine.dispose()


#: At most this many rows in one SQLite statement (its text is built for each size of chunk).
ROWS_PER_STATEMENT = 1000


def _variable_limit(connection: Connection) -> int:
    """How many values one statement of this SQLite library may bind (999 in libraries older than 3.32)."""
    import sqlite3

    raw = connection.connection.driver_connection
    getlimit = getattr(raw, "getlimit", None)  # Python 3.11+
    if getlimit is not None:
        return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


def _values_split(sql: str) -> tuple[str, str, str]:
    """A one-row `INSERT ... VALUES (?, ...) ...` as the text before its values, the values, and the rest."""
    start = sql.index(" VALUES (") + len(" VALUES ")
    end = sql.index(")", start) + 1
    return sql[:start], sql[start:end], sql[end:]


def _sqlite_setup(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: the indexes of a long run stay in memory
    finally:
        cursor.close()


def sqlite_clock() -> Callable[[float], str]:
    """A time as SQLAlchemy stores SQLite DateTimes (`YYYY-MM-DD HH:MM:SS.ffffff`, local time), formatting each
    second once."""
    second, form = -1, ""

    def when(ts: float) -> str:
        nonlocal second, form
        whole = int(ts)
        if whole != second:
            second = whole
            form = datetime.datetime.fromtimestamp(whole).strftime("%Y-%m-%d %H:%M:%S.%%06d")
        return form % ((ts - whole) * 1e6)

    return when


class Writer:
    """The background thread and its bounded queue. The hub appends events to `queue` while `accepting`."""

    #: At most this many events wait; beyond it a hook waits for room (`make_room`).
    max_queued = 200_000
    #: A full queue whose writer takes nothing for this long (seconds) drops events instead.
    stall_seconds = 10.0
    #: A flush at least this often (seconds), or sooner once this many rows are waiting.
    flush_seconds = 1.0
    flush_rows = 50_000
    #: How long the end of a run waits for the last rows to be written.
    close_timeout = 60.0

    def __init__(self, url: URL, debug: bool = False):
        self.url = url
        self.debug = debug
        self.queue: collections.deque = collections.deque()
        self.accepting = True
        self.dropped = 0
        self._drop_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._workflow: dict[str, Any] = {}
        self._end: dict[str, Any] | None = None
        self._told_dropped = False
        self._failure: str | None = None
        self.written = 0
        self.taken = 0  # events taken from the queue so far
        self._stalled = False
        self._counts = [0, 0]  # tasks exec_done and failed so far

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def make_room(self) -> bool:
        """Wait while the queue is full and the writer is taking events from it, so that the run goes at the
        database's pace rather than lose events. False (drop the event) once the writer has stopped, or has
        taken none for `stall_seconds`; then False at once until it has emptied half the queue."""
        queue, limit = self.queue, self.max_queued
        taken, since = self.taken, time.monotonic()
        while len(queue) >= limit:
            if self._stalled or not self.accepting:
                return False
            if self.taken != taken:
                taken, since = self.taken, time.monotonic()
            elif time.monotonic() - since > self.stall_seconds:
                self._stalled = True
                return False
            self._wake.set()
            time.sleep(0.002)
        return True

    def drop(self) -> None:
        """Count an event the full queue could not take (the first is said at once)."""
        with self._drop_lock:
            self.dropped += 1
            first = not self._told_dropped
            self._told_dropped = True
        if first:
            self._say_dropping()

    def start(self, workflow: dict[str, Any], run_dir: str) -> None:
        """Open the database and start writing, beginning with the workflow row (`schema.workflow`'s
        columns, times as seconds since the epoch)."""
        self._workflow = workflow
        self._run_dir = run_dir
        self._thread = threading.Thread(target=self._run, name="parlay-monitoring-writer", daemon=True)
        self._thread.start()

    def finish(self, time_completed: float, task_counts: dict[str, int]) -> None:
        """Write what is queued and the run's end, then close; waits at most `close_timeout` seconds."""
        self._end = {"time_completed": time_completed, "task_counts": dict(task_counts)}
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is None:
            self.accepting = False
            return
        thread.join(self.close_timeout)
        if thread.is_alive():
            self._fail(TimeoutError(f"the last rows were not written within {self.close_timeout:g} s"))

    # --- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: a thread's own niceness; the run comes first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        database = None
        try:
            database = Database(self.url)
            database.create()
            self._insert_workflow(database)
            self._note(database)
            self._loop(database)
            if self._failure is None:
                self._finish_workflow(database)
        except Exception as exc:
            self._fail(exc)
        finally:
            self.accepting = False
            if database is not None:
                try:
                    database.close()
                except Exception:
                    logger.debug("closing the monitoring database failed", exc_info=True)
            self._report_drops()

    def _loop(self, database: Database) -> None:
        run_id = self._workflow["run_id"]
        batch = Batch(run_id, database.when)
        last = time.monotonic()
        queue = self.queue
        while True:
            stopping = self._stopping
            self._wake.wait(0.2)
            add, take = batch.add, queue.popleft
            while queue and self._failure is None and len(batch) < self.flush_rows:
                count = min(len(queue), SLICE)
                for _ in range(count):
                    add(take())
                self.taken += count
                time.sleep(0)  # the kernel's threads must not wait for the interpreter while we convert
            if self._stalled and len(queue) < self.max_queued // 2:
                self._stalled = False
            if self._failure is not None:
                return
            if len(batch) >= self.flush_rows or time.monotonic() - last >= self.flush_seconds or stopping:
                if len(batch):
                    self._flush(database, batch)
                    batch = Batch(run_id, database.when)
                last = time.monotonic()
            if stopping and not queue:
                return

    def _flush(self, database: Database, batch: Batch) -> None:
        started = time.perf_counter()
        self._counts[0] += batch.completed
        self._counts[1] += batch.failed
        counts = None
        if batch.completed or batch.failed:  # the workflow row's counts, kept current while the run goes on
            counts = update(schema.workflow).where(schema.workflow.c.run_id == self._workflow["run_id"])
            counts = counts.values(tasks_completed_count=self._counts[0], tasks_failed_count=self._counts[1])
        database.write(batch, counts)
        self.written += len(batch)
        if self.debug:
            logger.debug("monitoring wrote %d rows in %.3f s", len(batch), time.perf_counter() - started)

    def _insert_workflow(self, database: Database) -> None:
        row = dict(self._workflow)
        began = row["time_began_unix"] = row.pop("time_began")
        row["time_began"] = datetime.datetime.fromtimestamp(began)
        with database.connection.begin():
            database.connection.execute(insert(schema.workflow), row)

    def _finish_workflow(self, database: Database) -> None:
        end = self._end
        if end is None:
            return
        counts = end["task_counts"]
        database.execute(
            update(schema.workflow)
            .where(schema.workflow.c.run_id == self._workflow["run_id"])
            .values(
                time_completed=datetime.datetime.fromtimestamp(end["time_completed"]),
                time_completed_unix=end["time_completed"],
                tasks_completed_count=counts.get("exec_done", 0),
                tasks_failed_count=counts.get("failed", 0),
                task_counts=json.dumps(counts, sort_keys=True),
            )
        )

    def _note(self, database: Database) -> None:
        """`monitoring.json` in the run directory: where this run's rows are."""
        try:
            with open(os.path.join(self._run_dir, "monitoring.json"), "w") as stream:
                json.dump({"url": shown(self.url), "run_id": self._workflow["run_id"]}, stream)
        except OSError:
            logger.debug("could not write monitoring.json", exc_info=True)

    # --- failures ---------------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        """Stop monitoring the run: one warning, one log line, and every later event dropped."""
        self.accepting = False
        with self._drop_lock:
            if self._failure is not None:
                return
            self._failure = "failed"
        cause = getattr(exc, "orig", None) or exc
        text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        self._failure = f"{type(cause).__name__}: {text}" if text else type(cause).__name__
        self.queue.clear()
        message = (
            f"parlay monitoring stopped: cannot write to {shown(self.url)} ({self._failure}); "
            "the run goes on without monitoring"
        )
        logger.warning(message, exc_info=exc if self.debug else None)
        warnings.warn(message, MonitoringWarning, stacklevel=2)

    def _say_dropping(self) -> None:
        message = (
            f"parlay monitoring is dropping events: {self.max_queued:,} are waiting for the database "
            f"({shown(self.url)}), which has taken none for {self.stall_seconds:g} s; its records of this "
            "run will be incomplete"
        )
        logger.warning(message)
        warnings.warn(message, MonitoringWarning, stacklevel=3)

    def _report_drops(self) -> None:
        if self.dropped:
            logger.warning("parlay monitoring dropped %d events of this run", self.dropped)
