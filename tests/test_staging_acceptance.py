"""A workflow as a user writes it: inputs from real HTTP, FTP and S3 servers on loopback, bash and python
apps on htex, outputs to S3 and into a zip archive. The HTTP server is then killed mid-run: only the
tasks that read from it fail, naming the URL, and they succeed on retry once it is back."""

from __future__ import annotations

import functools
import http.server
import socket
import subprocess
import sys
import threading
import zipfile

import pytest

import parlay
from parlay import Config, File, bash_app, python_app
from parlay.errors import DependencyError, StagingError
from parlay.executors import HighThroughputExecutor
from parlay.staging import (
    FTPSeparateTaskStaging,
    HTTPSeparateTaskStaging,
    NoOpFileStaging,
    S3SeparateTaskStaging,
    ZipFileStaging,
)
from parlay.testing import TIMEOUT
from parlay.testing.providers import wait_for

BUCKET = "acceptance"
NAMES = [f"sample-{n}.txt" for n in range(6)]


class HTTPServer:
    """The standard library's file server on a fixed loopback port, stopped and started again at will."""

    def __init__(self, root: str):
        self.root = root
        self.port = 0
        self.server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> None:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=self.root)
        handler.log_message = lambda *args: None  # type: ignore[method-assign]
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)  # reuses the address
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def servers(tmp_path, monkeypatch):
    from moto.server import ThreadedMotoServer

    for folder in ("web", "ftp"):
        (tmp_path / folder).mkdir()
        for name in NAMES:
            (tmp_path / folder / name).write_text(f"{folder} says {name}\n")
    web = HTTPServer(str(tmp_path / "web"))
    web.start()

    # pyftpdlib's event loop is one per process, shared with the FTP plugin's own tests: a process of its own
    ftp_port = free_port()
    ftp = subprocess.Popen(
        [sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(ftp_port), "-d", str(tmp_path / "ftp")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: answers(ftp_port), "the FTP server to listen", interval=0.05)

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # moto's; fake keys for this test only
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    s3_url = "http://{}:{}".format(*s3.get_host_and_port())
    import boto3

    client = boto3.client("s3", endpoint_url=s3_url)
    client.create_bucket(Bucket=BUCKET)
    for name in NAMES:
        client.put_object(Bucket=BUCKET, Key=f"in/{name}", Body=f"s3 says {name}\n".encode())
    yield {"web": web, "ftp": f"ftp://127.0.0.1:{ftp_port}", "s3": s3_url, "client": client}
    ftp.kill()
    ftp.wait()
    s3.stop()
    if web.server is not None:
        web.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def config(tmp_path, servers, **options):
    storage = [
        HTTPSeparateTaskStaging(timeout=10),
        FTPSeparateTaskStaging(timeout=10),
        S3SeparateTaskStaging(endpoint_url=servers["s3"]),
        ZipFileStaging(),
        NoOpFileStaging(),
    ]
    htex = HighThroughputExecutor(label="htex", max_workers_per_node=2, storage_access=storage)
    htex.working_dir = str(tmp_path / "work")
    return Config(executors=[htex], run_dir=str(tmp_path / "runinfo"), **options)


@bash_app
def shout(inputs=(), outputs=()):
    return f"tr a-z A-Z < {inputs[0]} > {outputs[0]}"


@python_app
def count_words(inputs=(), outputs=()):
    text = open(inputs[0]).read()
    with open(outputs[0], "w") as stream:
        stream.write(f"{len(text.split())} words: {text}")


def test_inputs_from_three_servers_outputs_to_s3_and_a_zip(tmp_path, servers):
    archive = tmp_path / "results" / "words.zip"
    sources = {
        "web": [servers["web"].url(n) for n in NAMES],
        "ftp": [f"{servers['ftp']}/{n}" for n in NAMES],
        "s3": [f"s3://{BUCKET}/in/{n}" for n in NAMES],
    }
    with parlay.load(config(tmp_path, servers)):
        counted = []
        for origin, urls in sources.items():
            for name, url in zip(NAMES, urls, strict=True):
                loud = shout(inputs=[File(url)], outputs=[File(f"s3://{BUCKET}/loud/{origin}/{name}")])
                member = File(f"zip:{archive}/{origin}/{name}")
                counted.append(count_words(inputs=[loud.outputs[0]], outputs=[member]))
        for future in counted:
            future.outputs[0].result(TIMEOUT)
    client = servers["client"]
    for origin in sources:
        for name in NAMES:
            body = client.get_object(Bucket=BUCKET, Key=f"loud/{origin}/{name}")["Body"].read()
            assert body == f"{origin} says {name}\n".upper().encode()
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        assert len(zf.namelist()) == 18
        assert zf.read(f"ftp/{NAMES[0]}").decode() == f"3 words: FTP SAYS {NAMES[0].upper()}\n"


def test_a_server_that_dies_fails_only_its_tasks_which_succeed_on_retry_once_it_is_back(tmp_path, servers):
    web = servers["web"]
    back = threading.Event()
    failures = []

    def wait_for_the_server(exc, record):
        """Retry a failed download once the server is back (a site would back off and retry)."""
        failures.append(exc)
        back.wait(TIMEOUT)
        return 1

    read = python_app(lambda inputs=(): open(inputs[0]).read())
    with parlay.load(config(tmp_path, servers)):
        before = read(inputs=[File(web.url(NAMES[0]))])
        assert before.result(TIMEOUT) == f"web says {NAMES[0]}\n"
        web.stop()  # mid-run: the other servers keep serving
        lost = [read(inputs=[File(web.url(n))]) for n in NAMES[1:3]]
        others = [read(inputs=[File(f"{servers['ftp']}/{n}")]) for n in NAMES[1:3]]
        assert [f.result(TIMEOUT) for f in others] == [f"ftp says {n}\n" for n in NAMES[1:3]]
        for future, name in zip(lost, NAMES[1:3], strict=True):
            with pytest.raises(DependencyError) as info:
                future.result(TIMEOUT)
            assert web.url(name) in str(info.value)
            assert isinstance(info.value.__cause__, StagingError)

    with parlay.load(config(tmp_path / "again", servers, retries=2, retry_handler=wait_for_the_server)):
        retried = [read(inputs=[File(web.url(n))]) for n in NAMES[3:]]
        restart = lambda: (wait_for(lambda: failures, "a failed download"), web.start(), back.set())  # noqa: E731
        threading.Thread(target=restart).start()
        assert [f.result(TIMEOUT) for f in retried] == [f"web says {n}\n" for n in NAMES[3:]]
    assert failures and all(web.url("") in str(exc) for exc in failures)

