"""`CloudProviderConformance`: the suite every cloud or container-cluster provider plugin's tests inherit.

No cloud is reachable from a test machine, so each plugin ships a stand-in: a local HTTP server that speaks
the REST API its official client calls and really runs each instance's startup script (each pod's command)
as a local process group. The suite drives the provider through the official client against it::

    class TestMyCloud(CloudProviderConformance):
        @pytest.fixture
        def stand_in(self, tmp_path, monkeypatch):
            with MyCloudStandIn(tmp_path / "cloud") as server:
                monkeypatch.setenv("MYCLOUD_ENDPOINT", server.url)  # `parlay cleanup` runs in a child process
                yield server

        def make_provider(self, stand_in, **options):
            return MyCloudProvider(region="test-1", **options)

The inherited tests create, watch and delete blocks, check that every created resource carries the run's and
the block's tags and is journaled, that secrets reach the block but no file of the run, that `release()` and
`parlay cleanup` after a simulated crash leave nothing in the stand-in, and that an API refusal is quoted.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from parlay.errors import ExecutionProviderException, SubmitException
from parlay.providers.base import JobState, JobStatus, read_journal
from parlay.providers.cloud import BLOCK_TAG, RUN_TAG, CloudProvider, tag_value
from parlay.testing.providers import final_status, run_cleanup, wait_for

WORKER_INIT = "export PARLAY_CONFORMANCE=initialised"
SECRET = "conformance-secret-4711"


class CloudStandIn(Protocol):
    """What the suite asks of a plugin's stand-in."""

    def resources(self) -> list[tuple[str, str, dict[str, str]]]:
        """Everything alive in the stand-in (instances not terminated, pods, secrets, networks, security
        groups...) as (kind, id, tags or labels)."""
        ...

    def refuse_next(self, message: str) -> None:
        """Make the next creating call fail with the API's error carrying `message` (a quota exceeded)."""
        ...


