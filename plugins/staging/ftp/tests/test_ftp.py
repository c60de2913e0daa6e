"""FTP staging against a real server on 127.0.0.1: the conformance suites (the password user both ways,
anonymous in), then logins, failures, folders, atomic uploads and versions through the kernel's `fetch` and
`send`, as transfer tasks run them."""

from __future__ import annotations

import importlib.metadata
import os
import pickle

import pytest

from parlay import File
from parlay.errors import ConfigurationError, StagingError, url_for_messages
from parlay.staging.transfer import fetch, send
from parlay.testing import StageInConformance, StagingConformance
from parlay_staging_ftp import FTPInTaskStaging, FTPSeparateTaskStaging


@pytest.fixture(scope="module")
def staging_server(ftp_site):
    return ftp_site


def make(mode: str, **options):
    return (FTPSeparateTaskStaging if mode == "separate" else FTPInTaskStaging)(timeout=30, **options)


class TestFTPStaging(StagingConformance):
    """The password user, with credentials in the URLs."""

    modes = ("separate", "in_task")

    def make_staging(self, mode):
        return make(mode)

    def put(self, name, data):
        self.server.write(f"conformance/{name}", data)
        return self.server.url(f"conformance/{name}")

    def get(self, url):
        return self.server.read(File(url).path.lstrip("/"))

    def target(self, name):
        return self.server.url(f"conformance/out/{name}")

    def missing(self):
        return self.server.url("conformance/not-there.txt")


class TestAnonymousFTP(StageInConformance):
    """Anonymous logins, in the read-only area."""

    modes = ("separate", "in_task")

    def make_staging(self, mode):
        return make(mode)

    def put(self, name, data):
        self.server.write(f"public/{name}", data)
        return self.server.url(name, user=None)

    def missing(self):
        return self.server.url("not-there.txt", user=None)


def download(staging, url: str, folder) -> bytes:
    fetch(staging, File(url), str(folder / "got"))
    return (folder / "got").read_bytes()


def failure(staging, url: str, folder) -> str:
    """The message of fetching `url`, which must fail naming the URL and leave nothing behind."""
    with pytest.raises(StagingError) as info:
        download(staging, url, folder)
    assert url_for_messages(url) in str(info.value)  # a password in it hidden
    assert os.listdir(folder) == []
    return str(info.value)


def upload(staging, data: bytes, url: str, folder) -> None:
    file = File(url)
    file.local_path = str(folder / "to-send")
    with open(file.local_path, "wb") as stream:
        stream.write(data)
    send(staging, file)


# --- logins -----------------------------------------------------------------------------------------


def test_anonymous_sees_the_public_area(ftp_site, tmp_path):
    ftp_site.write("public/open.txt", b"for all\n")
    assert download(make("separate"), ftp_site.url("open.txt", user=None), tmp_path) == b"for all\n"


def test_anonymous_cannot_write(ftp_site, tmp_path):
    url = ftp_site.url("sneaky.txt", user=None)
    with pytest.raises(StagingError, match=r"STOR \.sneaky\.txt\.\w+\.part: 550 Not enough privileges") as info:
        upload(make("separate"), b"x", url, tmp_path)
    assert url in str(info.value)
    assert os.listdir(os.path.join(ftp_site.root, "public")).count("sneaky.txt") == 0


def test_wrong_password(ftp_site, tmp_path):
    ftp_site.write("private.txt", b"secret\n")
    url = ftp_site.url("private.txt", password="wrong")
    message = failure(make("separate"), url, tmp_path)
    assert f"logging in to 127.0.0.1:{ftp_site.port} as writer: 530 Authentication failed." in message


def test_a_user_without_a_password(ftp_site, tmp_path):
    message = failure(make("separate"), ftp_site.url("private.txt", password=None), tmp_path)
    assert ": 530 " in message


def test_credentials_from_a_netrc_file(ftp_site, tmp_path):
    ftp_site.write("by-netrc.txt", b"found with netrc\n")
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login writer password {ftp_site.password}\n")
    (tmp_path / "out").mkdir()
    url = ftp_site.url("by-netrc.txt", user=None)
    staging = make("separate", netrc_file=str(netrc))
    assert download(staging, url, tmp_path / "out") == b"found with netrc\n"
    assert make("in_task", netrc_file=str(netrc)).version(File(url)).startswith("size 17 ")


def test_credentials_from_the_default_netrc(ftp_site, tmp_path, monkeypatch):
    ftp_site.write("by-home-netrc.txt", b"home\n")
    (tmp_path / "home").mkdir()
    (tmp_path / "out").mkdir()
    netrc = tmp_path / "home" / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login writer password {ftp_site.password}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert download(make("separate"), ftp_site.url("by-home-netrc.txt", user=None), tmp_path / "out") == b"home\n"


def test_a_missing_netrc_file(ftp_site, tmp_path):
    staging = make("separate", netrc_file=str(tmp_path / "absent"))
    assert "netrc_file=" in failure(staging, ftp_site.url("open.txt", user=None), tmp_path)


# --- failures ---------------------------------------------------------------------------------------


def test_missing_file(ftp_site, tmp_path):
    message = failure(make("separate"), ftp_site.url("no/such/file.txt"), tmp_path)
    assert "RETR no/such/file.txt: 550 No such file or directory." in message


def test_nobody_listening(tmp_path):
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = failure(make("separate"), f"ftp://127.0.0.1:{port}/x.txt", tmp_path)
    assert f"connecting to 127.0.0.1:{port}: Connection refused" in message


