"""`parlay dashboard [DB_URL_OR_RUN_DIR] [--host 127.0.0.1] [--port 8080]`: serve the browser dashboard of a
monitoring database until Ctrl-C."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import urllib.parse
from typing import Any

DATABASE = "monitoring.db"


class DashboardError(Exception):
    """Why the dashboard cannot start (printed, exit status 1)."""


def add_dashboard_command(subparsers: Any) -> None:
    """Add `parlay dashboard` to the `parlay` command's subparsers."""
    parser = subparsers.add_parser(
        "dashboard",
        help="browse a monitoring database (runs, tasks, tries, blocks, resources) in a web browser",
        description="Serve the monitoring dashboard: the runs of a monitoring database, each run's tasks by "
        "state over time, tries per executor and block, apps, failures with their tracebacks and output files, "
        "blocks, nodes and resource use. Pages refresh while a run is going. Read-only.",
    )
    parser.add_argument(
        "database",
        nargs="?",
        metavar="DB_URL_OR_RUN_DIR",
        help="a database URL (sqlite:///path, postgresql://...), an SQLite file, or a run directory or "
        f"runinfo folder holding {DATABASE} (default: runinfo/{DATABASE} in the current folder)",
    )
    parser.add_argument(
        "--host",
        "--listen",
        "-l",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 lets anyone who can reach "
        "this machine read the database and the tasks' output files)",
    )
    parser.add_argument("--port", "-p", type=int, default=8080, help="port to listen on (default: 8080; 0: any free)")
    parser.add_argument(
        "--poll", type=float, default=5.0, metavar="SECONDS", help="how often pages of a live run refresh (default: 5)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log each request")
    parser.set_defaults(func=dashboard_command)


def dashboard_command(args: argparse.Namespace) -> int:
    try:
        return serve(args.database, host=args.host, port=args.port, poll=args.poll, verbose=args.verbose)
    except DashboardError as exc:
        print(f"parlay dashboard: {exc}", file=sys.stderr)
        return 1


def locate(target: str | None, cwd: str | None = None) -> tuple[str, str | None]:
    """The database URL for `target` (see `add_dashboard_command`), and the run directory when it named one."""
    cwd = cwd or os.getcwd()
    if target and "://" in target:
        return target, None
    if target is None:
        path, run_dir = os.path.join(cwd, "runinfo", DATABASE), None
        if not os.path.isfile(path):
            raise DashboardError(
                f"no {os.path.join('runinfo', DATABASE)} here ({cwd}): give a database or run directory"
            )
        return path, None
    target = os.path.abspath(os.path.join(cwd, target))
    if os.path.isfile(target):
        return target, None
    if os.path.isdir(target):
        for path, run_dir in (
            (os.path.join(target, DATABASE), None),
            (os.path.join(target, os.pardir, DATABASE), target),
            (os.path.join(target, "runinfo", DATABASE), None),
        ):
            if os.path.isfile(path):
                return os.path.normpath(path), run_dir
        raise DashboardError(f"no {DATABASE} in {target}, beside it, or in its runinfo folder")
    raise DashboardError(f"{target} does not exist")


def engine_for(location: str) -> Any:
    """A read-only engine on a database URL or SQLite file."""
    import sqlalchemy as sa
    from sqlalchemy.pool import QueuePool

    path = location
    if "://" in location:
        url = sa.engine.make_url(location)
        if not url.drivername.startswith("sqlite"):
            connect_args = {}
            if url.drivername.startswith("postgresql"):
                connect_args["options"] = "-c default_transaction_read_only=on"
            return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        if not url.database or url.database == ":memory:":
            raise DashboardError(f"{location}: expected an SQLite file")
        path = url.database
    if not os.path.isfile(path):
        raise DashboardError(f"no database file at {path}")
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"

    def connect() -> Any:
        import sqlite3

        connection = sqlite3.connect(uri, uri=True, timeout=20, check_same_thread=False)
        connection.execute("PRAGMA query_only=1")
        connection.execute("PRAGMA cache_size=-32768")
        connection.execute("PRAGMA mmap_size=1073741824")
        return connection

    return sa.create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_size=4, max_overflow=12)


def check(engine: Any) -> None:
    import sqlalchemy as sa

    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
    except sa.exc.SQLAlchemyError as exc:
        raise DashboardError(f"cannot read the database: {exc.__class__.__name__}: {exc.orig or exc}") from None
    missing = {"workflow", "task", "try", "status"} - tables
    if missing:
        raise DashboardError(f"not a monitoring database: no table {', '.join(sorted(missing))}")


def find_run(engine: Any, run_dir: str) -> str | None:
    """The id of the latest run recorded with run directory `run_dir`."""
    import sqlalchemy as sa

    from parlay_monitoring.schema import workflow

    target = os.path.realpath(run_dir)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(workflow.c.run_id, workflow.c.rundir, workflow.c.time_began_unix)).all()
    matches = [r for r in rows if r.rundir and os.path.realpath(r.rundir) == target]
    return max(matches, key=lambda r: r.time_began_unix or 0).run_id if matches else None


def serve(
    target: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    poll: float = 5.0,
    verbose: bool = False,
    ready: Any = None,
) -> int:
    """Serve the dashboard until interrupted (Ctrl-C or SIGTERM); `ready(server)` is called once it listens."""
    from parlay_monitoring.dashboard.queries import Queries
    from parlay_monitoring.dashboard.server import DashboardServer, _is_loopback

    location, run_dir = locate(target)
    engine = engine_for(location)
    check(engine)
    try:
        server = DashboardServer((host, port), Queries(engine), poll=poll, verbose=verbose)
    except OSError as exc:
        engine.dispose()
        if exc.errno == errno.EADDRINUSE:
            raise DashboardError(f"port {port} is in use on {host}: choose another with --port") from None
        raise DashboardError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    shown = location if "://" not in location else _hide_password(location)
    print(f"parlay dashboard: {server.url}  (database {shown}; Ctrl-C stops it)", flush=True)
    if run_dir is not None:
        run_id = find_run(engine, run_dir)
        if run_id is not None:
            print(f"this run: {server.url}workflows/{urllib.parse.quote(run_id)}", flush=True)
    if not _is_loopback(host):
        print(
            f"parlay dashboard: listening on {host}: anyone who can reach this port can read the database and "
            "the tasks' output files",
            file=sys.stderr,
            flush=True,
        )
    previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        if ready is not None:
            ready(server)
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        print("parlay dashboard: stopped", flush=True)
    finally:
        server.server_close()
        engine.dispose()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _hide_password(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url
