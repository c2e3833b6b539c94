"""The aws target under Pulumi mocks: resource graph, network spread, security groups, volumes,
user data, key pair, bastion, AMI lookup; invariants over many settings; docs/aws-resources.md.

Nothing here talks to AWS: tests/unit/aws_mocks.py answers every resource and invoke.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pulumi.runtime import MockResourceArgs

from infra.config import AwsSettings, Settings, load_stack_file
from infra.errors import SettingsError
from infra.nodes.aws import DEBIAN_OWNER, PRIVATE_NEEDS_BASTION, architecture, subnet_cidrs
from infra.paths import PROJECT_DIR
from infra.topology import plan_nodes
from tests.unit.aws_mocks import (
    AMI_CALL,
    AZS_CALL,
    AwsRecorder,
    ClusterRun,
    aws_settings,
    run_cluster,
)

pytestmark = pytest.mark.unit

INSTANCE = "aws:ec2/instance:Instance"
SUBNET = "aws:ec2/subnet:Subnet"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
VOLUME = "aws:ebs/volume:Volume"
ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
KEYPAIR = "aws:ec2/keyPair:KeyPair"
# Types that take no tags in AWS.
# The generated key pair's resource (pulumi-python:dynamic) lives on this machine and in the
# state, not in AWS: nothing to tag.
UNTAGGED = {"smack:aws:Cluster", "pulumi:providers:aws", "pulumi-python:dynamic:Resource",
            "aws:ec2/routeTableAssociation:RouteTableAssociation", ATTACHMENT}
DOCS = PROJECT_DIR / "docs" / "aws-resources.md"
ADMIN = "203.0.113.0/24"
USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserKeyForUnitTestsOnly user@example.org"
SEPARATE: dict[str, Any] = {
    "smack:layout": "separate",
    "smack:nodes": [
        {"name": "master", "count": 3, "services": ["zookeeper", "mesos_master", "marathon"]},
        {"name": "data", "count": 2, "services": ["kafka", "cassandra"], "data_volume_gb": 300,
         "instance_type": "r6i.large"},
        {"name": "agent", "count": 2, "services": ["mesos_agent", "spark"]},
    ],
}


@pytest.fixture(autouse=True, scope="module")
def _state_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Generated keys go to a temporary state directory, never into the project."""
    old = os.environ.get("SMACK_STATE_DIR")
    os.environ["SMACK_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    yield
    if old is None:
        os.environ.pop("SMACK_STATE_DIR", None)
    else:
        os.environ["SMACK_STATE_DIR"] = old


def aws(**values: Any) -> dict[str, Any]:
    return {"smack:aws": values}


def ingress(rec: AwsRecorder) -> list[dict[str, Any]]:
    return [r.inputs for r in rec.of_type(INGRESS)]


def group_id(name: str) -> str:
    return f"{name}-sg-id"  # the mocks' id of a security group


# ---------------------------------------------------------------------- the graph


def test_example_stack_graph_counts_per_type() -> None:
    run = run_cluster(load_stack_file(PROJECT_DIR, "aws"))
    counts = Counter(r.typ for r in run.recorder.resources)
    assert counts == {
        "smack:aws:Cluster": 1, "pulumi:providers:aws": 1,
        "aws:ec2/vpc:Vpc": 1, "aws:ec2/internetGateway:InternetGateway": 1,
        SUBNET: 3, "aws:ec2/routeTable:RouteTable": 1,
        "aws:ec2/routeTableAssociation:RouteTableAssociation": 3,
        SG: 3,  # cluster, admin, bastion
        # cluster self-rule, SSH from the bastion, 7 UI ports (Prometheus too) and bastion SSH
        # from one network
        INGRESS: 10, EGRESS: 2, KEYPAIR: 1,
        "pulumi-python:dynamic:Resource": 1,  # the generated key pair, kept in the state
        INSTANCE: 9,  # 3 masters, 3 data, 2 agents, the bastion
        VOLUME: 5, ATTACHMENT: 5,  # data and agent nodes only
    }
    assert run.recorder.named("aws").typ == "smack:aws:Cluster"
    provider = next(r for r in run.recorder.resources if r.typ == "pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-west-1"
    # Every AWS resource goes through that provider, not an ambient default one.
    assert {r.provider.split("::")[-2] for r in run.recorder.resources
            if r.typ.startswith("aws:")} == {"aws"}
    assert all("pulumi:providers:aws" in r.provider for r in run.recorder.resources
               if r.typ.startswith("aws:"))
    assert [n["name"] for n in run.nodes] == [p.name for p in plan_nodes(run.settings)]


def test_everything_that_takes_tags_is_tagged() -> None:
    run = run_cluster({**SEPARATE, **aws(admin_cidrs=[ADMIN], bastion=True,
                                         private_subnets=True)})
    for res in run.recorder.resources:
        if res.typ in UNTAGGED:
            continue
        tags = res.inputs.get("tags")
        assert tags and tags["smack:stack"] == "unit", res.name
        assert tags["Name"] == f"smack-unit-{res.name}"
    for res in run.recorder.of_type(INSTANCE):
        assert res.inputs["rootBlockDevice"]["tags"]["smack:stack"] == "unit"
        if res.name != "bastion":
            assert res.inputs["tags"]["smack:node"] == res.name
    assert run.recorder.named("data-1-data").inputs["tags"]["smack:node"] == "data-1"


# ------------------------------------------------------------------------ network


def test_nodes_alternate_over_subnets_in_distinct_zones() -> None:
    run = run_cluster({"smack:nodes": [{"name": "node", "count": 5}], **aws(availability_zones=3)})
    rec = run.recorder
    subnets = {r.name: r.inputs for r in rec.of_type(SUBNET)}
    assert sorted(subnets) == ["public-1", "public-2", "public-3"]
    assert len({s["availabilityZone"] for s in subnets.values()}) == 3
    assert [s["cidrBlock"] for _, s in sorted(subnets.items())] == \
        ["10.42.0.0/20", "10.42.16.0/20", "10.42.32.0/20"]
    placed = [rec.named(f"node-{i}").inputs["subnetId"] for i in range(1, 6)]
    assert placed == ["public-1-id", "public-2-id", "public-3-id", "public-1-id", "public-2-id"]
    assert rec.tokens(AZS_CALL)[0].args == {"state": "available"}


def test_two_zones_alternate() -> None:
    rec = run_cluster(aws()).recorder
    assert [rec.named(f"node-{i}").inputs["subnetId"] for i in (1, 2, 3)] == \
        ["public-1-id", "public-2-id", "public-1-id"]
    zones = {r.inputs["availabilityZone"] for r in rec.of_type(SUBNET)}
    assert zones == {"eu-west-1a", "eu-west-1b"}


def test_groups_start_one_zone_further_and_scaling_never_moves_other_nodes() -> None:
    def placement(master: int) -> dict[str, str]:
        rec = run_cluster({**SEPARATE, "smack:nodes": [
            {**SEPARATE["smack:nodes"][0], "count": master}, *SEPARATE["smack:nodes"][1:]],
            **aws(availability_zones=3)}).recorder
        return {r.name: r.inputs["subnetId"] for r in rec.of_type(INSTANCE)}

    three, five = placement(3), placement(5)
    assert [three[n] for n in ("master-1", "master-2", "master-3")] == \
        ["public-1-id", "public-2-id", "public-3-id"]
    assert [three[n] for n in ("data-1", "data-2", "agent-1", "agent-2")] == \
        ["public-2-id", "public-3-id", "public-3-id", "public-1-id"]
    assert all(five[name] == subnet for name, subnet in three.items())
    assert (five["master-4"], five["master-5"]) == ("public-1-id", "public-2-id")


def test_a_region_with_too_few_zones_is_a_clear_error() -> None:
    with pytest.raises(pulumi.RunError, match=r"availability_zones: 3 wanted, but region "
                                             r"eu-west-1 has only 2"):
        run_cluster(aws(availability_zones=3), zones=("eu-west-1a", "eu-west-1b"))


def test_private_subnets_use_a_nat_gateway_and_no_public_addresses() -> None:
    run = run_cluster(aws(private_subnets=True, bastion=True, admin_cidrs=[ADMIN]))
    rec = run.recorder
    assert sorted(r.name for r in rec.of_type(SUBNET)) == \
        ["private-1", "private-2", "public-1", "public-2"]
    assert rec.named("private-1").inputs["cidrBlock"] == "10.42.128.0/20"
    (nat,) = rec.of_type("aws:ec2/natGateway:NatGateway")
    assert nat.inputs["subnetId"] == "public-1-id"
    assert nat.inputs["allocationId"] == "nat-eip-id"
    routes = {r.name: r.inputs["routes"] for r in rec.of_type("aws:ec2/routeTable:RouteTable")}
    assert routes["private-rt"][0]["natGatewayId"] == "nat-id"
    assert routes["public-rt"][0]["gatewayId"] == "igw-id"
    for i in (1, 2, 3):
        node = rec.named(f"node-{i}").inputs
        assert node["associatePublicIpAddress"] is False
        assert node["subnetId"].startswith("private-")
    assert rec.named("bastion").inputs["subnetId"] == "public-1-id"
    assert rec.named("bastion").inputs["associatePublicIpAddress"] is True


def test_private_subnets_without_bastion_are_refused() -> None:
    # The settings check refuses it before any resource exists; the cluster refuses it too.
    with pytest.raises(SettingsError, match=r"private_subnets: true needs smack:aws\.bastion"):
        run_cluster(aws(private_subnets=True))
    settings = aws_settings(aws(private_subnets=True, bastion=True), "unit")
    unsafe = settings.model_copy(update={"aws": settings.aws.model_copy(  # type: ignore[union-attr]
        update={"bastion": False})})
    with pytest.raises(pulumi.RunError) as err:
        run_cluster(unsafe)
    assert PRIVATE_NEEDS_BASTION in str(err.value)


def test_subnet_cidrs_stay_inside_the_vpc_for_every_allowed_size() -> None:
    for prefix in range(16, 25):
        vpc = ipaddress.IPv4Network(f"10.0.0.0/{prefix}")
        public, private = subnet_cidrs(str(vpc), 6)
        nets = [ipaddress.IPv4Network(c) for c in public + private]
        assert all(n.subnet_of(vpc) for n in nets)
        assert len(set(nets)) == 12


# ---------------------------------------------------------------- security groups


def test_cluster_group_allows_all_traffic_between_its_members() -> None:
    rules = {r.name: r.inputs for r in run_cluster(aws()).recorder.of_type(INGRESS)}
    assert rules["cluster-all"]["securityGroupId"] == group_id("cluster")
    assert rules["cluster-all"]["referencedSecurityGroupId"] == group_id("cluster")
    assert rules["cluster-all"]["ipProtocol"] == "-1"


def test_without_admin_cidrs_nothing_is_reachable_from_outside() -> None:
    rec = run_cluster(aws()).recorder
    assert [r["referencedSecurityGroupId"] for r in ingress(rec)] == [group_id("cluster")]
    assert not any("cidrIpv4" in r or "cidrIpv6" in r for r in ingress(rec))


def test_admin_rules_only_from_admin_cidrs() -> None:
    cidrs = [ADMIN, "192.0.2.0/28"]
    rec = run_cluster(aws(admin_cidrs=cidrs)).recorder
    admin = [r for r in ingress(rec) if r["securityGroupId"] == group_id("admin")]
    ports = sorted({r["fromPort"] for r in admin})
    assert ports == [22, 5050, 5051, 8080, 8180, 8181, 9090, 18080]  # 9090: Prometheus
    assert len(admin) == len(ports) * 2
    assert {r.get("cidrIpv4") or r.get("cidrIpv6") for r in admin} == set(cidrs)
    assert all(r["ipProtocol"] == "tcp" and r["fromPort"] == r["toPort"] for r in admin)
    assert not [r for r in ingress(rec) if r.get("cidrIpv4") == "0.0.0.0/0"]
    # Nodes carry both groups.
    assert rec.named("node-1").inputs["vpcSecurityGroupIds"] == [group_id("cluster"),
                                                                 group_id("admin")]


def test_ui_ports_follow_the_stack_vars_and_enabled_services() -> None:
    config = {"smack:services": {"marathon": {"vars": {"marathon_http_port": 8443}},
                                 "spark": {"enabled": False}},
              "smack:metrics": {"vars": {"metrics_prometheus_port": 9443}},
              **aws(admin_cidrs=[ADMIN])}
    ports = {r["fromPort"] for r in ingress(run_cluster(config).recorder) if "fromPort" in r}
    assert ports == {22, 5050, 5051, 8443, 9443}
    config["smack:metrics"] = {"enabled": False}
    ports = {r["fromPort"] for r in ingress(run_cluster(config).recorder) if "fromPort" in r}
    assert ports == {22, 5050, 5051, 8443}


def test_whole_internet_only_when_written() -> None:
    rec = run_cluster(aws(admin_cidrs=["0.0.0.0/0"])).recorder
    assert {r["cidrIpv4"] for r in ingress(rec) if "cidrIpv4" in r} == {"0.0.0.0/0"}


def test_with_bastion_ssh_goes_only_through_it() -> None:
    rec = run_cluster(aws(admin_cidrs=[ADMIN], bastion=True)).recorder
    ssh = [r for r in ingress(rec) if r.get("fromPort") == 22]
    by_group = {r["securityGroupId"]: r for r in ssh}
    assert set(by_group) == {group_id("bastion"), group_id("cluster")}
    assert by_group[group_id("bastion")]["cidrIpv4"] == ADMIN
    assert by_group[group_id("cluster")]["referencedSecurityGroupId"] == group_id("bastion")
    assert rec.named("bastion").inputs["vpcSecurityGroupIds"] == [group_id("bastion")]
    assert rec.named("bastion").inputs["instanceType"] == "t3.micro"


# ------------------------------------------------------------------------ volumes


def test_data_volumes_encrypted_gp3_for_kafka_cassandra_and_agents_only() -> None:
    run = run_cluster({**SEPARATE, **aws(data_volume_gb=80)})
    rec = run.recorder
    volumes = {r.name: r.inputs for r in rec.of_type(VOLUME)}
    assert sorted(volumes) == ["agent-1-data", "agent-2-data", "data-1-data", "data-2-data"]
    assert all(v["type"] == "gp3" and v["encrypted"] is True for v in volumes.values())
    assert volumes["data-1-data"]["size"] == 300
    assert volumes["agent-1-data"]["size"] == 80
    subnet_zone = {f"{r.name}-id": r.inputs["availabilityZone"] for r in rec.of_type(SUBNET)}
    for name, volume in volumes.items():
        node = rec.named(name.removesuffix("-data")).inputs
        assert volume["availabilityZone"] == subnet_zone[node["subnetId"]]
    attachments = {r.name: r.inputs for r in rec.of_type(ATTACHMENT)}
    assert sorted(attachments) == sorted(f"{v}-attachment" for v in volumes)
    assert attachments["data-2-data-attachment"] == {
        "deviceName": "/dev/xvdf", "volumeId": "data-2-data-id",
        "instanceId": next(n["node_id"] for n in run.nodes if n["name"] == "data-2"),
        "stopInstanceBeforeDetaching": True,
    }
    root = rec.named("master-1").inputs["rootBlockDevice"]
    assert (root["volumeType"], root["encrypted"]) == ("gp3", True)
    assert rec.named("data-1").inputs["instanceType"] == "r6i.large"
    assert rec.named("master-1").inputs["instanceType"] == "m6i.large"


# ---------------------------------------------------------------------- user data


def test_user_data_sets_hostname_and_mounts_the_data_volume_once(tmp_path: Path) -> None:
    run = run_cluster({**SEPARATE, **aws(ssh_user="ops")})
    text = run.recorder.named("data-1").inputs["userData"]
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert doc["hostname"] == "data-1"
    assert doc["packages"] == ["python3"]
    assert doc["system_info"]["default_user"]["name"] == "ops"
    script = doc["write_files"][0]["content"]
    # Format only when blkid finds nothing (exit 2), never over existing data.
    probe, mkfs = script.index("blkid -p"), script.index("mkfs.ext4")
    assert probe < mkfs
    assert re.search(r'if \[ "\$found" -eq 2 \]; then\n\s+mkfs\.ext4', script)
    assert "/data $fstype defaults,nofail" in script
    assert doc["runcmd"] == [["/usr/local/sbin/smack-data-volume"]]
    path = tmp_path / "smack-data-volume"
    path.write_text(script)
    subprocess.run(["sh", "-n", str(path)], check=True)
    master = yaml.safe_load(run.recorder.named("master-1").inputs["userData"])
    assert "write_files" not in master and "runcmd" not in master
    for res in run.recorder.of_type(INSTANCE):
        assert "PRIVATE KEY" not in res.inputs["userData"]
        assert "AAAA" not in res.inputs["userData"]
        assert run.private_key not in res.inputs["userData"]


# ----------------------------------------------------------------------- key pair


def test_generated_key_stays_here_0600_and_secret(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMACK_STATE_DIR", str(tmp_path))
    run = run_cluster(aws())
    key = tmp_path / "stacks" / "unit" / "ssh" / "id_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    public = key.with_name("id_ed25519.pub").read_text().strip()
    assert run.recorder.named("ssh-key").inputs["publicKey"] == public
    assert {n["ssh_key_file"] for n in run.nodes} == {str(key)}
    assert run.private_key_secret
    assert run.private_key == key.read_text()
    # A second run reuses the key (no new key pair, no replaced instances).
    again = run_cluster(aws())
    assert again.recorder.named("ssh-key").inputs["publicKey"] == public


def test_user_public_key_means_no_key_file(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMACK_STATE_DIR", str(tmp_path))
    run = run_cluster(aws(public_key=USER_KEY))
    assert run.recorder.named("ssh-key").inputs["publicKey"] == USER_KEY
    assert {n["ssh_key_file"] for n in run.nodes} == {""}
    assert run.private_key == ""
    assert not (tmp_path / "stacks").exists()
    assert run.recorder.named("node-1").inputs["keyName"] == "ssh-key-mock"


# ---------------------------------------------------------------- nodes and bastion


def test_nodes_without_bastion_are_addressed_by_public_ip() -> None:
    run = run_cluster(aws(admin_cidrs=[ADMIN]))
    node = run.nodes[0]
    assert node["address"].startswith("198.51.100.")
    assert node["proxy_jump"] == "" and run.bastion == ""
    assert node["ssh_user"] == "admin" and node["host_key"] == ""
    assert node["node_id"].startswith("i-")
    assert node["services"] == list(plan_nodes(run.settings)[0].services)
    assert "bastion" not in run.recorder.names()


def test_bastion_writes_proxy_jump_and_private_addresses() -> None:
    run = run_cluster(aws(admin_cidrs=[ADMIN], bastion=True, private_subnets=True))
    assert run.bastion.startswith("198.51.100.")
    for node in run.nodes:
        assert node["proxy_jump"] == f"admin@{run.bastion}"
        assert node["address"].startswith("10.42.")
    from infra.inventory import render_inventory
    from infra.nodes.model import Node

    files = render_inventory(run.settings, [Node.from_dict(n) for n in run.nodes],
                             Path(os.environ["SMACK_STATE_DIR"]) / "inventory")
    hosts = yaml.safe_load(files["hosts.yml"])["all"]["hosts"]
    # The generated key must reach the jump host too: ProxyCommand carries it, ProxyJump
    # would not. The nodes' host keys are unknown in advance: trusted on first use.
    key = run.nodes[0]["ssh_key_file"]
    assert hosts["node-1"]["ansible_ssh_extra_args"] == (
        '-o IdentitiesOnly=yes '
        f'-o ProxyCommand="ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new'
        f' -W %h:%p admin@{run.bastion}" -o StrictHostKeyChecking=accept-new')


# ---------------------------------------------------------------------------- AMI


def test_debian_ami_is_looked_up_by_owner_and_name() -> None:
    rec = run_cluster(aws()).recorder
    (call,) = rec.tokens(AMI_CALL)
    assert call.args["owners"] == [DEBIAN_OWNER]
    assert call.args["mostRecent"] is True
    filters = {f["name"]: f["values"] for f in call.args["filters"]}
    assert filters == {"name": ["debian-12-amd64-*"], "architecture": ["x86_64"]}
    assert rec.named("node-1").inputs["ami"] == "ami-0debian12x8664"


def test_arm_groups_get_the_arm_image() -> None:
    rec = run_cluster({"smack:nodes": [{"name": "node", "count": 1},
                                       {"name": "arm", "count": 2,
                                        "instance_type": "m7g.large"}],
                       **aws()}).recorder
    arches = sorted(c.args["filters"][1]["values"][0] for c in rec.tokens(AMI_CALL))
    assert arches == ["arm64", "x86_64"]
    assert rec.named("arm-1").inputs["ami"] == "ami-0debian12arm64"
    assert [architecture(t) for t in ("m7g.large", "t4g.nano", "c6gd.xlarge", "a1.large",
                                      "g5.xlarge", "m6i.large", "r7a.large")] == \
        ["arm64", "arm64", "arm64", "arm64", "x86_64", "x86_64", "x86_64"]


def test_ami_id_override_skips_the_lookup() -> None:
    rec = run_cluster(aws(ami_id="ami-0123456789abcdef0", bastion=True)).recorder
    assert rec.tokens(AMI_CALL) == []
    assert {r.inputs["ami"] for r in rec.of_type(INSTANCE)} == {"ami-0123456789abcdef0"}


# -------------------------------------------------------------------- properties

CIDR_CHOICES = ["203.0.113.0/24", "198.51.100.7/32", "192.0.2.0/28", "0.0.0.0/0"]


@st.composite
def aws_configs(draw: st.DrawFn) -> dict[str, Any]:
    layout = draw(st.sampled_from(["converged", "separate"]))
    if layout == "converged":
        nodes = [{"name": "node", "count": draw(st.integers(1, 6))}]
        if draw(st.booleans()):
            nodes.append({"name": "big", "count": draw(st.integers(0, 3)),
                          "instance_type": "m7g.xlarge", "data_volume_gb": 100})
    else:
        nodes = [
            {"name": "master", "count": draw(st.sampled_from([1, 3, 5])),
             "services": ["zookeeper", "mesos_master", "marathon", "spark"]},
            {"name": "data", "count": draw(st.integers(1, 6)),
             "services": ["kafka", "cassandra", "mesos_agent"]},
        ]
    cidrs = draw(st.lists(st.sampled_from(CIDR_CHOICES), unique=True, max_size=3))
    if "0.0.0.0/0" in cidrs:
        cidrs = ["0.0.0.0/0"]
    values: dict[str, Any] = {
        "availability_zones": draw(st.integers(2, 4)),
        "private_subnets": draw(st.booleans()),
        "bastion": draw(st.booleans()),
        "admin_cidrs": cidrs,
    }
    if draw(st.booleans()):
        values["public_key"] = USER_KEY
    if draw(st.booleans()):
        values["ami_id"] = "ami-0123456789abcdef0"
    return {"smack:layout": layout, "smack:nodes": nodes, "smack:aws": values}


def check_invariants(run: ClusterRun) -> None:
    s = run.settings.aws
    assert s is not None
    rec = run.recorder
    plans = plan_nodes(run.settings)
    instances = {r.name: r.inputs for r in rec.of_type(INSTANCE)}
    assert len(instances) == len(plans) + (1 if s.bastion else 0)
    subnets = {f"{r.name}-id": r.inputs for r in rec.of_type(SUBNET)}
    assert len(subnets) == s.availability_zones * (2 if s.private_subnets else 1)
    public_zones = {v["availabilityZone"] for k, v in subnets.items() if k.startswith("public")}
    assert len(public_zones) == s.availability_zones
    kind = "private" if s.private_subnets else "public"
    for plan in plans:
        node = instances[plan.name]
        zone = (plan.group_index + plan.index - 1) % s.availability_zones
        assert node["subnetId"] == f"{kind}-{zone + 1}-id"
        assert node["associatePublicIpAddress"] is (not s.private_subnets)
        assert f"hostname: {plan.name}\n" in node["userData"]
        assert node["rootBlockDevice"]["encrypted"] is True
    # Ingress: only from the admin networks or from our own groups; SSH from outside only
    # where it belongs.
    allowed = set(s.admin_cidrs)
    for rule in ingress(rec):
        source = rule.get("cidrIpv4") or rule.get("cidrIpv6")
        if source is None:
            assert rule["referencedSecurityGroupId"] in {group_id("cluster"), group_id("bastion")}
            continue
        assert source in allowed
        if rule.get("fromPort") == 22:
            expected = group_id("bastion") if s.bastion else group_id("admin")
            assert rule["securityGroupId"] == expected
    sources = [r.get("cidrIpv4") for r in ingress(rec)]
    assert ("0.0.0.0/0" in sources) == ("0.0.0.0/0" in s.admin_cidrs)
    if not s.admin_cidrs:
        assert all("referencedSecurityGroupId" in r for r in ingress(rec))
    # Volumes: exactly for nodes running a data service, all encrypted gp3.
    wanted = {f"{p.name}-data" for p in plans
              if {"kafka", "cassandra", "mesos_agent"} & set(p.services)}
    volumes = {r.name: r.inputs for r in rec.of_type(VOLUME)}
    assert set(volumes) == wanted
    assert {r.name for r in rec.of_type(ATTACHMENT)} == {f"{w}-attachment" for w in wanted}
    assert all(v["encrypted"] is True and v["type"] == "gp3" for v in volumes.values())
    # Node records.
    assert [n["name"] for n in run.nodes] == [p.name for p in plans]
    for node in run.nodes:
        assert bool(node["proxy_jump"]) == s.bastion
        private = node["address"].startswith("10.42.")
        assert private == (s.bastion or s.private_subnets)
        assert bool(node["ssh_key_file"]) != bool(s.public_key)
    # Tags everywhere; AMI looked up only without an override.
    for res in rec.resources:
        if res.typ not in UNTAGGED:
            assert res.inputs["tags"]["smack:stack"] == run.settings.stack
    assert bool(rec.tokens(AMI_CALL)) != bool(s.ami_id)
    assert run.private_key_secret


@given(config=aws_configs())
@hsettings(max_examples=30, deadline=None, database=None,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_invariants_hold_for_many_settings(config: dict[str, Any]) -> None:
    values = config["smack:aws"]
    if values["private_subnets"] and not values["bastion"]:
        with pytest.raises(SettingsError, match="private_subnets: true needs"):
            run_cluster(config)
        return
    types = {g.get("instance_type") or values.get("instance_type", "m6i.large")
             for g in config["smack:nodes"] if g["count"]}
    if values.get("ami_id") and len({architecture(t) for t in types}) > 1:
        with pytest.raises(SettingsError, match="one image cannot boot"):
            run_cluster(config)
        return
    check_invariants(run_cluster(config))


# ---------------------------------------------------------- example and resource docs


def _natural(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


WHAT = {
    "smack:aws:Cluster": "the component grouping everything below",
    "pulumi:providers:aws": "AWS provider for smack:aws.region",
    "pulumi-python:dynamic:Resource":
        "the generated SSH key pair, kept in the state (private key a secret)",
    "aws:ec2/vpc:Vpc": "the stack's own VPC",
    "aws:ec2/internetGateway:InternetGateway": "internet access of the public subnets",
    "aws:ec2/natGateway:NatGateway": "internet access of the private subnets",
    "aws:ec2/eip:Eip": "Elastic IP of the NAT gateway",
    SUBNET: "one per availability zone",
    "aws:ec2/routeTable:RouteTable": "default route to the internet or NAT gateway",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "subnet to route table",
    SG: "security group",
    INGRESS: "inbound rule",
    EGRESS: "outbound rule",
    KEYPAIR: "SSH key pair of every instance",
    INSTANCE: "EC2 instance (Debian 12)",
    VOLUME: "encrypted gp3 data volume, mounted at /data",
    ATTACHMENT: "attaches the data volume as /dev/xvdf",
}


def resource_listing(settings: Settings, resources: list[MockResourceArgs]) -> str:
    """docs/aws-resources.md from the settings and the mocked resource graph they produce."""
    s: AwsSettings = settings.aws or AwsSettings()
    groups = settings.node_groups()
    counts = Counter(r.typ for r in resources)
    lines = [
        "# Resources of the aws stack",
        "",
        "Every resource the aws target registers for `stacks/Pulumi.aws.yaml`, the example",
        f"config: {sum(g.count for g in groups)} nodes in {len(groups)} group(s) "
        f"({', '.join(f'{g.name} x{g.count}' for g in groups)}), "
        f"{s.availability_zones} availability zones, "
        f"{'private subnets behind a NAT gateway' if s.private_subnets else 'public subnets'}, "
        f"{'a bastion' if s.bastion else 'no bastion'}, admin networks "
        f"{', '.join(s.admin_cidrs) or 'none'}, region {s.region}.",
        "",
        "Recorded from the Pulumi program under mocks (no AWS account was involved) by",
        "`resource_listing` in `tests/unit/test_aws.py`; a test fails when this file and the",
        "graph differ. Regenerate with",
        "`SMACK_WRITE_DOCS=1 .venv/bin/pytest tests/unit/test_aws.py -k resource_list`.",
        "The program adds the same non-AWS resources as every stack (inventory, credentials,",
        "the Ansible run).",
        "",
        "## Count per type",
        "",
        "| type | count | what |",
        "|---|---|---|",
    ]
    lines += [f"| `{typ}` | {n} | {WHAT.get(typ, '')} |" for typ, n in sorted(counts.items())]
    lines += ["", f"Total: {len(resources)}.", "", "## Every resource", "",
              "| type | name | details |", "|---|---|---|"]
    for res in sorted(resources, key=lambda r: (r.typ, _natural(r.name))):
        lines.append(f"| `{res.typ}` | `{res.name}` | {_details(res)} |")
    return "\n".join(lines) + "\n"


def _details(res: MockResourceArgs) -> str:  # noqa: PLR0911
    i = res.inputs
    if res.typ == INSTANCE:
        return f"{i['instanceType']}, subnet `{i['subnetId'].removesuffix('-id')}`"
    if res.typ == SUBNET:
        return f"{i['cidrBlock']}, {i['availabilityZone']}"
    if res.typ == VOLUME:
        return f"{i['size']:g} GiB, {i['availabilityZone']}"
    if res.typ in (INGRESS, EGRESS):
        source = (i.get("cidrIpv4") or i.get("cidrIpv6")
                  or f"group `{i.get('referencedSecurityGroupId', '').removesuffix('-id')}`")
        ports = f"tcp {int(i['fromPort'])}" if "fromPort" in i else "all traffic"
        return (f"group `{i['securityGroupId'].removesuffix('-id')}`: {ports}, "
                f"{'from' if res.typ == INGRESS else 'to'} {source}")
    if res.typ == SG:
        return str(i["description"]).split(": ", 1)[-1]
    if res.typ == "aws:ec2/routeTable:RouteTable":
        route = i["routes"][0]
        target = route.get("gatewayId") or route.get("natGatewayId") or ""
        return f"{route['cidrBlock']} via `{target.removesuffix('-id')}`"
    if res.typ == "aws:ec2/routeTableAssociation:RouteTableAssociation":
        return (f"`{i['subnetId'].removesuffix('-id')}` uses "
                f"`{i['routeTableId'].removesuffix('-id')}`")
    if res.typ == ATTACHMENT:
        return f"`{i['volumeId'].removesuffix('-id')}` as {i['deviceName']}"
    if res.typ == "aws:ec2/vpc:Vpc":
        return str(i["cidrBlock"])
    return ""


def test_resource_list_matches_the_graph() -> None:
    run = run_cluster(load_stack_file(PROJECT_DIR, "aws"))
    text = resource_listing(run.settings, run.recorder.resources)
    if os.environ.get("SMACK_WRITE_DOCS"):
        DOCS.parent.mkdir(exist_ok=True)
        DOCS.write_text(text)
    assert DOCS.read_text() == text, (
        "docs/aws-resources.md differs from the mocked resource graph; regenerate it with "
        "SMACK_WRITE_DOCS=1 .venv/bin/pytest tests/unit/test_aws.py -k resource_list"
    )


def test_example_stack_documents_every_aws_key() -> None:
    settings = load_stack_file(PROJECT_DIR, "aws")
    assert settings.target == "aws" and settings.aws is not None
    assert settings.aws.region == "eu-west-1"
    assert settings.aws.admin_cidrs == [ADMIN] and settings.aws.bastion
    text = (PROJECT_DIR / "stacks" / "Pulumi.aws.yaml").read_text()
    for key in AwsSettings.model_fields:
        assert re.search(rf"^\s+#? ?{key}:", text, re.M), key
    # Documentation ranges only; nothing that resolves.
    assert "0.0.0.0/0" not in yaml.safe_load(text)["config"]["smack:aws"]["admin_cidrs"]


def test_readme_lists_every_resource_type_of_the_example() -> None:
    run = run_cluster(load_stack_file(PROJECT_DIR, "aws"))
    listing = resource_listing(run.settings, run.recorder.resources)
    table = listing[listing.index("## Count per type"):].split("\n\n")[1]
    assert table.startswith("| type |")
    readme = (PROJECT_DIR / "README.md").read_text()
    assert table in readme, (
        "README's aws resource table differs from the mocked graph; copy the 'Count per type' "
        "table of docs/aws-resources.md into README's 'AWS nodes' section")
