"""`EC2StandIn`: Amazon EC2 on loopback, for tests (needs the plugin's `test` extra, moto's server).

moto's server answers the real EC2 HTTP API, in a thread of this process, with its own validation of AMIs and
instance types switched on. In front of it, a WSGI layer answers as AWS would what moto does not check:
credentials other than the stand-in's (`AuthFailure`, HTTP 401), and refusals a test asks for (a quota, no
capacity) as EC2's error XML. A watcher polls the instances: each new one's user-data runs as a `LocalMachine`
(a local process group in a folder of its own), with `python3` from this Python's environment (as an image
with parlay installed would have) and a `shutdown` that asks the stand-in to apply the instance's
InstanceInitiatedShutdownBehavior through the API; an instance that is stopped or terminated has its group
killed. Tests point boto3 at it with `environment()`::

    with EC2StandIn(tmp_path / "ec2") as ec2:
        for name, value in ec2.environment().items():
            monkeypatch.setenv(name, value)  # child processes (`parlay cleanup`) reach it too
"""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import threading
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from parlay.testing.machines import LocalMachine

logger = logging.getLogger(__name__)

KEY_ID = "PARLAYSTANDINKEY"
SECRET_KEY = "parlay-stand-in-secret"
#: Calls that create something, which `refuse_next` refuses.
CREATING = ("Create", "Run", "Request", "Allocate")
LIVE = ("pending", "running")


class _Refusal:
    def __init__(self, action: str | None, code: str, message: str, status: int, times: int | None):
        self.action, self.code, self.message, self.status, self.times = action, code, message, status, times

    def matches(self, action: str) -> bool:
        return action == self.action if self.action else action.startswith(CREATING)


