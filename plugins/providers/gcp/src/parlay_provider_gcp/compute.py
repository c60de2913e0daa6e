"""The Compute Engine calls the provider makes, through Google's official client (`google-cloud-compute`, its
REST transport), in one project and zone. Imported only when a provider first calls the API."""

from __future__ import annotations

import google.auth
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.cloud import compute_v1
from google.oauth2 import service_account

SCOPES = ["https://www.googleapis.com/auth/compute"]


def credentials(key_file: str | None) -> google.auth.credentials.Credentials:
    """A service account's key file's credentials, or Application Default Credentials when `key_file` is None."""
    if key_file is None:
        found, _ = google.auth.default(scopes=SCOPES)
        return found
    return service_account.Credentials.from_service_account_file(key_file, scopes=SCOPES)


class Compute:
    """Instances, their operations and boot images in one project and zone; each call gives up after
    `timeout` seconds. Errors are the client's own (`google.api_core.exceptions`, `google.auth.exceptions`)."""

    def __init__(
        self,
        project: str,
        zone: str,
        found: google.auth.credentials.Credentials,
        endpoint: str | None,
        timeout: float,
    ):
        self.project, self.zone, self.timeout = project, zone, timeout
        options = ClientOptions(api_endpoint=endpoint) if endpoint else None
        self.instances = compute_v1.InstancesClient(credentials=found, client_options=options, transport="rest")
        self.operations = compute_v1.ZoneOperationsClient(credentials=found, client_options=options, transport="rest")
        self.images = compute_v1.ImagesClient(credentials=found, client_options=options, transport="rest")

    def image_from_family(self, project: str, family: str) -> str:
        """The address of the newest image of `family` in `project`."""
        return self.images.get_from_family(project=project, family=family, timeout=self.timeout).self_link

    def insert(self, instance: compute_v1.Instance) -> str:
        """Ask for an instance; the name of the operation creating it."""
        operation = self.instances.insert(
            project=self.project, zone=self.zone, instance_resource=instance, timeout=self.timeout
        )
        return operation.name

    def get(self, name: str) -> compute_v1.Instance | None:
        """The instance, or None if there is none of that name."""
        try:
            return self.instances.get(project=self.project, zone=self.zone, instance=name, timeout=self.timeout)
        except exceptions.NotFound:
            return None

    def list(self, label_filter: dict[str, str]) -> list[compute_v1.Instance]:
        """The instances carrying every label of `label_filter`."""
        text = " AND ".join(f'(labels.{key} = "{value}")' for key, value in sorted(label_filter.items()))
        request = compute_v1.ListInstancesRequest(project=self.project, zone=self.zone, filter=text)
        return list(self.instances.list(request=request, timeout=self.timeout))

    def delete(self, name: str) -> str | None:
        """Ask for an instance (and its auto-deleted boot disk) to be deleted; the operation's name, or None if
        there is no such instance."""
        try:
            operation = self.instances.delete(project=self.project, zone=self.zone, instance=name, timeout=self.timeout)
        except exceptions.NotFound:
            return None
        return operation.name

    def operation(self, name: str) -> compute_v1.Operation:
        return self.operations.get(project=self.project, zone=self.zone, operation=name, timeout=self.timeout)

    def serial_output(self, name: str) -> str:
        """What the instance wrote to its first serial port (its startup script's output, through the guest
        agent)."""
        request = compute_v1.GetSerialPortOutputInstanceRequest(
            project=self.project, zone=self.zone, instance=name, port=1
        )
        return self.instances.get_serial_port_output(request=request, timeout=self.timeout).contents


def instance(
    name: str, machine_type: str, image: str, script: str, labels: dict[str, str], description: str
) -> compute_v1.Instance:
    """An instance booted from `image` with `script` as its startup script, on the default network with an
    external address (to reach the submitting host), no service account, and `labels` on it and on its boot
    disk, which is deleted with it."""
    disk = compute_v1.AttachedDisk(
        boot=True,
        auto_delete=True,
        initialize_params=compute_v1.AttachedDiskInitializeParams(source_image=image, labels=labels),
    )
    nat = compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")
    return compute_v1.Instance(
        name=name,
        description=description,
        machine_type=machine_type,
        labels=labels,
        disks=[disk],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default", access_configs=[nat])],
        metadata=compute_v1.Metadata(items=[compute_v1.Items(key="startup-script", value=script)]),
    )


def done(operation: compute_v1.Operation) -> bool:
    return operation.status == compute_v1.Operation.Status.DONE


def operation_errors(operation: compute_v1.Operation) -> list[tuple[str, str]]:
    """The (code, message) of each error a finished operation reports."""
    return [(error.code, error.message) for error in operation.error.errors]
