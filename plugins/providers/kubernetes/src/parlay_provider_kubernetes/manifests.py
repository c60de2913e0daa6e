"""The objects the provider creates, as the API's JSON: a block's pods and the run's secret."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parlay_provider_kubernetes.provider import KubernetesProvider

#: The label naming a block's job id on each of its pods (beside the run's and the block's tags).
JOB_LABEL = "parlay-job"
#: The name of the worker container in each pod.
CONTAINER = "worker"


def dns_label(text: str, limit: int) -> str:
    """`text` as part of a Kubernetes name: lower case letters, digits and `-`, at most `limit` characters."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower())[:limit].strip("-") or "parlay"


def quantity_text(amount: float | str) -> str:
    """A quantity as the API takes it: `2`, `0.5`, `'500m'`, `'500Mi'`."""
    return str(amount)


def pod(
    provider: KubernetesProvider,
    name: str,
    labels: dict[str, str],
    script: str,
    environment: dict[str, str],
    keys_secret: str | None,
) -> dict[str, Any]:
    """A pod of `provider`'s options running `script` with bash: `environment` in plain sight, the variables
    of secret `keys_secret` through `envFrom`."""
    limits = {"cpu": provider.max_cpu, "memory": provider.max_mem, **provider.extra_limits}
    requests = {"cpu": provider.init_cpu, "memory": provider.init_mem, **provider.extra_requests}
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": provider.image,
        "command": ["/bin/bash", "-c", script],
        "env": [{"name": key, "value": value} for key, value in environment.items()],
        "resources": {
            "requests": {key: quantity_text(value) for key, value in requests.items()},
            "limits": {key: quantity_text(value) for key, value in limits.items()},
        },
    }
    if keys_secret is not None:
        container["envFrom"] = [{"secretRef": {"name": keys_secret}}]
    security: dict[str, Any] = {"runAsUser": provider.user_id, "runAsGroup": provider.group_id}
    security = {key: int(value) for key, value in security.items() if value is not None}
    if provider.run_as_non_root:
        security["runAsNonRoot"] = True
    if security:
        container["securityContext"] = security
    volumes = [(dns_label(claim, 63), claim, path) for claim, path in provider.persistent_volumes]
    if volumes:
        container["volumeMounts"] = [{"name": volume, "mountPath": path} for volume, _, path in volumes]
    spec: dict[str, Any] = {"containers": [container], "restartPolicy": provider.restart_policy}
    if volumes:
        spec["volumes"] = [
            {"name": volume, "persistentVolumeClaim": {"claimName": claim}} for volume, claim, _ in volumes
        ]
    if provider.secret:
        spec["imagePullSecrets"] = [{"name": provider.secret}]
    if provider.service_account_name:
        spec["serviceAccountName"] = provider.service_account_name
    metadata = {"name": name, "labels": labels, "annotations": dict(provider.annotations)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def secret(name: str, labels: dict[str, str], values: dict[str, str]) -> dict[str, Any]:
    """An Opaque secret of environment variables, which pods take with `envFrom`."""
    metadata = {"name": name, "labels": labels}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "stringData": values}