class CloudProviderConformance:
    """Inherited tests for a `CloudProvider` against its stand-in (the `stand_in` fixture)."""

    #: The run id the suite's provider tags its resources with.
    run_id = "conformance-run-0"

    def make_provider(self, stand_in: Any, **options: Any) -> CloudProvider:
        raise NotImplementedError("a conformance subclass must return a provider built with **options")

    # --- fixtures ---------------------------------------------------------------------------------

    @pytest.fixture
    def stand_in(self) -> Any:
        pytest.fail(f"{type(self).__name__} must define a `stand_in` fixture yielding its API stand-in")

    @pytest.fixture
    def run_dir(self, tmp_path: Path) -> Path:
        return tmp_path / "runinfo" / "000"

    @pytest.fixture
    def provider(self, run_dir: Path, stand_in: Any) -> Iterator[CloudProvider]:
        provider = self.make_provider(stand_in, label="conformance", worker_init=WORKER_INIT, max_blocks=4)
        provider.script_dir = str(run_dir / "submit_scripts")
        provider.run_id = self.run_id
        provider.secret_environment = {"PARLAY_CONFORMANCE_SECRET": SECRET}
        yield provider
        with contextlib.suppress(ExecutionProviderException):  # never leave anything, even when a test fails
            provider.cancel(list(provider.job_names))
            provider.release()

    # --- helpers ----------------------------------------------------------------------------------

    def final_status(self, provider: CloudProvider, job_id: str) -> JobStatus:
        return final_status(provider, job_id)

    def unknown_job_id(self, job_id: str) -> str:
        """A job id of the provider's form that names nothing (override if ids have no hex digits)."""
        unknown = re.sub(r"[0-9a-f]{4}", "9876", job_id, count=1)
        assert unknown != job_id, "override unknown_job_id: the default needs 4 hex digits in the job id"
        return unknown

    def of_run(self, stand_in: CloudStandIn) -> list[tuple[str, str, dict[str, str]]]:
        run = tag_value(self.run_id)
        return [r for r in stand_in.resources() if r[2].get(RUN_TAG) == run]

    # --- the life of a block ----------------------------------------------------------------------

    def test_a_block_runs_with_its_secrets_tagged_and_journaled(
        self, provider: CloudProvider, stand_in: CloudStandIn, run_dir: Path, tmp_path: Path
    ) -> None:
        marker = tmp_path / "ran"
        command = f'echo "$PARLAY_CONFORMANCE $PARLAY_CONFORMANCE_SECRET" > {marker}; sleep 300'
        job_id = provider.submit(command, 1, "parlay.conformance.block-0")
        wait_for(marker.exists, "the block's command to run", interval=0.05)
        wait_for(lambda: marker.read_text().strip(), "the block's command to write", interval=0.05)
        assert marker.read_text() == f"initialised {SECRET}\n", "worker_init and the secrets precede the command"
        [status] = provider.status([job_id])
        assert status.state is JobState.RUNNING, status
        created = self.of_run(stand_in)
        assert created, "the block's resources must carry the run's tag"
        for kind, ident, tags in created:
            assert tags.get(BLOCK_TAG) in (None, tag_value("parlay.conformance.block-0")), (kind, ident, tags)
        assert any(tags.get(BLOCK_TAG) for _, _, tags in created), "the block's own resources carry its tag"
        journal = read_journal(str(run_dir))
        entry = journal[provider.label, job_id]
        assert entry["event"] == "submitted" and entry["run_id"] == self.run_id
        assert entry["provider"] == provider.kind, "the journal must name the provider's entry point"
        rebuilt = type(provider)(**entry["options"])
        assert rebuilt.cleanup_options() == entry["options"], "cleanup_options must rebuild the provider"
        for path in run_dir.rglob("*"):
            if path.is_file():
                assert SECRET not in path.read_text(errors="replace"), f"{path} holds the block's secret"

    def test_cancel_stops_the_block_and_deletes_its_resources(
        self, provider: CloudProvider, stand_in: CloudStandIn, tmp_path: Path
    ) -> None:
        marker = tmp_path / "started"
        job_id = provider.submit(f"touch {marker}; sleep 300", 1, "parlay.conformance.block-1")
        wait_for(marker.exists, "the block to start", interval=0.05)
        assert provider.cancel([job_id]) == [True]
        assert self.final_status(provider, job_id).state is JobState.CANCELLED
        block = tag_value("parlay.conformance.block-1")
        wait_for(
            lambda: not [r for r in self.of_run(stand_in) if r[2].get(BLOCK_TAG) == block],
            "the block's resources to be deleted",
        )
        assert provider.cancel([job_id]) == [True], "cancelling an ended block is not an error"

    def test_an_unknown_block_is_missing(self, provider: CloudProvider) -> None:
        job_id = provider.submit("true", 1, "parlay.conformance.block-2")
        provider.cancel([job_id])
        [status] = provider.status([self.unknown_job_id(job_id)])
        assert status.state is JobState.MISSING, status

    def test_release_leaves_nothing_of_the_run(self, provider: CloudProvider, stand_in: CloudStandIn) -> None:
        ids = [provider.submit("sleep 300", 1, f"parlay.conformance.block-{n}") for n in (3, 4)]
        assert self.of_run(stand_in)
        provider.cancel(ids)
        provider.release()
        assert self.of_run(stand_in) == [], "release() must delete everything the run created"

    def test_a_refused_creation_quotes_the_api(self, provider: CloudProvider, stand_in: CloudStandIn) -> None:
        stand_in.refuse_next("Quota exceeded for resource conformance-quota-42")
        with pytest.raises(SubmitException) as info:
            provider.submit("true", 1, "parlay.conformance.block-5")
        assert "conformance-quota-42" in str(info.value), "the API's own message must be quoted"
        assert not provider.job_names, "a refused block is not recorded as submitted"
        provider.release()
        assert self.of_run(stand_in) == [], "a refused creation must not leave half of a block"

    # --- a crashed run ----------------------------------------------------------------------------

    def test_parlay_cleanup_after_a_crash_leaves_nothing(
        self, provider: CloudProvider, stand_in: CloudStandIn, run_dir: Path, tmp_path: Path
    ) -> None:
        ids = []
        for n in (6, 7):
            marker = tmp_path / f"started-{n}"
            ids.append(provider.submit(f"touch {marker}; sleep 300", 1, f"parlay.conformance.block-{n}"))
            wait_for(marker.exists, "the block to start", interval=0.05)
        provider.job_names.clear()  # the submitting process is gone: only the journal and the tags are left
        dry = run_cleanup(run_dir, "--dry-run")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert self.of_run(stand_in), "--dry-run deletes nothing"
        answer = run_cleanup(run_dir)
        assert answer.returncode == 0, answer.stdout + answer.stderr
        for job_id in ids:
            assert re.search(rf"{re.escape(job_id)}\b.*cancelled", answer.stdout), answer.stdout
        wait_for(lambda: self.of_run(stand_in) == [], "parlay cleanup to delete what the run created")
        again = run_cleanup(run_dir)
        assert again.returncode == 0 and "nothing to cancel" in again.stdout, again.stdout


__all__ = ["SECRET", "WORKER_INIT", "CloudProviderConformance", "CloudStandIn"]
