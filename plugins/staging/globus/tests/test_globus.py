"""GlobusStaging against the fake Transfer service: failures quoting the task's status and events, the
timeout (the task is cancelled), credentials, path mapping, polling, and the options."""

from __future__ import annotations

import logging

import globus_sdk
import pytest

import parlay
from parlay import Config, File
from parlay.errors import ConfigurationError, DependencyError, StagingError
from parlay.executors.threads import ThreadPoolExecutor
from parlay.staging.files import NoOpFileStaging
from parlay.testing import TIMEOUT, workflow_apps
from parlay_staging_globus import TOKEN_VARIABLE, GlobusStaging
from parlay_staging_globus.transfer import Location

from .conftest import CLUSTER, REMOTE, SAME

read_text = parlay.python_app(workflow_apps.read_text)
write_text = parlay.python_app(workflow_apps.write_text)
UNKNOWN = "12345678-1234-4234-8234-123456789abc"


@pytest.fixture
def service(transfer_service):
    return transfer_service


def staging_for(service, **options):
    options = {"transfer_token": service.token, "polling_interval": 0.05, "timeout": 60, **options}
    return GlobusStaging(CLUSTER, f"/{service.base.name}", str(service.base), **options)


def run_with(tmp_path, staging, working_dir=True):
    threads = ThreadPoolExecutor(label="globus", max_threads=2, storage_access=[staging, NoOpFileStaging()])
    if working_dir:
        threads.working_dir = str(tmp_path / "work")
    return parlay.load(Config(executors=[threads], run_dir=str(tmp_path / "runinfo")))


def put(service, name, data="data\n"):
    (service.remote / name).write_text(data)
    return f"globus://{REMOTE}/{name}"


# --- failures ---------------------------------------------------------------------------------------


def test_a_failed_transfer_reports_its_status_and_events(tmp_path, service):
    url = f"globus://{REMOTE}/absent.txt"
    with run_with(tmp_path, staging_for(service)):
        future = read_text(inputs=[File(url)])
        with pytest.raises(DependencyError) as info:
            future.result(TIMEOUT)
    message = str(info.value)
    assert f"could not stage in {url}: Globus transfer task " in message
    assert f"from globus://{REMOTE}/absent.txt to globus://{CLUSTER}/{service.base.name}/" in message
    assert "ended FAILED (nice_status FILE_NOT_FOUND); events: " in message
    assert "FILE_NOT_FOUND: file not found (Error (No such file or directory): /absent.txt)" in message
    assert not (tmp_path / "work" / "absent.txt").exists()


def test_a_transfer_that_does_not_end_is_cancelled_at_the_timeout(tmp_path, service, caplog):
    url = put(service, "stalled.txt")
    service.stall("/stalled.txt")
    staging = staging_for(service, timeout=1)
    with caplog.at_level(logging.WARNING, "parlay_staging_globus"), pytest.raises(StagingError) as info:
        staging.move(url, "in", Location(REMOTE, "/stalled.txt"), Location(CLUSTER, "/nowhere/stalled.txt"))
    message = str(info.value)
    assert "did not end within 1 s (the timeout option), so it was cancelled" in message
    assert "it was ACTIVE (nice_status CONNECTION_FAILED); events: " in message
    assert "CONNECTION_RETRY: connection retry (the source endpoint is not responding)" in message
    task_id = message.split("Globus transfer task ")[1].split()[0]
    assert ("POST", f"/v0.10/task/{task_id}/cancel") in service.requests
    assert service.tasks[task_id].status == "FAILED"
    assert "(nice_status CONNECTION_FAILED) (Globus retries it)" in caplog.text  # the trouble was logged as it came


def test_a_paused_transfer_is_cancelled_and_reported_at_once(service):
    url = put(service, "paused.txt")
    service.pause("/paused.txt")
    with pytest.raises(StagingError) as info:
        staging_for(service).move(url, "in", Location(REMOTE, "/paused.txt"), Location(CLUSTER, "/nowhere/p.txt"))
    message = str(info.value)
    assert "ended INACTIVE (nice_status PAUSED_CREDENTIALS_EXPIRED); events: " in message
    assert "PAUSED_CREDENTIALS_EXPIRED: paused (the source's credentials expired)" in message
    task_id = message.split("Globus transfer task ")[1].split()[0]
    assert ("POST", f"/v0.10/task/{task_id}/cancel") in service.requests
    assert service.tasks[task_id].status == "FAILED"


