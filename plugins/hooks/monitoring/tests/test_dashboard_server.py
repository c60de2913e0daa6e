"""The dashboard's server and command: tasks' files (only those recorded, capped), what it binds and accepts,
`parlay dashboard` as a real process (its URL, Ctrl-C), finding the database, reading it read-only."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text

from parlay_monitoring import testing as data  # generated runs, shared with the benchmark

TIMEOUT = 60


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A database of the realistic runs only, in runinfo/ of a folder."""
    folder = tmp_path_factory.mktemp("dashboard-small")
    path = folder / "runinfo" / "monitoring.db"
    path.parent.mkdir()
    engine = data.create_database(f"sqlite:///{path}")
    real = data.add_realistic_runs(engine, folder)
    engine.dispose()
    return path, real


@pytest.fixture(scope="module")
def site(small):
    with data.serving(small[0], file_cap=64 * 1024) as server:
        yield server.url.rstrip("/"), small[1]


# --- tasks' files ---------------------------------------------------------------------------------


def test_a_recorded_stderr_is_served_as_plain_text(site):
    url, real = site
    code, headers, body = data.fetch(f"{url}/files/{real.pipeline}/{real.failed_task}/stderr")
    assert code == 200 and body.decode() == real.stderr.read_text()
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in headers["Content-Security-Policy"]
    code, _, body = data.fetch(f"{url}/files/{real.pipeline}/{real.failed_task}/stdout")
    assert code == 200 and body.startswith(b"aligning sample_12")


def test_only_paths_recorded_for_that_task_are_served(site):
    url, real = site
    run = real.pipeline
    refused = [
        f"/files/{run}/13/stdout",  # recorded, but no such file
        f"/files/{run}/0/stdout",  # nothing recorded
        f"/files/{run}/{real.failed_task}/stdin",  # not an output stream
        f"/files/{run}/{real.failed_task}/..%2f..%2f..%2fetc%2fpasswd",
        f"/files/{run}/{real.failed_task}/stdout/../../../../etc/passwd",
        "/files/%2fetc%2fpasswd",
        f"/files/{run}/999/stdout",  # no such task
        f"/files/{real.live}/{real.failed_task}/stderr",  # another run's task of that id records none
        "/static/../../../etc/passwd",
        "/static/%2e%2e/cli.py",
    ]
    for path in refused:
        code, _, body = data.fetch(url + path)
        assert code == 404, path
        assert b"root:" not in body
    # a query cannot name a path either: the recorded one is served
    code, _, body = data.fetch(f"{url}/files/{run}/{real.failed_task}/stderr?path=/etc/passwd")
    assert code == 200 and b"Traceback" in body


def test_a_relative_path_is_found_where_the_run_started(site):
    url, real = site
    code, _, body = data.fetch(f"{url}/files/{real.pipeline}/{real.relative_stdout_task}/stdout")
    assert code == 200 and body == b"aligning sample_11\ndone\n"


def test_a_long_file_is_served_up_to_the_cap_from_its_end(site):
    url, real = site
    path = real.stderr.parent / "align_21.stdout"
    size = path.stat().st_size
    code, headers, body = data.fetch(f"{url}/files/{real.pipeline}/{real.big_stdout_task}/stdout")
    assert code == 200 and size > 2_000_000 and int(headers["X-File-Size"]) == size
    first, _, rest = body.partition(b"\n")
    assert first.startswith(b"[... the first ") and f"of {size:,} bytes".encode() in first
    assert 60 * 1024 < len(rest) <= 64 * 1024 and path.read_bytes().endswith(rest)
    code, _, body = data.fetch(f"{url}/files/{real.pipeline}/{real.big_stdout_task}/stdout?tail=1000")
    assert code == 200 and len(body.partition(b"\n")[2]) <= 1000


# --- what the server accepts ----------------------------------------------------------------------


def test_pages_are_served_with_a_strict_content_security_policy(site):
    url, real = site
    for path in (
        "/",
        f"/workflows/{real.pipeline}",
        f"/workflows/{real.pipeline}/tasks/3",
        f"/workflows/{real.pipeline}/blocks",
    ):
        code, headers, body = data.fetch(url + path)
        assert code == 200 and b'src="/static/app.js"' in body and b"{{poll}}" not in body
        assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    for name in ("app.js", "charts.js", "style.css", "favicon.svg"):
        assert data.fetch(f"{url}/static/{name}")[0] == 200