class _Gate:
    """The WSGI layer in front of moto: checks the caller's access key and answers injected refusals."""

    def __init__(self, app: Any):
        self.app = app
        self.refusals: list[_Refusal] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        credential = re.search(r"Credential=([^/,\s]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        if credential and credential.group(1) != KEY_ID:
            text = "AWS was not able to validate the provided access credentials"
            return _error(start_response, 401, "AuthFailure", text)
        refusal = self._take(action)
        if refusal is not None:
            return _error(start_response, refusal.status, refusal.code, refusal.message)
        return self.app(environ, start_response)

    def _take(self, action: str) -> _Refusal | None:
        with self.lock:
            for refusal in self.refusals:
                if refusal.matches(action):
                    if refusal.times is not None:
                        refusal.times -= 1
                        if refusal.times == 0:
                            self.refusals.remove(refusal)
                    return refusal
        return None


def _error(start_response: Any, status: int, code: str, message: str) -> list[bytes]:
    """EC2's error answer."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    reason = {400: "Bad Request", 401: "Unauthorized", 500: "Internal Server Error", 503: "Service Unavailable"}
    start_response(
        f"{status} {reason.get(status, 'Error')}", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]


class EC2StandIn:
    """moto's EC2 server with instances that run their user-data; see the module's docstring."""

    def __init__(self, folder: str | os.PathLike, region: str = "us-east-2", tick: float = 0.1):
        self.folder = Path(folder)
        self.region = region
        self.tick = tick
        self.instances: dict[str, LocalMachine] = {}
        self._server: Any = None
        self._gate: _Gate | None = None
        self._stop = threading.Event()
        self._serving: threading.Thread | None = None
        self._watching: threading.Thread | None = None
        self._saved_settings: dict[str, Any] = {}

    # --- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> EC2StandIn:
        from moto import settings
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        class Quiet(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        validations = ("ENABLE_AMI_VALIDATION", "EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "ENABLE_KEYPAIR_VALIDATION")
        for setting in validations:  # as AWS does
            self._saved_settings[setting] = getattr(settings, setting)
            setattr(settings, setting, True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._gate = _Gate(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", 0, self._gate, threaded=True, request_handler=Quiet)
        self._serving = self._start(lambda: self._server.serve_forever(poll_interval=0.05), "server")
        self._reset()  # moto's state is global to this process: start from nothing
        self.client = self.make_client()
        self.image_id = self._an_image()
        self._watching = self._start(self._watch, "watcher")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._watching is not None:
            self._watching.join()
        for instance in self.instances.values():
            instance.halt()
        self._reset()
        self._server.shutdown()
        if self._serving is not None:
            self._serving.join()
        from moto import settings

        for setting, value in self._saved_settings.items():
            setattr(settings, setting, value)

    def _an_image(self) -> str:
        """An AMI moto knows in the region (asking for all of them takes a second)."""
        images = self.client.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["*ubuntu*"]}])
        return (images["Images"] or self.client.describe_images(Owners=["amazon"])["Images"])[0]["ImageId"]

    def _start(self, target: Any, what: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"ec2-stand-in-{what}", daemon=True)
        thread.start()
        return thread

    def _reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def environment(self) -> dict[str, str]:
        """What boto3 needs to reach the stand-in: its endpoint, its keys and no instance-metadata probe."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def make_client(self) -> Any:
        import boto3

        return boto3.client(
            "ec2",
            region_name=self.region,
            endpoint_url=self.url,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET_KEY,
        )

    # --- what tests ask -------------------------------------------------------------------------------

    def refuse(
        self, code: str, message: str, action: str | None = None, status: int = 400, times: int | None = 1
    ) -> None:
        """Answer the next `times` calls of `action` (None: calls that create something; `times=None`: every
        call from now on) with EC2's error `code` and `message`."""
        assert self._gate is not None
        with self._gate.lock:
            self._gate.refusals.append(_Refusal(action, code, message, status, times))

    def refuse_next(self, message: str) -> None:
        """Refuse the next creating call with an EC2 quota error carrying `message`."""
        self.refuse("ResourceLimitExceeded", message)

    def resources(self) -> list[tuple[str, str, dict[str, str]]]:
        """Everything alive: instances not terminated, open or active spot requests, volumes, VPCs, subnets,
        security groups, internet gateways and route tables, as (kind, id, tags)."""
        ec2 = self.client
        found = []
        for reservation in ec2.describe_instances()["Reservations"]:
            for item in reservation["Instances"]:
                if item["State"]["Name"] != "terminated":
                    found.append(("instance", item["InstanceId"], _tags(item)))
        listings = [
            ("spot-instances-request", ec2.describe_spot_instance_requests, "SpotInstanceRequests",
             "SpotInstanceRequestId"),
            ("volume", ec2.describe_volumes, "Volumes", "VolumeId"),
            ("vpc", ec2.describe_vpcs, "Vpcs", "VpcId"),
            ("subnet", ec2.describe_subnets, "Subnets", "SubnetId"),
            ("security-group", ec2.describe_security_groups, "SecurityGroups", "GroupId"),
            ("internet-gateway", ec2.describe_internet_gateways, "InternetGateways", "InternetGatewayId"),
            ("route-table", ec2.describe_route_tables, "RouteTables", "RouteTableId"),
        ]  # fmt: skip
        for kind, call, listed, key in listings:
            for item in call()[listed]:
                if item.get("State") not in ("cancelled", "closed", "failed", "deleting", "deleted"):
                    found.append((kind, item[key], _tags(item)))
        return found

    def running(self) -> list[str]:
        """The instances with processes of their user-data running."""
        return [ident for ident, instance in self.instances.items() if instance.alive]

    # --- the instances --------------------------------------------------------------------------------

    def _watch(self) -> None:
        client = self.make_client()
        while not self._stop.wait(self.tick):
            try:
                self._look(client)
            except Exception:  # the next look may work (a reset in between); never stop watching
                logger.exception("the EC2 stand-in's watcher failed to look at the instances")

    def _look(self, client: Any) -> None:
        for page in client.get_paginator("describe_instances").paginate():
            for reservation in page["Reservations"]:
                for item in reservation["Instances"]:
                    ident, state = item["InstanceId"], item["State"]["Name"]
                    instance = self.instances.get(ident)
                    if state in LIVE and instance is None:
                        self.instances[ident] = self._boot(client, ident)
                    elif state in LIVE and instance.powered_off:
                        self._shut_down(client, ident, instance)
                    elif state not in LIVE and instance is not None:
                        instance.halt()

    def _boot(self, client: Any, ident: str) -> LocalMachine:
        answer = client.describe_instance_attribute(InstanceId=ident, Attribute="userData")
        data = base64.b64decode(answer.get("UserData", {}).get("Value") or "")
        machine = LocalMachine(
            self.folder / ident, data, script_name="user-data", console_name="output.log", interpreter=None
        )
        if data:  # an instance without user-data runs nothing
            machine.boot()
        return machine

    def _shut_down(self, client: Any, ident: str, instance: LocalMachine) -> None:
        """The instance ran `shutdown`: what its InstanceInitiatedShutdownBehavior says."""
        instance.marker.unlink()
        answer = client.describe_instance_attribute(InstanceId=ident, Attribute="instanceInitiatedShutdownBehavior")
        if answer["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate":
            client.terminate_instances(InstanceIds=[ident])
        else:
            client.stop_instances(InstanceIds=[ident])
        instance.halt()


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in item.get("Tags", [])}