def test_a_wrong_token_is_refused(tmp_path, service):
    url = put(service, "guarded.txt")
    with run_with(tmp_path, staging_for(service, transfer_token="not-the-token")):
        future = read_text(inputs=[File(url)])
        with pytest.raises(DependencyError, match="HTTP 401 AuthenticationFailed: Token is not active"):
            future.result(TIMEOUT)


def test_an_unknown_endpoint_is_refused(service):
    refused = f"Globus refused the transfer from globus://{UNKNOWN}/x.txt to globus://{CLUSTER}/y.txt: HTTP 404"
    with pytest.raises(StagingError) as info:
        staging_for(service).move("u", "in", Location(UNKNOWN, "/x.txt"), Location(CLUSTER, "/y.txt"))
    assert f"{refused} EndpointNotFound: No such endpoint or collection '{UNKNOWN}'" in str(info.value)


def test_a_failed_stage_out_fails_the_output(tmp_path, service):
    url = f"globus://{UNKNOWN}/out.txt"
    with run_with(tmp_path, staging_for(service)):
        future = write_text("lost\n", outputs=[File(url)])
        with pytest.raises(StagingError, match=f"could not stage out {url}: Globus refused the transfer"):
            future.outputs[0].result(TIMEOUT)
        assert future.result(TIMEOUT) == url  # the app itself ran


# --- credentials ------------------------------------------------------------------------------------


def test_the_token_may_come_from_the_environment(tmp_path, service, monkeypatch):
    monkeypatch.setenv(TOKEN_VARIABLE, service.token)
    url = put(service, "from-env.txt", "environment\n")
    with run_with(tmp_path, staging_for(service, transfer_token=None)):
        assert read_text(inputs=[File(url)]).result(TIMEOUT) == "environment\n"


def test_an_authorizer_instead_of_a_token(tmp_path, service):
    url = put(service, "authorized.txt", "authorized\n")
    staging = staging_for(service, transfer_token=None, authorizer=globus_sdk.AccessTokenAuthorizer(service.token))
    with run_with(tmp_path, staging):
        assert read_text(inputs=[File(url)]).result(TIMEOUT) == "authorized\n"


def test_no_credentials_is_a_configuration_error_at_submission(tmp_path, service):
    with run_with(tmp_path, staging_for(service, transfer_token=None)), pytest.raises(
        ConfigurationError, match=f"GlobusStaging has no Globus credentials: give transfer_token= or authorizer=, "
        f"or set {TOKEN_VARIABLE}"
    ):  # fmt: skip
        read_text(inputs=[File(put(service, "x.txt"))])


def test_secrets_stay_out_of_the_repr(service):
    shown = repr(staging_for(service, transfer_token="s3cr3t-token"))
    assert "s3cr3t" not in shown and "authorizer" not in shown
    assert shown.startswith(f"GlobusStaging(endpoint_uuid='{CLUSTER}', endpoint_path=")


# --- transfers --------------------------------------------------------------------------------------


def test_the_client_polls_until_the_task_ends(service):
    put(service, "polled.txt", "polled\n")
    staging = staging_for(service)
    before = set(service.tasks)
    staging.move("u", "in", Location(REMOTE, "/polled.txt"), Location(CLUSTER, f"/{service.base.name}/polled/p.txt"))
    (task_id,) = set(service.tasks) - before
    polls = service.requests.count(("GET", f"/v0.10/task/{task_id}"))
    assert polls >= 2  # the fake copies only once the task was seen active
    assert service.tasks[task_id].status == "SUCCEEDED"
    assert (service.base / "polled" / "p.txt").read_text() == "polled\n"
    document = service.tasks[task_id].document
    assert document["label"] == "parlay stage in polled.txt" and document["deadline"]


def test_an_endpoint_that_sees_the_same_paths(tmp_path, service):
    """Without endpoint_path and local_path, a path on the workers is the same path on the endpoint."""
    url = put(service, "same.txt", "same paths\n")
    staging = GlobusStaging(SAME, transfer_token=service.token, polling_interval=0.05)
    with run_with(tmp_path, staging):
        assert read_text(inputs=[File(url)]).result(TIMEOUT) == "same paths\n"
        out = f"globus://{REMOTE}/same-out.txt"
        write_text("back\n", outputs=[File(out)]).outputs[0].result(TIMEOUT)
    assert (tmp_path / "work" / "same.txt").read_text() == "same paths\n"
    assert (service.remote / "same-out.txt").read_text() == "back\n"


