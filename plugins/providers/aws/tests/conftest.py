import pytest

from parlay_provider_aws.stand_in import EC2StandIn


@pytest.fixture
def ec2(tmp_path, monkeypatch):
    """The EC2 stand-in, with this process's environment (and so its children's) pointing boto3 at it and at no
    AWS config file of this machine."""
    with EC2StandIn(tmp_path / "ec2") as stand_in:
        for name, value in stand_in.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name, raising=False)
        yield stand_in