def test_a_foreign_host_name_is_refused(site):
    """A page of another site cannot reach the dashboard through a name of its own resolving to 127.0.0.1."""
    url, _ = site
    port = url.rsplit(":", 1)[1]
    code, _, body = data.fetch(f"{url}/api/workflows", headers={"Host": f"attacker.example:{port}"})
    assert code == 403 and b"not allowed" in body
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert data.fetch(f"{url}/api/workflows", headers={"Host": host})[0] == 200


def test_only_reading_is_possible(site, small):
    url, _ = site
    import urllib.request

    request = urllib.request.Request(f"{url}/api/workflows", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=TIMEOUT)
    assert caught.value.code == 501
    from parlay_monitoring.dashboard.cli import engine_for

    engine = engine_for(str(small[0]))
    try:
        with engine.connect() as connection, pytest.raises(Exception, match=r"readonly|read-only|query_only"):
            connection.execute(text("DELETE FROM task"))
    finally:
        engine.dispose()


def test_the_server_binds_loopback_by_default(small):
    from parlay_monitoring.dashboard import cli

    parser_defaults = _parse([])
    assert (parser_defaults.host, parser_defaults.port) == ("127.0.0.1", 8080)
    started = {}

    def ready(server):
        started["address"] = server.server_address
        threading.Thread(target=server.shutdown, daemon=True).start()

    assert cli.serve(str(small[0]), port=0, ready=ready) == 0
    assert started["address"][0] == "127.0.0.1"


def _parse(argv):
    import argparse

    from parlay_monitoring.dashboard.cli import add_dashboard_command

    parser = argparse.ArgumentParser()
    add_dashboard_command(parser.add_subparsers())
    return parser.parse_args(["dashboard", *argv])


# --- the command ----------------------------------------------------------------------------------


def parlay_command():
    return os.path.join(os.path.dirname(sys.executable), "parlay")


def test_parlay_dashboard_prints_its_url_and_stops_on_ctrl_c(small):
    path, real = small
    run_dir = path.parent / "003"
    run_dir.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [parlay_command(), "dashboard", str(run_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = queue.Queue()
    threading.Thread(target=lambda: [*map(lines.put, process.stdout), lines.put(None)], daemon=True).start()
    try:
        first = lines.get(timeout=TIMEOUT)
        match = re.match(r"parlay dashboard: (http://127\.0\.0\.1:\d+/) ", first)
        assert match, first
        url = match.group(1)
        assert f"database {path}" in first
        # the run directory named one run: its page is printed too
        assert lines.get(timeout=TIMEOUT).strip() == f"this run: {url}workflows/{real.pipeline}"
        assert data.get_json(url + "api/workflows")["total"] == 3
        process.send_signal(signal.SIGINT)
        assert process.wait(TIMEOUT) == 0, process.stderr.read()
        out, err = "".join(iter_lines(lines)), process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "stopped" in out and "Traceback" not in err


def iter_lines(lines):
    """What a process printed until it exited, from the queue its reader fills (None at the end)."""
    return iter(lambda: lines.get(timeout=TIMEOUT), None)


def test_parlay_dashboard_finds_runinfo_here_and_says_what_is_missing(small, tmp_path):
    from parlay_monitoring.dashboard import cli

    path, _ = small
    folder = path.parent.parent
    assert cli.locate(None, cwd=str(folder)) == (str(path), None)
    assert cli.locate("runinfo", cwd=str(folder)) == (str(path), None)
    assert cli.locate(str(path)) == (str(path), None)
    assert cli.locate("sqlite:///x.db") == ("sqlite:///x.db", None)
    with pytest.raises(cli.DashboardError, match=r"no runinfo/monitoring\.db here"):
        cli.locate(None, cwd=str(tmp_path))
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    result = subprocess.run(
        [parlay_command(), "dashboard", str(empty), "--port", "0"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 1 and "not a monitoring database" in result.stderr
    result = subprocess.run(
        [parlay_command(), "dashboard", str(tmp_path / "nothing")], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 1 and "does not exist" in result.stderr
