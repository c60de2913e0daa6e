"""RSyncStaging's own behaviour with the real rsync: errors that quote it, no partial files, timeouts, the
remote shell and daemon forms of `hostname`, changed files fetched again, and its options."""

from __future__ import annotations

import os

import pytest

import parlay
from parlay import Config, File
from parlay.errors import ConfigurationError, StagingError
from parlay.executors.threads import ThreadPoolExecutor
from parlay.staging.files import NoOpFileStaging
from parlay.staging.transfer import fetch, send
from parlay.testing import TIMEOUT, process_alive, workflow_apps
from parlay_staging_rsync import RsyncError, RSyncStaging

read_text = parlay.python_app(workflow_apps.read_text)
write_text = parlay.python_app(workflow_apps.write_text)


def run_with(tmp_path, staging):
    threads = ThreadPoolExecutor(label="rsync", max_threads=2, storage_access=[staging, NoOpFileStaging()])
    threads.working_dir = str(tmp_path / "work")
    return parlay.load(Config(executors=[threads], run_dir=str(tmp_path / "runinfo")))


def fake_rsync(tmp_path, body):
    """A stand-in for rsync that writes part of the file to its last argument, then runs `body`."""
    script = tmp_path / "fake-rsync"
    script.write_text(f'#!/bin/sh\nfor last; do :; done\nprintf "half" > "$last"\n{body}\n')
    script.chmod(0o755)
    return str(script)


# --- failures ---------------------------------------------------------------------------------------


def test_a_missing_file_quotes_rsync_and_leaves_nothing(tmp_path):
    (tmp_path / "remote").mkdir()
    missing = str(tmp_path / "remote" / "absent.txt")
    with pytest.raises(StagingError) as info:
        fetch(RSyncStaging(None), File(missing), str(tmp_path / "out" / "absent.txt"))
    message = str(info.value)
    assert message.startswith(f"could not stage in {missing}: RsyncError: rsync ")
    assert "exited with code 23 (partial transfer due to error)" in message
    assert f'link_stat "{missing}" failed: No such file or directory' in message
    assert os.listdir(tmp_path / "out") == []


def test_a_missing_file_on_a_daemon_quotes_rsync(tmp_path, rsync_daemon):
    staging = RSyncStaging(rsync_daemon.url)
    with pytest.raises(RsyncError) as info:
        staging.version(File("nowhere/absent.txt"))  # what the worker asks first
    message = str(info.value)
    assert "--list-only -- rsync://127.0.0.1:" in message
    assert 'exited with code 23 (partial transfer due to error): rsync: [sender] change_dir "nowhere"' in message


