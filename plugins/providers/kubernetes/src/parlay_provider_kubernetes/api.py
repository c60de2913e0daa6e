"""Reaching the API server: the official client, configured from the service account of the pod parlay runs
in or from a kubeconfig, and what an API error means for the user (and whether trying again can help).

The SDK is imported inside these functions only, so that `import parlay` and `parlay plugins` stay light.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

#: Where Kubernetes mounts a pod's service account token.
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
RBAC = (
    "the account needs create, get, list, delete and deletecollection on pods, get on pods/log, and create, get, "
    "list and delete on secrets"
)


def in_a_pod() -> bool:
    """Whether this process runs in a Kubernetes pod with a service account."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(SERVICE_ACCOUNT_TOKEN)


def kubeconfig_path(kubeconfig: str | None, context: str | None, incluster: bool | None) -> str | None:
    """The kubeconfig to read: `kubeconfig`, else `$KUBECONFIG` (a colon-separated list is merged), else
    `~/.kube/config`; None for the service account of the pod parlay runs in, which is used when `incluster`
    is True, or None with no kubeconfig or context given inside a pod."""
    if incluster or (incluster is None and kubeconfig is None and context is None and in_a_pod()):
        return None
    return kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def credentials(path: str | None, context: str | None) -> str:
    """Where the credentials of `connect(path, context)` come from, in words."""
    if path is None:
        return "the service account of this pod"
    return f"the kubeconfig {path}" + (f" (context {context})" if context else "")


def connect(path: str | None, context: str | None) -> Any:
    """A `CoreV1Api` with the credentials of kubeconfig `path` and `context` (None: in-cluster)."""
    from kubernetes import client, config

    if path is None:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.CoreV1Api(client.ApiClient(configuration))
    return client.CoreV1Api(config.new_client_from_config(config_file=path, context=context, persist_config=False))


def api_errors() -> tuple[type[BaseException], ...]:
    """What an API call, or configuring the client, raises: refusals, a network that fails, bad credentials."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    return ApiException, ConfigException, HTTPError, OSError


def api_message(exc: BaseException) -> str:
    """The API's own message: the `message` of the `Status` it answered, else what the client said."""
    body = getattr(exc, "body", None)
    if body:
        try:
            return str(json.loads(body)["message"])
        except (ValueError, KeyError, TypeError):
            return str(body).strip()
    return str(getattr(exc, "reason", None) or exc).strip()


def explain(exc: BaseException, what: str, namespace: str, where: str) -> tuple[str, bool]:
    """`what` failed because of `exc`: the API's message with what to check, and whether trying again cannot
    help (wrong credentials, missing permissions or namespace, a pod the API rejects, a block larger than the
    quota)."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    if isinstance(exc, ConfigException):
        return f"{what}: no usable Kubernetes credentials in {where}: {exc}", True
    if not isinstance(exc, ApiException) or not exc.status:  # status 0: the client's TLS or protocol error
        return f"{what}: cannot reach the API server of {where}: {exc}; check its address and the network", False
    message = api_message(exc)
    hint, permanent = _advice(exc.status, message, namespace, where)
    return f"{what}: the API answered {exc.status} {exc.reason}: {message}{hint}", permanent


def _advice(status: int, message: str, namespace: str, where: str) -> tuple[str, bool]:
    """What to check after the API answered `status` with `message`, and whether trying again cannot help."""
    if status == 401:
        return f"; the credentials of {where} were not accepted: check its user, or log in again", True
    if status == 403 and re.search(r"quota", message, re.IGNORECASE):
        if beyond_quota(message):
            advice = "one pod alone asks for more than the namespace's quota: lower init_cpu, max_cpu, init_mem or "
            return f"; {advice}max_mem, or ask for a larger quota", True
        advice = f"the ResourceQuota of namespace {namespace!r} is used up: parlay tries again as other pods end"
        return f"; {advice} (lower max_blocks, or ask for a larger quota)", False
    if status == 403:
        return f"; {where} lacks a permission in namespace {namespace!r}: {RBAC}", True
    if status == 404 and re.search(r'namespaces? "', message):
        create = f"kubectl create namespace {namespace}"
        return (
            f"; namespace {namespace!r} does not exist: create it ({create}) or set KubernetesProvider.namespace",
            True,
        )
    if status in (400, 404, 422):
        return "; check the provider's options", True
    return "", False  # a name clash, throttling, a server in trouble: may pass


def beyond_quota(message: str) -> bool:
    """Whether a quota refusal ("exceeded quota: NAME, requested: R=N,..., used: ..., limited: R=N,...") asks
    for more than the quota's whole limit, which no wait can make room for."""
    from kubernetes.utils.quantity import parse_quantity

    match = re.search(r"requested: (\S+), used: \S+, limited: (\S+)", message)
    if match is None:
        return False
    requested, limited = (
        dict(item.split("=", 1) for item in part.split(",") if "=" in item) for part in match.groups()
    )
    try:
        return any(parse_quantity(amount) > parse_quantity(limited[name]) for name, amount in requested.items()
                   if name in limited)  # fmt: skip
    except ValueError:
        return False