def test_one_transfer_per_url_and_run(tmp_path, service):
    url = put(service, "once.txt", "once\n")
    before = set(service.tasks)
    with run_with(tmp_path, staging_for(service)):
        futures = [read_text(inputs=[File(url)]) for _ in range(6)]
        assert [f.result(TIMEOUT) for f in futures] == ["once\n"] * 6
    assert len(set(service.tasks) - before) == 1


# --- paths and options ------------------------------------------------------------------------------


def test_paths_map_from_local_path_to_endpoint_path():
    staging = GlobusStaging(CLUSTER, "/~/scratch", "/home/me/scratch", transfer_token="t")
    assert staging.endpoint_path_of("/home/me/scratch/run/in.txt") == "/~/scratch/run/in.txt"
    assert staging.endpoint_path_of("/home/me/scratch") == "/~/scratch"
    assert GlobusStaging(CLUSTER, transfer_token="t").endpoint_path_of("/any/where.txt") == "/any/where.txt"
    for outside in ("/home/me/other/in.txt", "/home/me/scratch/../x.txt", "relative/in.txt"):
        with pytest.raises(ConfigurationError, match="is not under local_path='/home/me/scratch'"):
            staging.endpoint_path_of(outside)


def test_a_working_dir_outside_local_path_is_refused_at_submission(tmp_path, service):
    staging = GlobusStaging(CLUSTER, "/elsewhere", str(tmp_path / "elsewhere"), transfer_token=service.token)
    with run_with(tmp_path, staging), pytest.raises(ConfigurationError, match="is not under local_path="):
        read_text(inputs=[File(put(service, "y.txt"))])


def test_an_executor_without_working_dir_is_refused(tmp_path, service):
    with run_with(tmp_path, staging_for(service), working_dir=False), pytest.raises(
        ConfigurationError, match="executor 'globus' has no working_dir: GlobusStaging needs the folder"
    ):  # fmt: skip
        read_text(inputs=[File(put(service, "z.txt"))])


def test_a_url_without_an_endpoint_uuid_is_refused(tmp_path, service):
    with run_with(tmp_path, staging_for(service)), pytest.raises(ConfigurationError, match="the endpoint as a UUID"):
        read_text(inputs=[File("globus://my-endpoint/data.txt")])


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("not-a-uuid",), {}, "GlobusStaging.endpoint_uuid='not-a-uuid': expected a Globus endpoint (collection) UUID"),
        ((CLUSTER, "/ep"), {}, "GlobusStaging.endpoint_path='/ep': give endpoint_path and local_path together"),
        ((CLUSTER, None, "/local"), {}, "GlobusStaging.local_path='/local': give endpoint_path and local_path"),
        ((CLUSTER, "/ep", "local"), {}, "GlobusStaging.local_path='local': expected an absolute path, or None"),
        ((CLUSTER,), {"transfer_token": "a", "authorizer": globus_sdk.AccessTokenAuthorizer("a")},
         "GlobusStaging.authorizer='...': give transfer_token or authorizer, not both"),
        ((CLUSTER,), {"transfer_token": "two words"}, "GlobusStaging.transfer_token='...': expected a token, or None"),
        ((CLUSTER,), {"authorizer": "a token"}, "GlobusStaging.authorizer='...': expected a globus_sdk authorizer"),
        ((CLUSTER,), {"timeout": 0}, "GlobusStaging.timeout=0: expected seconds > 0"),
        ((CLUSTER,), {"polling_interval": -1}, "GlobusStaging.polling_interval=-1: expected seconds > 0"),
    ],
)  # fmt: skip
def test_options_are_checked(args, kwargs, message):
    with pytest.raises(ConfigurationError) as info:
        GlobusStaging(*args, **kwargs)
    assert message in str(info.value)


def test_it_is_an_entry_point():
    from parlay.plugins import registry

    assert registry.load("staging", "globus") is GlobusStaging
    assert not GlobusStaging.by_default
    assert GlobusStaging(CLUSTER).can_stage_in(File(f"globus://{REMOTE}/x")) and not GlobusStaging(
        CLUSTER
    ).can_stage_in(File("/x"))
