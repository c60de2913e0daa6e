"""HTTP staging against a real server on 127.0.0.1: the conformance suite in both modes, then each failure,
redirects, credentials, limits and versions through the kernel's `fetch`, as a stage-in task runs it."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import pickle
import tracemalloc

import pytest

from parlay import File
from parlay.errors import ConfigurationError, StagingError, url_for_messages
from parlay.staging.transfer import fetch, fetch_through_cache
from parlay.testing import StageInConformance
from parlay_staging_http import HTTPInTaskStaging, HTTPSeparateTaskStaging


@pytest.fixture(scope="module")
def staging_server(http_site):
    return http_site


class TestHTTPStaging(StageInConformance):
    modes = ("separate", "in_task")

    def make_staging(self, mode):
        return HTTPSeparateTaskStaging(timeout=30) if mode == "separate" else HTTPInTaskStaging(timeout=30)

    def put(self, name, data):
        return self.server.put(name, data)

    def missing(self):
        return self.server.url("conformance/not-there.txt")


def download(url: str, folder, staging=None) -> bytes:
    """`url` fetched as a stage-in task does, into `folder`; its bytes."""
    path = folder / "downloaded"
    fetch(staging or HTTPSeparateTaskStaging(timeout=30), File(url), str(path))
    return path.read_bytes()


def failure(url: str, folder, staging=None) -> str:
    """The message of fetching `url`, which must fail naming the URL and leave nothing behind."""
    with pytest.raises(StagingError) as info:
        download(url, folder, staging)
    message = str(info.value)
    assert url_for_messages(url) in message  # a password in it hidden
    assert os.listdir(folder) == []
    return message


# --- downloads --------------------------------------------------------------------------------------


def test_a_file(http_site, tmp_path):
    assert download(http_site.put("plain.txt", b"plain\n"), tmp_path) == b"plain\n"


def test_a_large_file_is_streamed(http_site, site_root, tmp_path):
    """30 MB arrive intact, and never more than a few chunks of them are in memory at once."""
    expected = open(os.path.join(site_root, "large.sha256")).read()
    tracemalloc.start()
    try:
        fetch(HTTPSeparateTaskStaging(timeout=30), File(http_site.url("large.bin")), str(tmp_path / "large.bin"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    digest = hashlib.sha256()
    with open(tmp_path / "large.bin", "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    assert digest.hexdigest() == expected
    assert peak < 8 * 1024 * 1024


def test_a_redirect_is_followed(http_site, tmp_path):
    http_site.put("moved.txt", b"moved here\n")
    assert download(http_site.url("redirect/moved.txt"), tmp_path) == b"moved here\n"


def test_a_body_without_length(http_site, tmp_path):
    assert download(http_site.url("stream/5000"), tmp_path) == b"s" * 5000


# --- failures ---------------------------------------------------------------------------------------


def test_not_found(http_site, tmp_path):
    assert "HTTP 404 Not Found" in failure(http_site.url("nothing/here.txt"), tmp_path)


def test_forbidden(http_site, tmp_path):
    assert "HTTP 403 Forbidden" in failure(http_site.url("forbidden/secret.txt"), tmp_path)


def test_a_redirect_to_nothing_says_where_it_led(http_site, tmp_path):
    message = failure(http_site.url("redirect/gone.txt"), tmp_path)
    assert f"HTTP 404 Not Found (at {http_site.url('gone.txt')}" in message


def test_a_redirect_loop(http_site, tmp_path):
    assert "HTTP 302" in failure(http_site.url("loop/x.txt"), tmp_path)


def test_a_redirect_away_from_http(http_site, tmp_path):
    assert "not http(s)" in failure(http_site.url("redirect-ftp/x.txt"), tmp_path)


def test_no_answer_times_out(http_site, tmp_path):
    message = failure(http_site.url("slow/x.txt"), tmp_path, HTTPSeparateTaskStaging(timeout=0.5))
    assert "timed out after 0.5 s" in message


def test_a_stalled_body_times_out(http_site, tmp_path):
    message = failure(http_site.url("stall/x.txt"), tmp_path, HTTPSeparateTaskStaging(timeout=0.5))
    assert "timed out after 0.5 s" in message


def test_a_body_cut_short(http_site, tmp_path):
    assert "the connection closed after 10 of 100 bytes" in failure(http_site.url("short/x.txt"), tmp_path)


def test_nobody_listening(tmp_path):
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert "cannot connect: Connection refused" in failure(f"http://127.0.0.1:{port}/x.txt", tmp_path)


def test_max_size_by_content_length(http_site, tmp_path):
    url = http_site.put("hundred.txt", b"h" * 100)
    message = failure(url, tmp_path, HTTPSeparateTaskStaging(max_size=99))
    assert "100 bytes (Content-Length), larger than max_size=99" in message
    assert download(url, tmp_path, HTTPSeparateTaskStaging(max_size=100)) == b"h" * 100


def test_max_size_while_streaming(http_site, tmp_path):
    message = failure(http_site.url("stream/3000000"), tmp_path, HTTPSeparateTaskStaging(max_size=2_000_000))
    assert "larger than max_size=2000000 bytes" in message


# --- credentials ------------------------------------------------------------------------------------


def test_headers_carry_a_token(http_site, tmp_path):
    http_site.put("token.txt", b"for token holders\n")
    url = http_site.url("private/token.txt")
    assert "HTTP 401 Unauthorized" in failure(url, tmp_path)
    staging = HTTPSeparateTaskStaging(headers={"Authorization": "Bearer sesame"})
    assert download(url, tmp_path, staging) == b"for token holders\n"


def test_credentials_in_the_url(http_site, tmp_path):
    http_site.put("basic.txt", b"for alice\n")
    url = http_site.url("private/basic.txt").replace("://", "://alice:p%40ss%3Aword@")
    (tmp_path / "right").mkdir()
    (tmp_path / "wrong").mkdir()
    assert download(url, tmp_path / "right") == b"for alice\n"
    assert "HTTP 401" in failure(url.replace("word@", "wrong@"), tmp_path / "wrong")


def test_headers_stay_with_their_origin(http_site, tmp_path):
    staging = HTTPSeparateTaskStaging(headers={"Authorization": "Bearer sesame", "X-Token": "t"})
    same = json.loads(download(http_site.url("redirect/echo/"), tmp_path, staging))
    assert same["Authorization"] == "Bearer sesame" and same["X-Token"] == "t"
    away = json.loads(download(http_site.url("redirect-away/echo/"), tmp_path, staging))
    assert "Authorization" not in away and "X-Token" not in away
    assert away["Host"].startswith("localhost:") and away["User-Agent"].startswith("parlay-staging-http")


# --- versions ---------------------------------------------------------------------------------------


def test_version_is_the_etag(http_site):
    staging = HTTPInTaskStaging()
    url = http_site.put("versioned.txt", b"one\n")
    first = staging.version(File(url))
    assert first.startswith('etag "')
    assert staging.version(File(url)) == first
    http_site.put("versioned.txt", b"two, longer\n")
    assert staging.version(File(url)) not in (first, None)


def test_version_without_etag_is_size_and_date(http_site):
    http_site.put("undated.txt", b"12345")
    version = HTTPInTaskStaging().version(File(http_site.url("plain/undated.txt")))
    assert version.startswith("size 5 modified ") and "GMT" in version


def test_version_unknown(http_site):
    staging = HTTPInTaskStaging()
    assert staging.version(File(http_site.url("stream/10"))) is None
    assert staging.version(File(http_site.url("no-head/large.sha256"))) is None  # HEAD refused
    assert staging.version(File(http_site.url("missing.txt"))) is None  # the download says why


def test_version_follows_redirects_with_head(http_site):
    http_site.put("headed.txt", b"x")
    http_site.requests.clear()
    assert HTTPInTaskStaging().version(File(http_site.url("redirect/headed.txt"))).startswith("etag")
    assert http_site.requests == [("HEAD", "/redirect/headed.txt"), ("HEAD", "/headed.txt")]


def test_version_of_an_unreachable_server_fails(http_site):
    with pytest.raises(ConnectionError, match=r"timed out after 0\.5 s"):
        HTTPInTaskStaging(timeout=0.5).version(File(http_site.url("slow/v.txt")))


def test_the_node_cache_fetches_again_only_a_changed_file(http_site, tmp_path):
    url = http_site.put("cached.txt", b"first\n")
    staging, cache = HTTPInTaskStaging(), str(tmp_path / "cache")

    def fetch_once(n):
        file = File(url)
        file.local_path = str(tmp_path / f"task{n}" / "cached.txt")
        fetch_through_cache(staging, file, cache)
        return open(file.local_path, "rb").read()

    http_site.requests.clear()
    assert fetch_once(1) == fetch_once(2) == b"first\n"
    http_site.put("cached.txt", b"second, longer\n")
    assert fetch_once(3) == b"second, longer\n"
    assert [method for method, path in http_site.requests if path == "/cached.txt"].count("GET") == 2


# --- the objects ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        ({"timeout": -1}, "HTTPSeparateTaskStaging.timeout=-1: expected seconds > 0"),
        ({"timeout": "60"}, "HTTPSeparateTaskStaging.timeout='60': expected seconds > 0"),
        ({"timeout": True}, "HTTPSeparateTaskStaging.timeout=True: expected seconds > 0"),
        ({"verify": "yes"}, "HTTPSeparateTaskStaging.verify='yes': expected True or False"),
        ({"ca_bundle": 3}, "HTTPSeparateTaskStaging.ca_bundle=3: expected the path of a PEM file"),
        ({"ca_bundle": "ca.pem", "verify": False}, "ca_bundle='ca.pem': not used with verify=False"),
        ({"max_size": 0}, "HTTPSeparateTaskStaging.max_size=0: expected a number of bytes > 0, or None"),
        ({"max_size": 1.5}, "HTTPSeparateTaskStaging.max_size=1.5: expected a number of bytes > 0"),
        ({"headers": [("A", "b")]}, "HTTPSeparateTaskStaging.headers: expected a mapping of header names"),
        ({"headers": {"X-A": "b\r\nEvil: 1"}}, "HTTPSeparateTaskStaging.headers['X-A']: expected a mapping"),
    ],
)
def test_options_are_checked(options, message):
    with pytest.raises(ConfigurationError) as info:
        HTTPSeparateTaskStaging(**options)
    assert message in str(info.value)


def test_repr_pickle_and_modes():
    staging = HTTPInTaskStaging(timeout=5, max_size=10, headers={"Authorization": "Bearer secret"})
    text = repr(staging)
    assert text == (
        "HTTPInTaskStaging(timeout=5, ca_bundle=None, verify=True, max_size=10, headers={'Authorization': '...'})"
    )
    assert "secret" not in text
    copy = pickle.loads(pickle.dumps(staging))
    assert type(copy) is HTTPInTaskStaging and copy.headers == staging.headers and repr(copy) == text
    assert HTTPInTaskStaging.in_task and not HTTPSeparateTaskStaging.in_task
    assert HTTPSeparateTaskStaging.by_default and not HTTPInTaskStaging.by_default
    assert repr(HTTPSeparateTaskStaging()).startswith("HTTPSeparateTaskStaging(timeout=60, ca_bundle=None")


def test_stage_in_only():
    staging = HTTPSeparateTaskStaging()
    for url in ("http://host/a.txt", "https://host/a.txt"):
        assert staging.can_stage_in(File(url)) and not staging.can_stage_out(File(url))
    assert not staging.can_stage_in(File("ftp://host/a.txt"))


def test_entry_points():
    ours = ("http", "http-in-task")  # other installed plugins' entry points are not loaded
    found = {ep.name: ep.load() for ep in importlib.metadata.entry_points(group="parlay.staging") if ep.name in ours}
    assert found["http"] is HTTPSeparateTaskStaging and found["http-in-task"] is HTTPInTaskStaging
