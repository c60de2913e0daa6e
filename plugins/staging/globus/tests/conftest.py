"""The fake Globus Transfer service for the tests, with globus_sdk pointed at it by the SDK's own variable."""

import pytest

from parlay_staging_globus.fake import FakeTransferService

#: The endpoint the input files live on (a folder of the tests).
REMOTE = "0f0e0d0c-0b0a-4909-8807-060504030201"
#: The endpoint on which the executors' workers see their working_dir: it shows the folder holding the tests'
#: temporary folder (so that folder, `base`, is `/<its name>` on the endpoint).
CLUSTER = "11111111-2222-4333-8444-555555555555"
#: An endpoint that shows this machine's root: paths are the same on both.
SAME = "99999999-8888-4777-8666-555555555555"


@pytest.fixture(scope="session")
def transfer_service(tmp_path_factory):
    remote = tmp_path_factory.mktemp("globus-remote")
    endpoints = {REMOTE: remote, CLUSTER: tmp_path_factory.getbasetemp().parent, SAME: "/"}
    with FakeTransferService(endpoints, token="fake-transfer-token") as service, pytest.MonkeyPatch.context() as env:
        for name, value in service.environment().items():
            env.setenv(name, value)
        env.delenv("GLOBUS_SDK_ENVIRONMENT", raising=False)
        env.delenv("PARLAY_GLOBUS_TRANSFER_TOKEN", raising=False)
        service.remote = remote
        service.base = tmp_path_factory.getbasetemp()
        yield service
