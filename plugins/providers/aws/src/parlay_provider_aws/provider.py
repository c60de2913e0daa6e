"""`AWSProvider`: each block is `nodes_per_block` EC2 instances, started by one RunInstances call (its
reservation id is the job id), each running the block's script from its user-data.

The instances, their volumes and spot requests carry the run's, the block's and the provider's tags from
their creation (TagSpecifications). Networking the user does not give is created for the run, tagged and
journaled (`network.py`). `sweep` finds what a run left by the journal and the tags, terminates its
instances, cancels its spot requests, waits (bounded) for the instances to be gone and deletes its
networking and left-over volumes.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from parlay.config import parse_duration
from parlay.errors import ExecutionProviderException, SubmitException
from parlay.options import REQUIRED, Check, amount, declare, duration, flag, name, option, optional, state, text
from parlay.providers.base import JobStatus
from parlay.providers.cloud import BLOCK_TAG, PROVIDER_TAG, RUN_TAG, CloudProvider, tag_value
from parlay_provider_aws import network
from parlay_provider_aws.api import api_errors, describe, ec2_client
from parlay_provider_aws.states import ENDED, block_status

#: The tag that tells apart the resources of two providers (labels) of one run.
#: EC2 refuses user-data longer than this (before base64).
USER_DATA_LIMIT = 16 * 1024
#: Instance states whose instances still hold their subnet and security group.
HOLDING = ["pending", "running", "shutting-down", "stopping", "stopped"]


def _is_price(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    try:
        return float(value) >= 0
    except ValueError:
        return False


@declare(defaults={"label": "ec2", "max_blocks": 10}, internal=("cores_per_node", "mem_per_node"))
class AWSProvider(CloudProvider):
    """Blocks as EC2 instances (on-demand, or spot with `spot_max_bid`), with Parsl's options and defaults."""

    kind: ClassVar[str] = "aws"

    image_id: str = option(
        REQUIRED,
        "the AMI the instances boot; it must have python3 with parlay and the executor's plugin, or `worker_init` "
        "must install them",
        name,
        positional=True,
    )
    key_name: str | None = option(
        None,
        "the EC2 key pair that may log in to the instances (SSH); None: none",
        optional(name),
        positional=True,
    )
    instance_type: str = option("t2.small", "the EC2 instance type of each node", name)
    region: str = option("us-east-2", "the AWS region the instances run in", name)
    spot_max_bid: float | str = option(
        0,
        "above 0: spot instances, at this price at most (US dollars an hour); 0: on-demand instances",
        Check(_is_price, "a price >= 0"),
    )
    key_file: str | None = option(
        None,
        "a JSON file with `aws_access_key_id` and `aws_secret_access_key` (or Parsl's `AWSAccessKeyId` and "
        "`AWSSecretKey`); None: boto3 finds the credentials (environment, `profile`, instance role)",
        optional(Check(lambda value: isinstance(value, str) and bool(value), "a file path")),
    )
    profile: str | None = option(None, "a profile of the AWS config files (~/.aws/config)", optional(name))
    iam_instance_profile_arn: str = option("", "the IAM instance profile the instances run with; '': none", text)
    state_file: None = option(
        None,
        "Parsl's file of created networking; parlay keeps none (its journal and tags replace it), so only None",
        Check(
            lambda value: value is None,
            "None: parlay journals what a run creates in runinfo/NNN/jobs.jsonl and deletes it at the end "
            "(or `parlay cleanup RUN_DIR`); to use the same networking in every run give vpc_id, subnet_id and "
            "security_group_id",
        ),
    )
    walltime: str | float = option(
        "01:00:00",
        "longest a block may run ('HH:MM:SS' or seconds): workers drain before it ends, and with linger=False the "
        "instances shut down at its end",
        duration,
    )
    linger: bool = option(
        False,
        "False: an instance shuts down, and so is terminated, when its script ends or its walltime is over; True: "
        "it stays until parlay terminates it",
        flag,
    )
    vpc_id: str | None = option(None, "a VPC to run the instances in; None: one is created for the run", optional(name))
    subnet_id: str | None = option(
        None, "a subnet to run the instances in (default: one of `vpc_id`, or one created for the run)", optional(name)
    )
    security_group_id: str | None = option(
        None, "the instances' security group; None: one is created for the run", optional(name)
    )
    ssh_cidr: str = option(
        "0.0.0.0/0", "where SSH may come from, in the security group created for the run when `key_name` is set", name
    )
    terminate_timeout: float = option(
        300,
        "seconds the cleanup waits for the run's instances to be terminated before it deletes their networking",
        amount("seconds"),
    )

    _client: Any = state()
    _lock: threading.Lock = state(factory=threading.Lock)
    _placement: tuple[str, str] | None = state()  # (subnet, security group) of the run's instances, once known
    _created: dict[str, set[str]] = state(factory=dict)  # networking this provider created: kind -> ids

    @property
    def walltime_seconds(self) -> float:
        """`walltime` in seconds."""
        return parse_duration(self.walltime, f"{type(self).__name__}.walltime")  # type: ignore[return-value]

    @property
    def spot(self) -> bool:
        return float(self.spot_max_bid) > 0

    def cleanup_options(self) -> dict[str, Any]:
        options = {**super().cleanup_options(), "image_id": self.image_id, "region": self.region}
        if self.profile is not None:
            options["profile"] = self.profile
        if self.key_file is not None:  # `parlay cleanup` may run elsewhere
            options["key_file"] = os.path.abspath(os.path.expanduser(self.key_file))
        return options

    # --- the block's script -----------------------------------------------------------------------

    def _environment(self) -> list[str]:
        seconds = int(self.walltime_seconds)
        lines = [f"export PARLAY_BLOCK_DEADLINE=$(( $(date +%s) + {seconds} ))"]
        if not self.linger:  # an instance that shuts down is terminated (InstanceInitiatedShutdownBehavior)
            lines += ["trap 'shutdown -h now' EXIT", f"( sleep {seconds}; shutdown -h now ) >/dev/null 2>&1 &"]
        return lines

    def user_data(self, command: str, tasks_per_node: int, job_name: str) -> str:
        """The script each instance of the block runs, with `secret_environment` exported; the same script
        without the secrets is written to `script_dir` for the user to read."""
        self.write_script(command, tasks_per_node, job_name, nodes=1)  # each instance is one node
        return self.startup_script(command, tasks_per_node, job_name)

    # --- submit, status, cancel -------------------------------------------------------------------

    def _submit(self, command: str, tasks_per_node: int, job_name: str) -> str:
        user_data = self.user_data(command, tasks_per_node, job_name)
        size = len(user_data.encode())
        if size > USER_DATA_LIMIT:
            text = f"the block's user-data is {size} bytes, over EC2's limit of {USER_DATA_LIMIT}: shorten worker_init"
            raise SubmitException(job_name, text, permanent=True)
        try:
            ec2 = self.ec2()
            subnet, group = self._place(ec2)
            answer = ec2.run_instances(**self._launch(user_data, subnet, group, job_name))
        except api_errors() as exc:
            text, permanent = describe(exc, self)
            raise SubmitException(job_name, text, permanent=permanent) from exc
        return answer["ReservationId"]

    def _launch(self, user_data: str, subnet: str, group: str, job_name: str) -> dict[str, Any]:
        """The arguments of RunInstances for a block."""
        tags = {**self.tags(job_name), "Name": job_name}
        kinds = ["instance", "volume", *(["spot-instances-request"] if self.spot else [])]
        arguments: dict[str, Any] = {
            "ImageId": self.image_id,
            "InstanceType": self.instance_type,
            "MinCount": self.nodes_per_block,
            "MaxCount": self.nodes_per_block,
            "UserData": user_data,
            "SubnetId": subnet,
            "SecurityGroupIds": [group],
            "InstanceInitiatedShutdownBehavior": "terminate",
            "TagSpecifications": [spec for kind in kinds for spec in network.tag_specification(kind, tags)],
        }
        if self.key_name is not None:
            arguments["KeyName"] = self.key_name
        if self.iam_instance_profile_arn:
            arguments["IamInstanceProfile"] = {"Arn": self.iam_instance_profile_arn}
        if self.spot:
            options = {"MaxPrice": str(self.spot_max_bid), "SpotInstanceType": "one-time",
                       "InstanceInterruptionBehavior": "terminate"}  # fmt: skip
            arguments["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": options}
        return arguments

    def _status(self, job_ids: list[str]) -> list[JobStatus]:
        blocks = self._call(self._blocks, job_ids)
        return [block_status(blocks.get(job_id, [])) for job_id in job_ids]

    def _cancel(self, job_ids: list[str]) -> list[bool]:
        blocks = self._call(self._blocks, job_ids)
        instances = [i for job_id in job_ids for i in blocks.get(job_id, [])]
        alive = [i["InstanceId"] for i in instances if i["State"]["Name"] not in ENDED]
        for start in range(0, len(alive), 1000):
            self._call(self.ec2().terminate_instances, InstanceIds=alive[start : start + 1000])
        return [job_id in self.job_names for job_id in job_ids]

    # --- after the run ----------------------------------------------------------------------------

    def release(self) -> None:
        super().release()
        self._placement = None

    def sweep(self, run_id: str, recorded: Sequence[dict[str, Any]] = (), dry_run: bool = False) -> list[str]:
        """Terminate the run's instances, cancel its spot requests, then (once its instances are terminated, for
        `terminate_timeout` seconds at most) delete its networking and the volumes its instances left."""
        ids = {kind: set(found) for kind, found in self._created.items()} if run_id == self.run_id else {}
        for entry in recorded:
            ids.setdefault(entry["resource"], set()).add(entry["resource_id"])
        tagged = [{"Name": f"tag:{RUN_TAG}", "Values": [tag_value(run_id)]},
                  {"Name": f"tag:{PROVIDER_TAG}", "Values": [tag_value(self.label)]}]  # fmt: skip
        lines: list[str] = []
        try:
            self._sweep(tagged, ids, dry_run, lines)
        except api_errors() as exc:
            done = "".join(f"\n  {line}" for line in lines)
            raise ExecutionProviderException(
                f"{describe(exc, self)[0]}; what the run created may be left (run `parlay cleanup RUN_DIR` again)"
                + (f"; done before: {done}" if done else "")
            ) from exc
        return lines

    def _sweep(self, tagged: list[dict[str, Any]], ids: dict[str, set[str]], dry_run: bool, lines: list[str]) -> None:
        ec2 = self.ec2()
        alive = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        instances = self._instances(ec2, tagged + alive)
        if dry_run:  # the journaled jobs' instances are listed as jobs
            instances = [i for i in instances if i["Reservation"] not in self.job_names]
        elif instances:
            ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in instances])
        for item in instances:
            block = _tag(item, BLOCK_TAG)
            verb = "would terminate" if dry_run else "terminated"
            lines.append(f"{verb} instance {item['InstanceId']}" + (f" of {block}" if block else ""))
        opened = [{"Name": "state", "Values": ["open", "active"]}]
        requests = ec2.describe_spot_instance_requests(Filters=tagged + opened)["SpotInstanceRequests"]
        if requests and not dry_run:
            ec2.cancel_spot_instance_requests(SpotInstanceRequestIds=[r["SpotInstanceRequestId"] for r in requests])
        verb = "would cancel" if dry_run else "cancelled"
        lines += [f"{verb} spot request {r['SpotInstanceRequestId']}" for r in requests]
        found = network.find(ec2, ids, tagged)
        if dry_run:
            lines += [f"would delete {k.noun} {item[k.id_key]}" for k in network.KINDS for item in found[k.name]]
            return
        deadline = time.monotonic() + self.terminate_timeout
        if any(found.values()):  # a subnet or security group cannot go before its instances
            self._wait_terminated(ec2, tagged, deadline)
        lines += network.delete(ec2, found, deadline, lambda kind, ident: self._gone(ids, kind, ident))
        for volume in ec2.describe_volumes(Filters=[*tagged, {"Name": "status", "Values": ["available"]}])["Volumes"]:
            ec2.delete_volume(VolumeId=volume["VolumeId"])
            lines.append(f"deleted volume {volume['VolumeId']}")

    def _gone(self, ids: dict[str, set[str]], kind: str, ident: str) -> None:
        if ident in ids.get(kind, ()):
            self.forget(kind, ident)
        self._created.get(kind, set()).discard(ident)

    def _wait_terminated(self, ec2: Any, tagged: list[dict[str, Any]], deadline: float) -> None:
        holding = [{"Name": "instance-state-name", "Values": HOLDING}]
        while left := self._instances(ec2, tagged + holding):
            if time.monotonic() > deadline:
                shown = ", ".join(f"{i['InstanceId']} ({i['State']['Name']})" for i in left)
                raise ExecutionProviderException(
                    f"instances {shown} are not terminated after {self.terminate_timeout:g} s: their networking is "
                    "left; run `parlay cleanup RUN_DIR` later"
                )
            time.sleep(2)

    # --- EC2 --------------------------------------------------------------------------------------

    def ec2(self) -> Any:
        """The provider's boto3 EC2 client, made on first use."""
        with self._lock:
            if self._client is None:
                self._client = ec2_client(self)
            return self._client

    def _place(self, ec2: Any) -> tuple[str, str]:
        """The subnet and security group of the run's instances, found or created at the first submission. What
        a creation that fails half-way made is deleted at once, so that the next submission starts afresh (and
        by `release`, by the journal and the tags, if that fails too)."""
        with self._lock:
            if self._placement is None:
                builder = network.Builder(ec2, self)
                try:
                    self._placement = builder.placement()
                finally:
                    for kind, ident in builder.created.items():
                        self._created.setdefault(kind, set()).add(ident)
                    if self._placement is None:
                        self._undo(ec2, builder.created)
            return self._placement

    def _undo(self, ec2: Any, created: dict[str, str]) -> None:
        made = {kind: {ident} for kind, ident in created.items()}
        with contextlib.suppress(*api_errors()):  # what is left is journaled and tagged: `release` deletes it
            found = network.find(ec2, made)
            network.delete(ec2, found, time.monotonic(), lambda kind, ident: self._gone(made, kind, ident))

    def _call(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """`call(...)`, with an EC2 failure raised as an ExecutionProviderException saying what it means."""
        try:
            return call(*args, **kwargs)
        except api_errors() as exc:
            raise ExecutionProviderException(describe(exc, self)[0]) from exc

    def _blocks(self, job_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The instances of each job, found by the tags of the jobs' blocks and matched by reservation."""
        wanted = set(job_ids)
        names = sorted({tag_value(self.job_names[job_id]) for job_id in wanted if job_id in self.job_names})
        blocks: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(names), 200):
            tagged = [{"Name": f"tag:{BLOCK_TAG}", "Values": names[start : start + 200]},
                      {"Name": f"tag:{PROVIDER_TAG}", "Values": [tag_value(self.label)]}]  # fmt: skip
            if self.run_id is not None:
                tagged.append({"Name": f"tag:{RUN_TAG}", "Values": [tag_value(self.run_id)]})
            for instance in self._instances(self.ec2(), tagged):
                if instance["Reservation"] in wanted:
                    blocks.setdefault(instance["Reservation"], []).append(instance)
        return blocks

    @staticmethod
    def _instances(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The instances matching `filters`, each with its reservation id under "Reservation"."""
        found = []
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                found += [{**i, "Reservation": reservation["ReservationId"]} for i in reservation["Instances"]]
        return found


def _tag(resource: dict[str, Any], key: str) -> str | None:
    return next((tag["Value"] for tag in resource.get("Tags", []) if tag["Key"] == key), None)