def test_a_failed_rsync_leaves_no_partial_file(tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("whole file\n")
    failing = 'echo "rsync: write failed: No space left on device (28)" >&2\nexit 11'
    staging = RSyncStaging(None, command=fake_rsync(tmp_path, failing))
    with pytest.raises(StagingError, match=r"exited with code 11 \(error in file I/O\): rsync: write failed: No space"):
        fetch(staging, File(str(source)), str(tmp_path / "out" / "source.txt"))
    assert os.listdir(tmp_path / "out") == []


def test_a_hung_rsync_is_stopped_at_the_timeout_with_what_it_started(tmp_path):
    pid_file = tmp_path / "child.pid"
    staging = RSyncStaging(None, timeout=2, command=fake_rsync(tmp_path, f'sleep 60 &\necho $! > "{pid_file}"\nwait'))
    with pytest.raises(StagingError, match=r"did not finish within 2 s \(the timeout option\): stopped it"):
        fetch(staging, File(str(tmp_path / "source.txt")), str(tmp_path / "out" / "source.txt"))
    assert os.listdir(tmp_path / "out") == []
    assert not process_alive(int(pid_file.read_text()))  # its whole process group went


def test_a_folder_is_refused(tmp_path, rsync_daemon):
    (rsync_daemon.share / "a-folder").mkdir(exist_ok=True)
    with pytest.raises(StagingError, match=r"rsync copied nothing: skipping directory a-folder"):
        fetch(RSyncStaging(None), File(str(rsync_daemon.share / "a-folder")), str(tmp_path / "out" / "x"))
    staging = RSyncStaging(rsync_daemon.url, module_path=str(rsync_daemon.share))
    with pytest.raises(RsyncError, match="a-folder is a folder"):
        staging.version(File(str(rsync_daemon.share / "a-folder")))
    with pytest.raises(RsyncError, match="copied nothing: skipping directory a-folder"):
        staging.download(File(str(rsync_daemon.share / "a-folder")), str(tmp_path / "x"))


def test_a_missing_program_is_named(tmp_path):
    staging = RSyncStaging(None, command="no-such-rsync")
    with pytest.raises(StagingError, match=r"no program 'no-such-rsync' here \(install rsync\)"):
        fetch(staging, File(str(tmp_path / "x.txt")), str(tmp_path / "out" / "x.txt"))


def test_an_app_that_wrote_nothing_fails_its_output(tmp_path):
    with run_with(tmp_path, RSyncStaging(None)):
        future = workflow_apps.claim_outputs(outputs=[File(str(tmp_path / "never.txt"))])
        with pytest.raises(Exception, match=r"never\.txt"):
            future.outputs[0].result(TIMEOUT)
    assert not (tmp_path / "never.txt").exists()


# --- forms of hostname ------------------------------------------------------------------------------


@pytest.mark.parametrize("hostname", ["worker-host", "alice@worker-host"])
def test_over_a_remote_shell(tmp_path, fake_ssh, hostname):
    """`host:/path` through the remote shell: rsync starts the remote rsync with `rsh`."""
    script, log = fake_ssh
    (tmp_path / "remote").mkdir()
    source = tmp_path / "remote" / "in.txt"
    source.write_text("over the shell\n")
    staging = RSyncStaging(hostname, rsh=str(script))
    with run_with(tmp_path, staging):
        assert read_text(inputs=[File(str(source))]).result(TIMEOUT) == "over the shell\n"
        out = File(str(tmp_path / "remote" / "out.txt"))
        write_text("and back\n", outputs=[out]).outputs[0].result(TIMEOUT)
    assert (tmp_path / "remote" / "out.txt").read_text() == "and back\n"
    user, _, host = hostname.rpartition("@")
    assert f"{user} {host}" in log.read_text().splitlines()


def test_relative_paths_are_made_absolute_where_the_workflow_runs(tmp_path, monkeypatch):
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "rel.txt").write_text("relative\n")
    monkeypatch.chdir(tmp_path / "here")
    file = File("rel.txt")
    file.local_path = "/work/rel.txt"
    located = RSyncStaging("host").located(file)
    assert (located.url, located.local_path) == (str(tmp_path / "here" / "rel.txt"), "/work/rel.txt")
    assert RSyncStaging("host").remote(located.path) == f"host:{tmp_path / 'here' / 'rel.txt'}"
    with run_with(tmp_path, RSyncStaging(None)):
        assert read_text(inputs=[File("rel.txt")]).result(TIMEOUT) == "relative\n"


def test_a_daemon_module_without_module_path_takes_paths_within_it(tmp_path, rsync_daemon):
    (rsync_daemon.share / "sub").mkdir(exist_ok=True)
    (rsync_daemon.share / "sub" / "inner.txt").write_text("inside the module\n")
    staging = RSyncStaging(rsync_daemon.url + "/")
    assert staging.remote("sub/inner.txt") == staging.remote("/sub/inner.txt") == f"{rsync_daemon.url}/sub/inner.txt"
    with run_with(tmp_path, staging):
        assert read_text(inputs=[File("sub/inner.txt")]).result(TIMEOUT) == "inside the module\n"
        write_text("uploaded\n", outputs=[File("/sub/up.txt")]).outputs[0].result(TIMEOUT)
    assert (rsync_daemon.share / "sub" / "up.txt").read_text() == "uploaded\n"


def test_a_daemon_with_a_password(tmp_path, rsync_daemon):
    (rsync_daemon.locked / "guarded.txt").write_text("guarded\n")
    password = tmp_path / "password"
    password.write_text("secret\n")
    password.chmod(0o600)
    url = f"rsync://alice@127.0.0.1:{rsync_daemon.port}/locked"
    staging = RSyncStaging(url, password_file=str(password))
    fetch(staging, File("guarded.txt"), str(tmp_path / "guarded.txt"))
    assert (tmp_path / "guarded.txt").read_text() == "guarded\n"
    password.write_text("wrong\n")
    with pytest.raises(StagingError, match=r"code 5 \(error starting client-server protocol\): @ERROR: auth failed"):
        fetch(staging, File("guarded.txt"), str(tmp_path / "again.txt"))


