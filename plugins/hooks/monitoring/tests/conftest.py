"""Fixtures of the monitoring plugin's tests: a real PostgreSQL for the session (Debian's `postgresql`
package, which `python3 dev.py test` installs), and what the database tests share."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

START_TIMEOUT = 120  # seconds: initdb and a first start on a busy machine


class PostgresServer:
    """A PostgreSQL of our own: its data and socket in a temporary folder owned by `postgres` (PostgreSQL
    refuses to run as root), on a free port, trusting local connections."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
        if not found and not shutil.which("initdb"):
            pytest.fail("PostgreSQL is not installed: `python3 dev.py test` installs Debian's postgresql package")
        self.bin = os.path.dirname(found[-1] if found else shutil.which("initdb"))  # type: ignore[arg-type]
        self.folder = tempfile.mkdtemp(prefix="parlay-pg-")
        self.data = os.path.join(self.folder, "data")
        self.log = os.path.join(self.folder, "server.log")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()
        self._run("initdb", "-D", self.data, "--auth=trust", "--username=postgres", "--no-sync", "--no-locale",
                  "--encoding=UTF8")  # fmt: skip
        self._databases = itertools.count()
        self.start()

    def _run(self, program: str, *args: str) -> None:
        command = [*self.as_user, os.path.join(self.bin, program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT)
        if done.returncode:
            log = open(self.log).read()[-3000:] if os.path.exists(self.log) else ""
            pytest.fail(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{log}")

    def running(self) -> bool:
        status = subprocess.run([*self.as_user, os.path.join(self.bin, "pg_ctl"), "status", "-D", self.data],
                                capture_output=True, timeout=START_TIMEOUT)  # fmt: skip
        return status.returncode == 0

    def start(self) -> None:
        if self.running():
            return
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=50"
        )
        self._run("pg_ctl", "start", "-D", self.data, "-l", self.log, "-w", "-t", str(START_TIMEOUT), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", self.data, "-m", mode, "-w", "-t", str(START_TIMEOUT))

    def url(self, database: str = "postgres") -> str:
        """A URL as a user would write it (`postgresql://`; monitoring picks psycopg), through the socket."""
        return f"postgresql://postgres@/{database}?host={self.folder}&port={self.port}"

    def new_database(self) -> str:
        """A fresh, empty database: its URL."""
        import psycopg

        name = f"monitoring_{next(self._databases)}"
        with psycopg.connect(host=self.folder, port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:  # fmt: skip
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def close(self) -> None:
        with contextlib.suppress(BaseException):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def _version(path: str) -> float:
    try:
        return float(path.split(os.sep)[-3])
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session, stopped and removed at its end."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """The URL of a new, empty PostgreSQL database."""
    return postgres.new_database()


# --- what the database tests share ----------------------------------------------------------------


@pytest.fixture
def run_monitored(tmp_path: Any) -> Callable[..., Any]:
    """`run_monitored(kind, workflow, url=None, warnings_seen=None, **hub_options)`: run `workflow()` under
    a DataFlowKernel on one executor of `kind` (threads, processes, htex) with a MonitoringHub; return what
    `workflow` returned. Warnings of the run are appended to `warnings_seen` when given."""
    import parlay
    from parlay import Config
    from parlay.staging.files import NoOpFileStaging
    from parlay.testing.staging import make_executor
    from parlay_monitoring import MonitoringHub

    counter = itertools.count()

    def run(kind: str, workflow: Callable[[], Any], url: str | None = None, warnings_seen: list | None = None,
            retries: int = 1, **options: Any) -> Any:  # fmt: skip
        executor = make_executor(kind, kind, NoOpFileStaging())
        if kind == "htex":
            executor.provider.status_polling_interval = 0.2
        hub = MonitoringHub(logging_endpoint=url, **{"resource_monitoring_interval": 0.2, **options})
        config = Config(
            executors=[executor],
            run_dir=str(tmp_path / "runinfo"),
            monitoring=hub,
            retries=retries,
            strategy_period=0.2,
            app_cache=True,
        )
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with parlay.load(config):
                result = workflow()
        if warnings_seen is not None:
            warnings_seen.extend(seen)
        next(counter)
        return result

    return run


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    """Where `run_monitored` writes by default: runinfo/monitoring.db."""
    return f"sqlite:///{tmp_path / 'runinfo' / 'monitoring.db'}"
