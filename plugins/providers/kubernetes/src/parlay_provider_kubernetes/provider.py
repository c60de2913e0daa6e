"""`KubernetesProvider`: each block is `nodes_per_block` pods running the launcher's worker command in
`image`, with the executor's keys delivered through a Secret of the run.

Every pod carries the run's and the block's labels and its job id (`parlay-job`); the secret carries the
run's and is journaled the moment it exists. Status is one list call per poll (the run's pods by label); a
pod that cannot start or keeps failing fails its block at once, with the pod's reason and the last lines of
its log, and the pods of a block that ended are deleted then. `cancel` deletes a block's pods; `release` (at
the end of the run) and `parlay cleanup` (after a crash) delete whatever else of the run is left, found by
the journal and the labels.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from typing import Any, ClassVar

import attrs

from parlay.errors import ConfigurationError, ExecutionProviderException, SubmitException
from parlay.options import REQUIRED, Check, count, declare, flag, name, non_negative, one_of, option, optional, state
from parlay.providers.base import JobState, JobStatus
from parlay.providers.cloud import BLOCK_TAG, RUN_TAG, CloudProvider, tag_value
from parlay_provider_kubernetes import manifests
from parlay_provider_kubernetes.api import api_errors, api_message, connect, credentials, explain, kubeconfig_path
from parlay_provider_kubernetes.manifests import JOB_LABEL, dns_label
from parlay_provider_kubernetes.verdicts import judge

logger = logging.getLogger(__name__)

#: Lines of a failed pod's log quoted in its block's status.
LOG_LINES = 20
#: Job ids per label selector of a status or delete call.
_BATCH = 50


def _is_quantity(value: Any) -> bool:
    from kubernetes.utils.quantity import parse_quantity

    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    try:
        return parse_quantity(value) >= 0
    except (ValueError, ArithmeticError):
        return False


quantity = Check(_is_quantity, "a Kubernetes quantity, such as 2, 0.5, '500m', '500Mi' or '2Gi'")
resources = Check(
    lambda v: isinstance(v, dict) and all(isinstance(k, str) and k and _is_quantity(x) for k, x in v.items()),
    "a dict of resource names to quantities, such as {'nvidia.com/gpu': 1}",
)
dns = Check(
    lambda v: isinstance(v, str) and 0 < len(v) <= 63 and dns_label(v, 63) == v,
    "a DNS label: at most 63 lower case letters, digits and '-', starting and ending with a letter or digit",
)
short_dns = Check(lambda v: dns.test(v) and len(v) <= 30, "a DNS label of at most 30 characters (pod names add to it)")
volumes = Check(
    lambda v: (
        isinstance(v, (list, tuple))
        and all(isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) and x for x in p) for p in v)
    ),
    "a list of (claim name, mount path) pairs",
)
unix_id = Check(
    lambda v: count(0).test(v) or (isinstance(v, str) and v.isdigit()),
    "an integer >= 0 (or its digits, as Parsl took it)",
)
strings = Check(
    lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
    "a dict of strings to strings",
)


@declare(
    defaults={"label": "kubernetes", "init_blocks": 4, "max_blocks": 10}, internal=("cores_per_node", "mem_per_node")
)
class KubernetesProvider(CloudProvider):
    """Blocks as Kubernetes pods (`nodes_per_block` of them), with Parsl's options and defaults; the executor's
    keys reach the pods through a Secret of the run, never the pod spec."""

    kind: ClassVar[str] = "kubernetes"

    image: str = option(
        REQUIRED, "the workers' container image: it needs bash, and python3 with parlay-executor-htex", name,
        positional=True,
    )  # fmt: skip
    namespace: str = option("default", "the namespace the pods and the secret are created in", dns, positional=True)
    max_cpu: float | str = option(2, "CPU limit of each pod; its workers see it as `PARLAY_CORES`", quantity)
    max_mem: str = option("500Mi", "memory limit of each pod; its workers see it as `PARLAY_MEMORY_GB`", quantity)
    init_cpu: float | str = option(1, "CPU each pod requests (what the scheduler reserves for it)", quantity)
    init_mem: str = option("250Mi", "memory each pod requests (what the scheduler reserves for it)", quantity)
    extra_requests: dict[str, Any] = option(
        attrs.Factory(dict), "more resources each pod requests, such as {'nvidia.com/gpu': 1}", resources
    )
    extra_limits: dict[str, Any] = option(
        attrs.Factory(dict), "more resource limits of each pod, such as {'nvidia.com/gpu': 1}", resources
    )
    pod_name: str | None = option(
        None, "the start of the pods' names (None: from the block's name)", optional(short_dns)
    )
    user_id: int | str | None = option(
        None, "the user id the worker container runs as (`runAsUser`)", optional(unix_id)
    )
    group_id: int | str | None = option(
        None, "the group id the worker container runs as (`runAsGroup`)", optional(unix_id)
    )
    run_as_non_root: bool = option(False, "refuse to start a container that would run as root (`runAsNonRoot`)", flag)
    secret: str | None = option(None, "an image pull secret, for an image in a private registry", optional(name))
    persistent_volumes: list[tuple[str, str]] = option(
        attrs.Factory(list), "persistent volume claims mounted in each pod: (claim name, mount path) pairs", volumes
    )
    service_account_name: str | None = option(None, "the service account the pods run as", optional(name))
    annotations: dict[str, str] = option(attrs.Factory(dict), "annotations of each pod", strings)
    restart_policy: str = option(
        "Never",
        "when a pod's worker command fails: 'Never' ends its block; 'OnFailure' restarts it in place, and a crash "
        "loop fails the block",
        one_of("Never", "OnFailure"),
    )
    unschedulable_timeout: float = option(
        0,
        "seconds a pod may stay unschedulable before its block fails (0: at the first poll that sees it); "
        "raise it where the cluster adds nodes on demand",
        non_negative("seconds"),
    )
    incluster_config: bool | None = option(
        None,
        "True: the service account of the pod parlay runs in; False: a kubeconfig; None: the service account "
        "inside a pod when neither `kubeconfig` nor `context` is given, else a kubeconfig",
        optional(flag),
    )
    kubeconfig: str | None = option(
        None,
        "the kubeconfig file (None: $KUBECONFIG, else ~/.kube/config)",
        optional(Check(lambda v: isinstance(v, str) and bool(v), "a path")),
    )
    context: str | None = option(None, "the kubeconfig's context (None: its current context)", optional(name))

    _api: Any = state()  # the CoreV1Api, made on first use
    _where: str = state("")  # where its credentials came from, in words
    _lock: threading.Lock = state(factory=threading.Lock)
    _secret: tuple[str, dict[str, str]] | None = state()  # the run's secret: its name and what it holds
    _created: bool = state(False)  # whether this process may have created anything (a refused call creates nothing)
    _submitted: set[str] = state(factory=set)  # jobs this process submitted (not adopted by `parlay cleanup`)
    _ended: dict[str, JobStatus] = state(factory=dict)  # how each block that ended (and was deleted) ended

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        from kubernetes.utils.quantity import parse_quantity

        for request, limit in (("init_cpu", "max_cpu"), ("init_mem", "max_mem")):
            if parse_quantity(getattr(self, request)) > parse_quantity(getattr(self, limit)):
                raise ConfigurationError(
                    f"KubernetesProvider.{request}={getattr(self, request)!r} must not exceed "
                    f"{limit}={getattr(self, limit)!r} (a pod's request is at most its limit)"
                )

    def cleanup_options(self) -> dict[str, Any]:
        kubeconfig = None if self.kubeconfig is None else os.path.abspath(os.path.expanduser(self.kubeconfig))
        where = {"kubeconfig": kubeconfig, "context": self.context, "incluster_config": self.incluster_config}
        return {**super().cleanup_options(), "image": self.image, "namespace": self.namespace, **where}

    # --- blocks -----------------------------------------------------------------------------------

    def _submit(self, command: str, tasks_per_node: int, job_name: str) -> str:
        job_id = f"{dns_label(self.pod_name or job_name, 48)}-{secrets.token_hex(3)}"
        script = self.job_script(command, tasks_per_node, job_name, nodes=1)  # each pod is one node of the block
        if self.script_dir is not None:  # for the user to read: what each pod runs (the keys are not in it)
            with open(self.script_path(job_name), "w") as stream:
                stream.write(script)
        labels = {**self.tags(job_name), JOB_LABEL: job_id}
        doing, created = "configuring the Kubernetes client", False
        try:
            api = self._client()
            doing = f"creating the run's secret in namespace {self.namespace!r}"
            keys = self._keys_secret(api)
            for index in range(self.nodes_per_block):
                doing = f"creating pod {job_id}-{index} in namespace {self.namespace!r}"
                body = manifests.pod(self, f"{job_id}-{index}", labels, script, self._sizes(), keys)
                self._create(api.create_namespaced_pod, body)
                created = True
        except api_errors() as exc:
            message, permanent = explain(exc, doing, self.namespace, self._where)
            if created:  # leave no half block
                try:
                    self._delete_pods([job_id])
                except ExecutionProviderException as again:
                    logger.warning("%s; release() or parlay cleanup deletes them later", again)
            raise SubmitException(job_name, message, permanent=permanent) from exc
        self._submitted.add(job_id)
        return job_id

    def _status(self, job_ids: list[str]) -> list[JobStatus]:
        asked = [job_id for job_id in job_ids if job_id not in self._ended]
        pods = self._pods_of(asked) if asked else {}
        statuses, ended = [], []
        for job_id in job_ids:
            status = self._ended.get(job_id) or self._block_status(job_id, pods.get(job_id, []))
            if status.terminal and job_id in self._submitted:
                self._submitted.discard(job_id)
                self._ended[job_id] = status
                ended.append(job_id)
            statuses.append(status)
        if ended:  # free what the pods of blocks that ended hold (their statuses are remembered)
            try:
                self._delete_pods(ended)
            except ExecutionProviderException as exc:
                logger.warning("%s; release() or parlay cleanup deletes them later", exc)
        return statuses

    def _cancel(self, job_ids: list[str]) -> list[bool]:
        self._delete_pods(job_ids)
        self._submitted.difference_update(job_ids)
        return [True] * len(job_ids)

    def release(self) -> None:
        try:
            if self._created:  # else there is nothing to delete (and perhaps no credentials to look with)
                super().release()
        finally:
            with self._lock:
                api, self._api = self._api, None
            if api is not None:
                api.api_client.close()

    def sweep(self, run_id: str, recorded: Any = (), dry_run: bool = False) -> list[str]:
        """Delete the run's pods and secrets that are left, found by their labels and by the journal."""
        selector = f"{RUN_TAG}={tag_value(run_id)}"
        try:
            api = self._client()
            return self._sweep_pods(api, selector, dry_run) + self._sweep_secrets(api, selector, recorded, dry_run)
        except api_errors() as exc:
            raise self._failure(exc, f"cleaning up run {run_id} in namespace {self.namespace!r}") from exc

    def _sweep_pods(self, api: Any, selector: str, dry_run: bool) -> list[str]:
        lines = []
        pods = api.list_namespaced_pod(self.namespace, label_selector=selector, _request_timeout=self.api_timeout)
        for pod in pods.items:
            if pod.metadata.deletion_timestamp is not None:
                continue
            alive = not judge(pod, self.unschedulable_timeout).state.terminal
            if dry_run and alive and pod.metadata.labels.get(JOB_LABEL) in self.job_names:
                continue  # its job is reported: it would be cancelled
            if not dry_run:
                self._if_there(api.delete_namespaced_pod, pod.metadata.name, grace_period_seconds=0)
            block = pod.metadata.labels.get(BLOCK_TAG, "?")
            verb = "would be deleted" if dry_run else "deleted"
            lines.append(f"pod {pod.metadata.name} (block {block}, {pod.status.phase}): {verb}")
        return lines

    def _sweep_secrets(self, api: Any, selector: str, recorded: Any, dry_run: bool) -> list[str]:
        listed = api.list_namespaced_secret(self.namespace, label_selector=selector, _request_timeout=self.api_timeout)
        labelled = {secret.metadata.name for secret in listed.items}
        journaled = {entry["resource_id"] for entry in recorded if entry.get("resource") == "secret"}
        lines = []
        for secret in sorted(labelled | journaled):
            if secret in labelled or self._if_there(api.read_namespaced_secret, secret):
                if not dry_run and self._if_there(api.delete_namespaced_secret, secret):
                    self.forget("secret", secret)
                    if self._secret is not None and self._secret[0] == secret:
                        self._secret = None
                lines.append(f"secret {secret}: {'would be deleted' if dry_run else 'deleted'}")
        return lines

    # --- inside -----------------------------------------------------------------------------------

    def _client(self) -> Any:
        with self._lock:
            if self._api is None:
                path = kubeconfig_path(self.kubeconfig, self.context, self.incluster_config)
                self._where = credentials(path, self.context)
                self._api = connect(path, self.context)
            return self._api

    def _failure(self, exc: BaseException, what: str) -> ExecutionProviderException:
        return ExecutionProviderException(explain(exc, what, self.namespace, self._where)[0])

    def _keys_secret(self, api: Any) -> str | None:
        """The run's secret holding `secret_environment`, created (and journaled) when first needed or when
        what it must hold changed."""
        if not self.secret_environment:
            return None
        with self._lock:
            if self._secret is not None and self._secret[1] == self.secret_environment:
                return self._secret[0]
            values = dict(self.secret_environment)
            name = f"{dns_label(self.pod_name or 'parlay', 30)}-keys-{secrets.token_hex(4)}"
            body = manifests.secret(name, self.tags(), values)
            self._create(api.create_namespaced_secret, body)
            self.record("secret", name, namespace=self.namespace)
            self._secret = (name, values)
            return name

    def _create(self, call: Any, body: dict[str, Any]) -> None:
        """Create an object, noting that the run may have created something unless the API refused it."""
        from kubernetes.client.exceptions import ApiException

        refused = False
        try:
            call(self.namespace, body, _request_timeout=self.api_timeout)
        except ApiException as exc:
            refused = exc.status < 500  # a server error may come after the object was stored
            raise
        finally:
            self._created = self._created or not refused

    def _sizes(self) -> dict[str, str]:
        """What the workers see of their pod's size: its CPU and memory limits."""
        from kubernetes.utils.quantity import parse_quantity

        gigabytes = parse_quantity(self.max_mem) / 2**30
        return {"PARLAY_CORES": f"{parse_quantity(self.max_cpu).normalize():f}", "PARLAY_MEMORY_GB": f"{gigabytes:.4g}"}

    def _pods_of(self, job_ids: list[str]) -> dict[str, list[Any]]:
        """The pods of each job: the run's, in one list call; without a run id (`parlay cleanup`), by job id."""
        selectors = [f"{RUN_TAG}={tag_value(self.run_id)}"] if self.run_id is not None else _of_jobs(job_ids)
        found: dict[str, list[Any]] = {}
        try:
            api = self._client()
            for selector in selectors:
                for pod in api.list_namespaced_pod(
                    self.namespace, label_selector=selector, _request_timeout=self.api_timeout
                ).items:
                    found.setdefault(pod.metadata.labels.get(JOB_LABEL, ""), []).append(pod)
        except api_errors() as exc:
            raise self._failure(exc, f"listing the pods in namespace {self.namespace!r}") from exc
        return found

    def _block_status(self, job_id: str, pods: list[Any]) -> JobStatus:
        if not pods:
            return JobStatus(
                JobState.MISSING, message=f"no pod of block {job_id} is left in namespace {self.namespace!r}"
            )
        verdicts = [
            (pod, judge(pod, self.unschedulable_timeout)) for pod in sorted(pods, key=lambda p: p.metadata.name)
        ]
        for pod, verdict in verdicts:
            if verdict.state is JobState.FAILED:
                message = verdict.message + self._log_tail(pod.metadata.name, verdict.log_of, verdict.previous)
                return JobStatus(JobState.FAILED, message=message, exit_code=verdict.exit_code)
        states = {verdict.state for _, verdict in verdicts}
        if states == {JobState.COMPLETED}:
            return JobStatus(JobState.COMPLETED, exit_code=0)
        for shown in (JobState.RUNNING, JobState.PENDING, JobState.UNKNOWN):
            if shown in states:
                messages = [verdict.message for _, verdict in verdicts if verdict.state is shown and verdict.message]
                return JobStatus(shown, message="; ".join(messages) or None)
        return JobStatus(JobState.UNKNOWN)

    def _log_tail(self, pod: str, container: str | None, previous: bool) -> str:
        """The last lines of the log of a pod's container that ran, for its block's status."""
        if container is None:
            return ""
        try:  # undecoded: this client turns a text answer into the repr of its bytes
            answer = self._client().read_namespaced_pod_log(
                pod,
                self.namespace,
                container=container,
                tail_lines=LOG_LINES,
                previous=previous,
                _preload_content=False,
                _request_timeout=self.api_timeout,
            )
            text = answer.data.decode(errors="replace").rstrip()
            answer.release_conn()
        except api_errors() as exc:
            return f"\n(its log could not be read: {api_message(exc)})"
        return f"\nthe last lines of its log:\n{text}" if text else "\n(its log is empty)"

    def _delete_pods(self, job_ids: list[str]) -> None:
        try:
            api = self._client()
            for selector in _of_jobs(job_ids):
                api.delete_collection_namespaced_pod(
                    self.namespace, label_selector=selector, grace_period_seconds=0, _request_timeout=self.api_timeout
                )
        except api_errors() as exc:
            raise self._failure(
                exc, f"deleting the pods of {', '.join(job_ids)} in namespace {self.namespace!r}"
            ) from exc

    def _if_there(self, call: Any, name: str, **options: Any) -> bool:
        """Make a call about one object; False if the API says it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            call(name, self.namespace, _request_timeout=self.api_timeout, **options)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _of_jobs(job_ids: list[str]) -> list[str]:
    """Label selectors of the pods of `job_ids`, a batch of jobs each."""
    return [f"{JOB_LABEL} in ({','.join(job_ids[i : i + _BATCH])})" for i in range(0, len(job_ids), _BATCH)]