def test_paths_outside_the_module_are_refused_at_submission(tmp_path, rsync_daemon):
    staging = RSyncStaging(rsync_daemon.url, module_path=str(rsync_daemon.share))
    with run_with(tmp_path, staging), pytest.raises(ConfigurationError, match="is not a file under it"):
        read_text(inputs=[File(str(tmp_path / "elsewhere.txt"))])
    with pytest.raises(ConfigurationError, match="is not a file within the module"):
        RSyncStaging(rsync_daemon.url).remote("../escape.txt")


def test_a_changed_file_is_fetched_again(tmp_path, rsync_daemon):
    """The listing's size and time key the node's cache: a rewritten file is fetched anew."""
    path = rsync_daemon.share / "changing.txt"
    path.write_text("first\n")
    with run_with(tmp_path, RSyncStaging(rsync_daemon.url, module_path=str(rsync_daemon.share))):
        assert read_text(inputs=[File(str(path))]).result(TIMEOUT) == "first\n"
        path.write_text("second, longer\n")
        assert read_text(inputs=[File(str(path))]).result(TIMEOUT) == "second, longer\n"


def test_upload_replaces_the_destination(tmp_path, rsync_daemon):
    staging = RSyncStaging(rsync_daemon.url, module_path=str(rsync_daemon.share))
    local = tmp_path / "local.txt"
    target = File(str(rsync_daemon.share / "replaced.txt"))
    for text in ("old and long\n", "new\n"):
        local.write_text(text)
        target.local_path = str(local)
        send(staging, target)
        assert (rsync_daemon.share / "replaced.txt").read_text() == text


# --- options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hostname": "two words"}, "RSyncStaging.hostname='two words': expected None"),
        ({"hostname": "host:/path"}, "RSyncStaging.hostname='host:/path': expected"),
        ({"hostname": "rsync://host"}, "RSyncStaging.hostname='rsync://host': expected"),
        ({"hostname": 42}, "RSyncStaging.hostname=42"),
        ({"hostname": None, "rsh": "ssh"}, "RSyncStaging.rsh='ssh': only with a hostname"),
        ({"hostname": "host", "rsh": "ssh\n-v"}, "expected a string of one line, or None"),
        ({"hostname": "host", "module_path": "/srv"}, "RSyncStaging.module_path='/srv': only for an rsync://"),
        ({"hostname": "rsync://h/m", "module_path": "srv"}, "RSyncStaging.module_path='srv': expected an absolute"),
        ({"hostname": "host", "password_file": "/p"}, "RSyncStaging.password_file='/p': only for an rsync://"),
        ({"hostname": "host", "timeout": 0}, "RSyncStaging.timeout=0: expected seconds > 0, or None"),
        ({"hostname": "host", "timeout": "1h"}, "RSyncStaging.timeout='1h'"),
        ({"hostname": "host", "extra_args": "-z"}, "RSyncStaging.extra_args='-z': expected a list of strings"),
        ({"hostname": "host", "command": ""}, "RSyncStaging.command='': expected a path"),
    ],
)
def test_options_are_checked(kwargs, message):
    with pytest.raises(ConfigurationError) as info:
        RSyncStaging(**kwargs)
    assert message in str(info.value)


def test_hostname_is_required_and_taken_by_position():
    with pytest.raises(TypeError):
        RSyncStaging()
    assert RSyncStaging("user@host").hostname == "user@host"
    assert RSyncStaging("[::1]").remote("/x") == "[::1]:/x"


def test_the_options_reach_rsync(tmp_path):
    staging = RSyncStaging("rsync://u@h:8873/m", password_file="/pw", extra_args=["--compress"], command="/opt/rsync")
    assert staging._rsync() == [
        "/opt/rsync", "--copy-links", "--ignore-times", "--password-file=/pw", "--compress",
    ]  # fmt: skip
    assert RSyncStaging("h", rsh="ssh -o BatchMode=yes")._rsync()[3] == "--rsh=ssh -o BatchMode=yes"


def test_it_is_an_entry_point():
    from parlay.plugins import registry

    assert registry.load("staging", "rsync") is RSyncStaging
    assert RSyncStaging.in_task and not RSyncStaging.by_default
