"""`GoogleCloudProvider`: each block is Compute Engine instances, one per node, that run the block's script as
their startup script. Google's client is imported when the provider first calls the API."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from parlay.errors import ExecutionProviderException, ParlayError, SubmitException
from parlay.options import REQUIRED, Check, amount, declare, name, one_of, option, optional, state
from parlay.providers.base import JobState, JobStatus
from parlay.providers.cloud import PROVIDER_TAG, RUN_TAG, CloudProvider, tag_value

if TYPE_CHECKING:
    from parlay_provider_gcp.compute import Compute

logger = logging.getLogger(__name__)

#: The variable naming the Compute Engine API's address when `endpoint` is None.
ENDPOINT_VARIABLE = "PARLAY_GCP_ENDPOINT"
#: What each instance writes to its serial console when the block's script ends, before powering off.
EXIT_LINE = "parlay-gcp: the block script exited with code"
# An instance runs on (and bills) after its startup script ends: the script powers it off, and the provider
# deletes it once it sees it stopped, reading on its serial console how the script ended.
_EXIT_TRAP = f"trap 'code=$?; echo \"{EXIT_LINE} $code\"; shutdown -h now' EXIT"
_EXIT_CODE = re.compile(re.escape(EXIT_LINE) + r" (\d+)")
#: Compute Engine's instance states, but for those of an instance that stopped (its script ended).
_STATES = {
    "PENDING": JobState.PENDING,
    "PROVISIONING": JobState.PENDING,
    "STAGING": JobState.PENDING,
    "REPAIRING": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "PENDING_STOP": JobState.RUNNING,  # on its way down: its script has ended
    "STOPPING": JobState.RUNNING,
    "SUSPENDING": JobState.RUNNING,
    "DEPROVISIONING": JobState.RUNNING,
}
_STOPPED = frozenset({"TERMINATED", "STOPPED", "SUSPENDED"})
#: Which state of its instances a block of several is in: the first of these that one of them is in.
_PRECEDENCE = (JobState.RUNNING, JobState.PENDING, JobState.UNKNOWN, JobState.FAILED, JobState.COMPLETED)
_ZONE = re.compile(r"[a-z]+(-[a-z]+)*\d+-[a-z]")
_CONSOLE_TAIL = 2000


def _is_zone(value: Any) -> bool:
    return isinstance(value, str) and _ZONE.fullmatch(value) is not None


def _is_key_file(value: Any) -> bool:
    return value is None or (isinstance(value, str) and os.path.isfile(value))


@declare(
    defaults={"label": "google_cloud", "max_blocks": 10},
    help={
        "nodes_per_block": "instances in each block, one per node",
        "launcher": "how the worker command is started on each instance (as a block of one node)",
    },
    internal=("cores_per_node", "mem_per_node"),
)
class GoogleCloudProvider(CloudProvider):
    """Each block is `nodes_per_block` Compute Engine instances of `instance_type` booted from the newest image of
    `os_family`, each running the block's script (for one node) as its startup script. The job id is the
    instances' names, joined by commas. Every instance and its boot disk carry the run's, the block's and the
    provider's labels from the moment they are created."""

    kind = "gcp"

    project_id: str = option(
        REQUIRED, "the Google Cloud project the instances are created (and billed) in", name, positional=True
    )
    key_file: str | None = option(
        REQUIRED,
        "a service account's JSON key file; None: Application Default Credentials",
        Check(_is_key_file, "the path of an existing JSON key file, or None"),
        positional=True,
    )
    region: str = option(
        REQUIRED,
        "the zone the instances run in, such as 'us-central1-a' (Parsl's name for it)",
        Check(_is_zone, "a zone such as 'us-central1-a'"),
        positional=True,
    )
    os_project: str = option(
        REQUIRED, "the project of the boot image's family, such as 'debian-cloud'", name, positional=True
    )
    os_family: str = option(
        REQUIRED,
        "the boot image's family, such as 'debian-12': its newest image boots the instances",
        name,
        positional=True,
    )
    google_version: str = option("v1", "the Compute Engine API version", one_of("v1"))
    instance_type: str = option("n1-standard-1", "the machine type of each instance", name)
    endpoint: str | None = option(
        None,
        f"the Compute Engine API's address (a private endpoint); None: ${ENDPOINT_VARIABLE} if set, else Google's",
        optional(name),
    )
    delete_timeout: float = option(
        120, "seconds cancel() and cleanup wait for the instances they delete to be gone", amount("seconds")
    )

    _client: Compute | None = state()
    _client_lock: threading.Lock = state(factory=threading.Lock)
    _image: str | None = state()  # the boot image, found once
    _creating: dict[str, str] = state(factory=dict)  # instance -> the operation creating it, until seen done
    _failed: dict[str, str] = state(factory=dict)  # job id -> why its instances could not be created
    _ended: dict[str, JobStatus] = state(factory=dict)  # instance -> how its script ended, once deleted for it
    _created: set[str] = state(factory=set)  # the instances this process created
    _asked: bool = state(False)  # whether this process ever asked for an instance

    # --- blocks -----------------------------------------------------------------------------------

    def _submit(self, command: str, tasks_per_node: int, job_name: str) -> str:
        from parlay_provider_gcp.compute import instance

        compute = self._compute(job_name)
        if self._image is None:
            with self._calling(f"images.getFromFamily {self.os_project}/{self.os_family}", job_name):
                self._image = compute.image_from_family(self.os_project, self.os_family)
        script = self._instance_script(command, tasks_per_node, job_name)
        labels = self.tags(job_name)
        machine_type = f"zones/{self.region}/machineTypes/{self.instance_type}"
        description = f"parlay block {job_name} of run {self.run_id}"
        token = secrets.token_hex(4)
        names = [f"parlay-{token}-{node}" for node in range(self.nodes_per_block)]
        self._asked = True
        for number, node in enumerate(names):
            try:
                with self._calling(f"instances.insert {node}", job_name):
                    operation = compute.insert(instance(node, machine_type, self._image, script, labels, description))
            except SubmitException:
                self._delete_soon(compute, names[:number])  # never half a block
                raise
            self._created.add(node)
            self._creating[node] = operation
        return ",".join(names)

    def _instance_script(self, command: str, tasks_per_node: int, job_name: str) -> str:
        """The startup script of each instance: the block's script for one node (each instance is a node of its
        own, whose launcher starts one node's workers) with the secrets exported and `_EXIT_TRAP`. The script
        without the secrets is written to `submit_scripts/`, for the user to read."""
        self.write_script(command, tasks_per_node, job_name, nodes=1)
        first, _, rest = self.startup_script(command, tasks_per_node, job_name).partition("\n")
        return "\n".join([first, _EXIT_TRAP, rest])

    def _status(self, job_ids: list[str]) -> list[JobStatus]:
        compute = self._compute()
        return [self._block_status(compute, job_id) for job_id in job_ids]

    def _block_status(self, compute: Compute, job_id: str) -> JobStatus:
        if job_id not in self._failed:
            names = job_id.split(",")
            failure = self._creation_failure(compute, names)
            if failure is None:
                nodes = [self._node_status(compute, node) for node in names]
                return next((n for state in _PRECEDENCE for n in nodes if n.state is state), nodes[0])
            self._failed[job_id] = failure
            self._delete_soon(compute, names)
        return JobStatus(JobState.FAILED, message=self._failed[job_id])

    def _creation_failure(self, compute: Compute, names: list[str]) -> str | None:
        """Why an instance of the block could not be created, when the operation creating it says so (Compute
        Engine reports a zone without capacity, and some quotas, only there)."""
        from parlay_provider_gcp.compute import done, operation_errors
        from parlay_provider_gcp.failures import operation_failure

        for node in names:
            operation_name = self._creating.get(node)
            if operation_name is None:
                continue
            with self._calling(f"zoneOperations.get {operation_name}"):
                operation = compute.operation(operation_name)
            if done(operation):
                del self._creating[node]
                errors = operation_errors(operation)
                if errors:
                    return f"creating instance {node} failed: {operation_failure(errors, self)}"
        return None

    def _node_status(self, compute: Compute, node: str) -> JobStatus:
        if node in self._ended:
            return self._ended[node]
        with self._calling(f"instances.get {node}"):
            found = compute.get(node)
        if found is None:
            if node in self._creating:
                return JobStatus(JobState.PENDING, message=f"instance {node} is being created")
            return JobStatus(JobState.MISSING, message=f"instance {node} does not exist")
        if found.status not in _STOPPED:
            return JobStatus(_STATES.get(found.status, JobState.UNKNOWN), message=f"instance {node} is {found.status}")
        status = self._stopped_status(compute, node, found.status)
        if node in self._created:  # stopped, it still bills for its disk: delete it now
            self._ended[node] = status
            self._delete_soon(compute, [node])
        return status

    def _stopped_status(self, compute: Compute, node: str, state: str) -> JobStatus:
        """How the script of a stopped instance ended, from its serial console."""
        try:
            console = compute.serial_output(node)
        except Exception as exc:
            return JobStatus(JobState.FAILED, message=f"instance {node} is {state}; its serial console: {exc}")
        codes = _EXIT_CODE.findall(console)
        if codes[-1:] == ["0"]:
            return JobStatus(JobState.COMPLETED, exit_code=0, message=f"instance {node}: {EXIT_LINE} 0")
        tail = console[-_CONSOLE_TAIL:].strip()
        how = f"{EXIT_LINE} {codes[-1]}" if codes else f"is {state} before its startup script ended"
        return JobStatus(
            JobState.FAILED,
            exit_code=int(codes[-1]) if codes else None,
            message=f"instance {node}: {how}; its serial console ends with:\n{tail}",
        )

    def _cancel(self, job_ids: list[str]) -> list[bool]:
        compute = self._compute()
        failures = self._delete(compute, [node for job_id in job_ids for node in job_id.split(",")])
        for node, why in failures.items():
            logger.error("%s %r could not delete instance %s: %s", type(self).__name__, self.label, node, why)
        return [not set(job_id.split(",")) & set(failures) for job_id in job_ids]

    # --- what a run leaves ------------------------------------------------------------------------

    def release(self) -> None:
        """Sweep the run's instances at its end, unless this provider never asked for one (when its credentials
        or options were refused from the start, the sweep would only be refused again)."""
        if self._asked:
            super().release()

    def sweep(self, run_id: str, recorded: Sequence[dict[str, Any]] = (), dry_run: bool = False) -> list[str]:
        """Delete the instances in the zone that carry the run's and this provider's labels (those whose deletion
        is under way too); a line per instance."""
        compute = self._compute()
        with self._calling(f"instances.list of run {run_id}"):
            found = compute.list({RUN_TAG: tag_value(run_id), PROVIDER_TAG: tag_value(self.label)})
        if dry_run:
            return [f"instance {node.name} ({node.status}, {self._where}): would be deleted" for node in found]
        failures = self._delete(compute, [node.name for node in found])
        if failures:
            left = "; ".join(f"{node}: {why}" for node, why in failures.items())
            raise ExecutionProviderException(f"cannot delete instances of run {run_id} ({self._where}): {left}")
        return [f"instance {node.name} ({node.status}, {self._where}): deleted" for node in found]

    def cleanup_options(self) -> dict[str, Any]:
        key_file = os.path.abspath(self.key_file) if self.key_file else None
        return {
            **super().cleanup_options(),
            "project_id": self.project_id,
            "key_file": key_file,
            "region": self.region,
            "os_project": self.os_project,
            "os_family": self.os_family,
            "endpoint": self.endpoint,
        }

    # --- deleting ---------------------------------------------------------------------------------

    def _delete(self, compute: Compute, names: list[str], wait: bool = True) -> dict[str, str]:
        """Delete instances (asking again while one is still being created) and, if `wait`, wait until they are
        gone; at most `delete_timeout` seconds in all. Why each that could not be deleted was not; instances still
        being deleted at the deadline are left to Compute Engine."""
        deadline = time.monotonic() + self.delete_timeout
        operations: dict[str, str] = {}
        failures: dict[str, str] = {}
        for node in names:
            self._creating.pop(node, None)
            try:
                operation = self._delete_when_ready(compute, node, deadline)
            except ExecutionProviderException as exc:
                failures[node] = str(exc)
                continue
            if operation is not None:
                operations[node] = operation
        if wait:
            self._wait_deleted(compute, operations, failures, deadline)
        return failures

    def _delete_when_ready(self, compute: Compute, node: str, deadline: float) -> str | None:
        """Ask for the instance's deletion, again while it is not ready (`resourceNotReady`: being created); the
        operation's name, or None if there is no such instance."""
        from google.api_core import exceptions

        with self._calling(f"instances.delete {node}"):
            while True:
                try:
                    return compute.delete(node)
                except exceptions.BadRequest as exc:
                    reasons = {error.get("reason") for error in exc.errors if isinstance(error, dict)}
                    if "resourceNotReady" not in reasons or time.monotonic() > deadline:
                        raise
                time.sleep(0.5)

    def _wait_deleted(
        self, compute: Compute, operations: dict[str, str], failures: dict[str, str], deadline: float
    ) -> None:
        """Poll the deleting `operations` (instance -> operation) until done or `deadline`, adding to `failures`."""
        from parlay_provider_gcp.compute import done, operation_errors
        from parlay_provider_gcp.failures import operation_failure

        pause = 0.2
        while operations and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(2 * pause, 2.0)
            for node, operation_name in list(operations.items()):
                try:
                    with self._calling(f"zoneOperations.get {operation_name}"):
                        operation = compute.operation(operation_name)
                except ExecutionProviderException as exc:
                    failures[node] = str(exc)
                    del operations[node]
                    continue
                if done(operation):
                    del operations[node]
                    errors = operation_errors(operation)
                    if errors:
                        failures[node] = operation_failure(errors, self)
        if operations:
            logger.warning(
                "%s %r: instances %s are still being deleted after %g s",
                type(self).__name__,
                self.label,
                ", ".join(operations),
                self.delete_timeout,
            )

    def _delete_soon(self, compute: Compute, names: list[str]) -> None:
        """Delete instances without waiting for them to be gone; a failure is logged (the run's sweep deletes
        what is left)."""
        for node, why in self._delete(compute, names, wait=False).items():
            logger.warning("%s %r could not delete instance %s: %s", type(self).__name__, self.label, node, why)

    # --- the API ----------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        endpoint = self.endpoint or os.environ.get(ENDPOINT_VARIABLE)
        return f"project {self.project_id}, zone {self.region}" + (f", at {endpoint}" if endpoint else "")

    def _compute(self, job_name: str | None = None) -> Compute:
        """The API client, made on first use (loading the credentials)."""
        from parlay_provider_gcp.compute import Compute, credentials
        from parlay_provider_gcp.failures import unloadable_credentials

        with self._client_lock:
            if self._client is None:
                try:
                    found = credentials(self.key_file)
                except Exception as exc:
                    message = unloadable_credentials(exc, self)
                    if job_name is not None:
                        raise SubmitException(job_name, message, permanent=True) from exc
                    raise ExecutionProviderException(message) from exc
                endpoint = self.endpoint or os.environ.get(ENDPOINT_VARIABLE)
                self._client = Compute(self.project_id, self.region, found, endpoint, self.api_timeout)
            return self._client

    @contextlib.contextmanager
    def _calling(self, call: str, job_name: str | None = None) -> Iterator[None]:
        """Turn a failed API call into parlay's error quoting the API and saying what to check: a
        `SubmitException` (permanent when no retry can help) when submitting `job_name`."""
        try:
            yield
        except ParlayError:
            raise
        except Exception as exc:
            from parlay_provider_gcp.failures import explain

            message, permanent = explain(exc, self)
            text = f"{call} ({self._where}) failed: {message}"
            if job_name is not None:
                raise SubmitException(job_name, text, permanent=permanent) from exc
            raise ExecutionProviderException(text) from exc
