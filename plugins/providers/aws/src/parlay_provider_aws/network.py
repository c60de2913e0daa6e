"""The networking of a run's instances: the user's subnet and security group, or ones the run creates.

Created for a run (when no `subnet_id` or `vpc_id` is given): a VPC, an internet gateway attached to it, a
route table sending all other traffic to the gateway, one subnet that gives instances public addresses,
and a security group that lets everything out and nothing in but SSH when a key pair is set (workers
connect out to the interchange). Each is tagged at creation and journaled the moment the API returns it;
`delete` removes them in dependency order once the instances in them are gone.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from parlay_provider_aws.api import SettingError

VPC_CIDR = "10.0.0.0/16"
SUBNET_CIDR = "10.0.0.0/20"


@dataclass(frozen=True)
class Kind:
    """A kind of networking resource and the EC2 calls that describe and delete it."""

    name: str  # the resource type of TagSpecifications, also the journal's resource kind
    noun: str
    describe: str
    listed: str
    id_key: str
    id_filter: str
    delete: str


#: In the order they are deleted: what depends on a resource goes before it.
KINDS = (
    Kind("security-group", "security group", "describe_security_groups", "SecurityGroups", "GroupId", "group-id",
         "delete_security_group"),
    Kind("route-table", "route table", "describe_route_tables", "RouteTables", "RouteTableId", "route-table-id",
         "delete_route_table"),
    Kind("subnet", "subnet", "describe_subnets", "Subnets", "SubnetId", "subnet-id", "delete_subnet"),
    Kind("internet-gateway", "internet gateway", "describe_internet_gateways", "InternetGateways",
         "InternetGatewayId", "internet-gateway-id", "delete_internet_gateway"),
    Kind("vpc", "VPC", "describe_vpcs", "Vpcs", "VpcId", "vpc-id", "delete_vpc"),
)  # fmt: skip


def tag_specification(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


class Builder:
    """Finds the subnet and security group of the run's instances, creating for the run what the user did not
    give; each resource created is tagged at creation, journaled by `provider.record` at once and kept in
    `created` (kind -> id), so that a failure half-way leaves nothing unknown."""

    def __init__(self, ec2: Any, provider: Any):
        self.ec2 = ec2
        self.provider = provider
        self.created: dict[str, str] = {}

    def placement(self) -> tuple[str, str]:
        """(subnet id, security group id)."""
        ec2, provider = self.ec2, self.provider
        subnet, vpc, group = provider.subnet_id, provider.vpc_id, provider.security_group_id
        if subnet is not None:
            [found] = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
            if vpc is not None and found["VpcId"] != vpc:
                raise SettingError(f"subnet_id={subnet!r} is in {found['VpcId']}, not in vpc_id={vpc!r}")
            vpc = found["VpcId"]
        else:
            if vpc is None and group is not None:
                [found] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
                vpc = found["VpcId"]
            if vpc is not None:
                subnet = self._subnet_of(vpc)
            else:
                vpc, subnet = self._create_vpc()
        if group is None:
            group = self._create_security_group(vpc)
        return subnet, group

    def _subnet_of(self, vpc: str) -> str:
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
        if not subnets:
            raise SettingError(f"VPC {vpc} has no subnet: give subnet_id")
        public = [s for s in subnets if s.get("MapPublicIpOnLaunch")]  # workers must reach the submitting host
        return sorted(public or subnets, key=lambda s: s["SubnetId"])[0]["SubnetId"]

    def _create(self, kind: str, call: str, path: Iterable[str], **args: Any) -> str:
        answer = getattr(self.ec2, call)(TagSpecifications=tag_specification(kind, self.provider.tags()), **args)
        for key in path:
            answer = answer[key]
        self.created[kind] = answer
        self.provider.record(kind, answer)
        return answer

    def _create_vpc(self) -> tuple[str, str]:
        ec2 = self.ec2
        vpc = self._create("vpc", "create_vpc", ("Vpc", "VpcId"), CidrBlock=VPC_CIDR)
        gateway = self._create("internet-gateway", "create_internet_gateway", ("InternetGateway", "InternetGatewayId"))
        ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
        table = self._create("route-table", "create_route_table", ("RouteTable", "RouteTableId"), VpcId=vpc)
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
        subnet = self._create("subnet", "create_subnet", ("Subnet", "SubnetId"), VpcId=vpc, CidrBlock=SUBNET_CIDR)
        ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        return vpc, subnet

    def _create_security_group(self, vpc: str) -> str:
        provider = self.provider
        name = "-".join(["parlay", *provider.tags().values(), uuid.uuid4().hex[:8]])  # unique in the VPC
        about = "workers of a parlay run: all traffic out, SSH in when a key pair is set"
        group = self._create(
            "security-group", "create_security_group", ("GroupId",), GroupName=name, Description=about, VpcId=vpc
        )
        if provider.key_name is not None:
            ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": provider.ssh_cidr}]}
            self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh])
        return group


# --- deleting ---------------------------------------------------------------------------------------


def find(
    ec2: Any, recorded: dict[str, set[str]], tagged: list[dict[str, Any]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The descriptions of the networking resources whose ids were recorded (kind -> ids) or that match the tag
    filters `tagged`, by kind."""
    found: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        describe = getattr(ec2, kind.describe)
        items = {item[kind.id_key]: item for item in describe(Filters=tagged)[kind.listed]} if tagged else {}
        ids = sorted(recorded.get(kind.name, set()) - set(items))
        if ids:
            listed = describe(Filters=[{"Name": kind.id_filter, "Values": ids}])[kind.listed]
            items.update({item[kind.id_key]: item for item in listed})
        found[kind.name] = [items[key] for key in sorted(items)]
    return found


def delete(
    ec2: Any, found: dict[str, list[dict[str, Any]]], deadline: float, gone: Callable[[str, str], None]
) -> list[str]:
    """Delete what `find` found, in dependency order; a line per resource deleted. A resource still in use
    (DependencyViolation: instances shutting down) is tried again until `deadline` (time.monotonic)."""
    lines = []
    for kind in KINDS:
        for item in found.get(kind.name, []):
            ident = item[kind.id_key]
            if kind.name == "route-table":
                for association in item.get("Associations", []):
                    if not association.get("Main"):
                        _quietly(ec2.disassociate_route_table, AssociationId=association["RouteTableAssociationId"])
            if kind.name == "internet-gateway":
                for attachment in item.get("Attachments", []):
                    _quietly(ec2.detach_internet_gateway, InternetGatewayId=ident, VpcId=attachment["VpcId"])
            if _delete_one(ec2, kind, ident, deadline):
                lines.append(f"deleted {kind.noun} {ident}")
            gone(kind.name, ident)
    return lines


def _delete_one(ec2: Any, kind: Kind, ident: str, deadline: float) -> bool:
    """Delete a resource; False if it was gone already."""
    from botocore.exceptions import ClientError

    while True:
        try:
            getattr(ec2, kind.delete)(**{kind.id_key: ident})
            return True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code.endswith("NotFound"):
                return False
            if code != "DependencyViolation" or time.monotonic() > deadline:
                raise
        time.sleep(2)


def _quietly(call: Callable[..., Any], **args: Any) -> None:
    """An undoing call whose failure the deletion after it reports better (already undone, or not allowed)."""
    from botocore.exceptions import ClientError

    with contextlib.suppress(ClientError):
        call(**args)