def test_a_silent_server_times_out(silent_port, tmp_path):
    staging = FTPSeparateTaskStaging(timeout=0.5)
    message = failure(staging, f"ftp://127.0.0.1:{silent_port}/x.txt", tmp_path)
    assert "timed out after 0.5 s" in message


def test_a_url_naming_a_folder(ftp_site, tmp_path):
    assert "names a folder, not a file" in failure(make("separate"), ftp_site.url("public/"), tmp_path)


# --- transfers --------------------------------------------------------------------------------------


def test_active_mode(ftp_site, tmp_path):
    ftp_site.write("active.txt", b"the server connected to us\n")
    staging = make("separate", passive=False)
    assert download(staging, ftp_site.url("active.txt"), tmp_path) == b"the server connected to us\n"


def test_an_upload_lands_under_a_temporary_name_then_is_renamed(ftp_site, tmp_path):
    ftp_site.received.clear()
    upload(make("in_task"), b"whole\n", ftp_site.url("atomic/result.txt"), tmp_path)
    assert ftp_site.read("atomic/result.txt") == b"whole\n"
    (stored,) = ftp_site.received
    assert stored.startswith(os.path.join("atomic", ".result.txt.")) and stored.endswith(".part")
    assert os.listdir(os.path.join(ftp_site.root, "atomic")) == ["result.txt"]


def test_an_upload_replaces_a_file(ftp_site, tmp_path):
    ftp_site.write("replaced.txt", b"old\n")
    upload(make("separate"), b"new\n", ftp_site.url("replaced.txt"), tmp_path)
    assert ftp_site.read("replaced.txt") == b"new\n"


def test_an_upload_makes_missing_folders(ftp_site, tmp_path):
    upload(make("separate"), b"deep\n", ftp_site.url("made/one/two/deep.txt"), tmp_path)
    assert ftp_site.read("made/one/two/deep.txt") == b"deep\n"


def test_an_absolute_path(ftp_site, tmp_path):
    """`ftp://host//dir/file` is `/dir/file` from the server's root; `ftp://host/dir/file` is `dir/file` from
    the login folder (for pyftpdlib's users, the same place)."""
    ftp_site.write("public/abs.txt", b"absolute\n")
    assert download(make("separate"), ftp_site.url("/abs.txt", user=None), tmp_path) == b"absolute\n"


def test_percent_encoded_paths(ftp_site, tmp_path):
    ftp_site.write("with space/a b.txt", b"spaced\n")
    assert download(make("separate"), ftp_site.url("with%20space/a%20b.txt"), tmp_path) == b"spaced\n"


def test_version_is_size_and_date(ftp_site):
    staging = make("in_task")
    ftp_site.write("versioned.txt", b"one\n")
    first = staging.version(File(ftp_site.url("versioned.txt")))
    assert first.startswith("size 4 modified 2")
    ftp_site.write("versioned.txt", b"two, longer\n")
    assert staging.version(File(ftp_site.url("versioned.txt"))).startswith("size 12 modified 2")
    assert staging.version(File(ftp_site.url("nothing-here.txt"))) is None  # the download says why


def test_version_fails_when_the_login_does(ftp_site):
    with pytest.raises(ConnectionError, match="530 Authentication failed"):
        make("in_task").version(File(ftp_site.url("versioned.txt", password="wrong")))


# --- the objects ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        ({"timeout": 0}, "FTPSeparateTaskStaging.timeout=0: expected seconds > 0"),
        ({"timeout": None}, "FTPSeparateTaskStaging.timeout=None: expected seconds > 0"),
        ({"netrc_file": 7}, "FTPSeparateTaskStaging.netrc_file=7: expected the path of a netrc file"),
        ({"netrc_file": ""}, "FTPSeparateTaskStaging.netrc_file='': expected the path of a netrc file"),
        ({"passive": "no"}, "FTPSeparateTaskStaging.passive='no': expected True (passive mode) or False"),
    ],
)
def test_options_are_checked(options, message):
    with pytest.raises(ConfigurationError) as info:
        FTPSeparateTaskStaging(**options)
    assert message in str(info.value)


def test_repr_pickle_and_modes():
    staging = FTPInTaskStaging(timeout=5, netrc_file="/etc/netrc", passive=False)
    text = repr(staging)
    assert text == "FTPInTaskStaging(timeout=5, netrc_file='/etc/netrc', passive=False)"
    assert repr(pickle.loads(pickle.dumps(staging))) == text
    assert repr(FTPSeparateTaskStaging()) == "FTPSeparateTaskStaging(timeout=60, netrc_file=None, passive=True)"
    assert FTPInTaskStaging.in_task and not FTPSeparateTaskStaging.in_task
    assert FTPSeparateTaskStaging.by_default and not FTPInTaskStaging.by_default
    file = File("ftp://host/a.txt")
    assert staging.can_stage_in(file) and staging.can_stage_out(file)
    assert not staging.can_stage_in(File("http://host/a.txt"))


def test_entry_points():
    ours = ("ftp", "ftp-in-task")  # other installed plugins' entry points are not loaded
    found = {ep.name: ep.load() for ep in importlib.metadata.entry_points(group="parlay.staging") if ep.name in ours}
    assert found["ftp"] is FTPSeparateTaskStaging and found["ftp-in-task"] is FTPInTaskStaging
