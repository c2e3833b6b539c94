"""Run `AwsCluster` under pulumi.runtime.set_mocks: what a real AWS provider would answer."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.config import Settings, parse_settings
from infra.nodes.keypair import StackKeyPairProvider
from tests.support.settings import parse_only
from tests.unit.pulumi_mocks import Recorder

AZS_CALL = "aws:index/getAvailabilityZones:getAvailabilityZones"
AMI_CALL = "aws:ec2/getAmi:getAmi"
ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d")


class AwsRecorder(Recorder):
    """Echoes inputs and adds the outputs EC2 assigns: ids, addresses, the key pair name."""

    def __init__(self, zones: tuple[str, ...] = ZONES) -> None:
        super().__init__()
        self.zones = zones
        self.calls: list[MockCallArgs] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outs = dict(args.inputs)
        rid = f"{args.name}-id"
        if args.typ == "aws:ec2/instance:Instance":
            # Derived from the name, so every run of the same config answers the same.
            n = zlib.crc32(args.name.encode())
            rid = f"i-{n:017x}"
            outs["privateIp"] = f"10.42.{n % 250}.{n // 250 % 250 + 1}"
            # Documentation range (TEST-NET-2): never a real address.
            public = args.inputs.get("associatePublicIpAddress")
            outs["publicIp"] = f"198.51.100.{n % 250 + 1}" if public else ""
        elif args.typ == "pulumi-python:dynamic:Resource" and "key_file" in args.inputs:
            # The stack's generated key pair: its real provider makes the files.
            outs = dict(StackKeyPairProvider().create(dict(args.inputs)).outs)
        elif args.typ == "aws:ec2/keyPair:KeyPair":
            outs["keyName"] = args.inputs.get("keyName") or f"{args.name}-mock"
        elif args.typ == "aws:ec2/eip:Eip":
            outs["publicIp"] = "198.51.100.250"
        return rid, outs

    def call(self, args: MockCallArgs) -> dict[str, Any]:
        self.calls.append(args)
        if args.token == AZS_CALL:
            return {"id": "eu-west-1", "names": list(self.zones),
                    "zoneIds": [f"euw1-az{i + 1}" for i in range(len(self.zones))]}
        if args.token == AMI_CALL:
            arch = next(f["values"][0] for f in args.args["filters"]
                        if f["name"] == "architecture")
            return {"id": f"ami-0debian12{arch.replace('_', '')}", "architecture": arch,
                    "name": f"debian-12-{arch}-20250101-1", "ownerId": "136693071363"}
        return {}

    def of_type(self, token: str) -> list[MockResourceArgs]:
        return [r for r in self.resources if r.typ == token]

    def tokens(self, token: str) -> list[MockCallArgs]:
        return [c for c in self.calls if c.token == token]


@dataclass
class ClusterRun:
    settings: Settings
    recorder: AwsRecorder
    nodes: list[dict[str, Any]]
    bastion: str
    private_key_secret: bool
    private_key: str


def aws_settings(config: dict[str, Any], stack: str = "unit") -> Settings:
    raw = parse_only({"smack:target": "aws", **config})
    return parse_settings(stack, {k: v if isinstance(v, str) else json.dumps(v)
                                  for k, v in raw.items()})


def run_cluster(config: dict[str, Any] | Settings, stack: str = "unit",
                zones: tuple[str, ...] = ZONES) -> ClusterRun:
    """Build AwsCluster from raw `smack:*` config (or parsed settings) under mocks."""
    from infra.nodes.aws import AwsCluster

    settings = config if isinstance(config, Settings) else aws_settings(config, stack)
    recorder = AwsRecorder(zones)
    pulumi.runtime.set_mocks(recorder, project="smack", stack=settings.stack, preview=False)
    seen: dict[str, Any] = {}

    async def secret(output: pulumi.Output[str]) -> None:
        seen["secret"] = await output.is_secret()
        seen["private_key"] = await output.future()

    def program() -> None:
        cluster = AwsCluster("aws", settings)
        cluster.nodes.apply(lambda v: seen.__setitem__("nodes", v))
        cluster.bastion_address.apply(lambda v: seen.__setitem__("bastion", v))
        import asyncio

        seen["task"] = asyncio.ensure_future(secret(cluster.private_key))

    _sync_await(run_pulumi_func(program))
    _sync_await(seen["task"])
    return ClusterRun(settings, recorder, seen["nodes"], seen["bastion"], seen["secret"],
                      seen["private_key"])
