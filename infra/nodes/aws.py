"""The `aws` target: EC2 nodes in a VPC of their own, reachable only from `admin_cidrs`.

`AwsCluster` creates, under one AWS provider for `smack:aws.region`:

- a VPC, one public subnet per availability zone (at least two), an internet gateway and a
  public route table; with `private_subnets` also one private subnet per zone, a NAT gateway
  (with its Elastic IP) in the first public subnet and a private route table;
- security groups: `cluster` (all traffic between cluster nodes, all egress), `admin` (SSH and
  the UI ports of the enabled services, from each `admin_cidrs` entry only; SSH only when there
  is no bastion) and, with `bastion`, `bastion` (SSH from `admin_cidrs`) plus SSH from the
  bastion into the cluster. With no `admin_cidrs` nothing is reachable from outside the VPC:
  use a VPN or peering into it;
- an EC2 key pair from `public_key`, or from a key pair generated on this machine (private key
  0600 under the stack's state directory, kept in the Pulumi state as a secret only);
- one instance per planned node (Debian 12, round-robin over the subnets: see zone_index),
  cloud-init user data from templates/aws/cloud-init.yaml.j2, and for nodes running Kafka,
  Cassandra or a Mesos agent an encrypted gp3 data volume mounted at /data;
- optionally a bastion host in the first public subnet; nodes are then reached via ProxyJump.

Everything that takes tags is tagged `smack:stack` and `Name` (and `smack:node` for a node's
instance and volume).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import AwsSettings, NodeGroup, Settings
from infra.ec2_types import architecture
from infra.endpoints import knob
from infra.errors import SettingsError
from infra.nodes.keypair import StackKeyPair
from infra.nodes.model import Node
from infra.paths import state_dir
from infra.render import render
from infra.topology import NodePlan, plan_nodes

# Debian's official AWS account; its images are named debian-12-<arch>-<date>-<build>.
DEBIAN_OWNER = "136693071363"
BASTION_INSTANCE_TYPE = "t3.micro"
ROOT_VOLUME_GB = 20
DATA_DEVICE = "/dev/xvdf"
DATA_MOUNT = "/data"
DATA_LABEL = "smack-data"
# Services whose data lives on the node's own volume.
DATA_SERVICES = ("kafka", "cassandra", "mesos_agent")
SSH_PORT = 22
# The data volume is attached after the instance starts: wait up to 10 minutes for it.
DATA_WAIT_TRIES = 300
# Subnets are vpc_cidr split into 16 blocks: public ones from block 0, private from block 8.
SUBNET_SPLIT_BITS = 4
PRIVATE_BLOCK_OFFSET = 8
EVERYWHERE_V4 = "0.0.0.0/0"

PRIVATE_NEEDS_BASTION = (
    "smack:aws.private_subnets: true needs smack:aws.bastion: true (nodes in private "
    "subnets have no public address; Ansible reaches them through the bastion); set "
    "bastion: true or private_subnets: false"
)


# ----------------------------------------------------------------- pure helpers


def aws_settings(settings: Settings) -> AwsSettings:
    return settings.aws or AwsSettings()


def misconfiguration(settings: Settings) -> list[str]:
    """Problems the settings schema does not catch yet (see config_checks)."""
    s = aws_settings(settings)
    return [PRIVATE_NEEDS_BASTION] if s.private_subnets and not s.bastion else []


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(public, private) subnet CIDRs, one of each per zone; stable as zones are added."""
    blocks = list(ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=SUBNET_SPLIT_BITS))
    public = [str(blocks[i]) for i in range(zones)]
    private = [str(blocks[PRIVATE_BLOCK_OFFSET + i]) for i in range(zones)]
    return public, private


def pick_zones(names: list[str], wanted: int, region: str) -> list[str]:
    if len(names) < wanted:
        raise pulumi.RunError(
            f"smack:aws.availability_zones: {wanted} wanted, but region {region} has only "
            f"{len(names)} available ({', '.join(names) or 'none'}); allowed: at most "
            f"{len(names)}"
        )
    return sorted(names)[:wanted]


def admin_ports(settings: Settings, ssh: bool) -> list[tuple[int, str]]:
    """(port, what) open to admin_cidrs: SSH (unless a bastion carries it) and the UIs.

    Ports come from the roles' defaults or the stack's vars, like the stack outputs.
    """
    enabled = set(settings.services.enabled())
    ports: list[tuple[int, str]] = [(SSH_PORT, "SSH")] if ssh else []
    if "mesos_master" in enabled:
        ports.append((int(knob(settings, "mesos_master", "mesos_master_port")), "Mesos master UI"))
    if "mesos_agent" in enabled:
        ports.append((int(knob(settings, "mesos_agent", "mesos_agent_port")), "Mesos agent"))
    if "marathon" in enabled:
        ports.append((int(knob(settings, "marathon", "marathon_http_port")), "Marathon UI"))
    if "spark" in enabled:
        if settings.services.spark.cluster_manager == "standalone":
            ports.append((int(knob(settings, "spark", "spark_master_ui_port")),
                          "Spark master UI"))
            ports.append((int(knob(settings, "spark", "spark_worker_ui_port")),
                          "Spark worker UI"))
        ports.append((int(knob(settings, "spark", "spark_history_ui_port")),
                      "Spark history UI"))
    if settings.metrics.enabled:
        ports.append((int(knob(settings, "metrics", "metrics_prometheus_port")),
                      "Prometheus and the dashboards"))
    unique: dict[int, str] = {}
    for port, what in ports:
        unique.setdefault(port, what)
    return list(unique.items())


def zone_index(plan: NodePlan, zones: int) -> int:
    """Round-robin within a group, each group starting one zone further.

    Depends on the node's own group and number only, so scaling one group never moves a node
    of another group (a new subnet would replace the instance).
    """
    return (plan.group_index + plan.index - 1) % zones


def needs_data_volume(plan: NodePlan) -> bool:
    return any(service in DATA_SERVICES for service in plan.services)


def data_volume_gb(settings: Settings, group: NodeGroup) -> int:
    return group.data_volume_gb or aws_settings(settings).data_volume_gb


def instance_type(settings: Settings, group: NodeGroup) -> str:
    return group.instance_type or aws_settings(settings).instance_type


def user_data(settings: Settings, name: str, data_volume: bool) -> str:
    return render(
        "aws/cloud-init.yaml.j2",
        name=name,
        stack=settings.stack,
        ssh_user=aws_settings(settings).ssh_user,
        data_volume=data_volume,
        device=DATA_DEVICE.removeprefix("/dev/"),
        mount=DATA_MOUNT,
        label=DATA_LABEL,
        wait_tries=DATA_WAIT_TRIES,
    )


def tags(settings: Settings, name: str, node: str = "") -> dict[str, str]:
    out = {"smack:stack": settings.stack, "Name": f"smack-{settings.stack}-{name}"}
    if node:
        out["smack:node"] = node
    return out


def key_file(settings: Settings) -> Path:
    return state_dir(settings.stack) / "ssh" / "id_ed25519"


def node_record(plan: NodePlan, settings: Settings, values: list[Any], ssh_key_file: str
                ) -> dict[str, Any]:
    """Node record from [instance id, private ip, public ip, bastion public ip]."""
    instance_id, private_ip, public_ip, jump = (str(v or "") for v in values[:4])
    user = aws_settings(settings).ssh_user
    address = private_ip if (jump or not public_ip) else public_ip
    return Node(
        name=plan.name,
        address=address,
        ssh_user=user,
        ssh_key_file=ssh_key_file,
        group=plan.group,
        services=plan.services,
        labels=plan.labels,
        node_id=instance_id,
        proxy_jump=f"{user}@{jump}" if jump else "",
    ).to_dict()


def _nth(i: int) -> Callable[[list[str]], str]:
    return lambda items: items[i]


def _recorder(plan: NodePlan, settings: Settings, ssh_key_file: str
              ) -> Callable[[list[Any]], dict[str, Any]]:
    return lambda values: node_record(plan, settings, values, ssh_key_file)


# ---------------------------------------------------------------------- cluster


class AwsCluster(pulumi.ComponentResource):
    """Network, security groups, key pair, instances and data volumes of one aws stack."""

    nodes: pulumi.Output[list[dict[str, Any]]]
    bastion_address: pulumi.Output[str]
    private_key: pulumi.Output[str]

    def __init__(self, name: str, settings: Settings,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("smack:aws:Cluster", name, None, opts)
        problems = misconfiguration(settings)
        if problems:
            raise pulumi.RunError(str(SettingsError(settings.stack, problems)))
        self._settings = settings
        self._aws = aws_settings(settings)
        self._provider = aws.Provider("aws", region=self._aws.region,
                                      opts=pulumi.ResourceOptions(parent=self))
        self._amis: dict[str, pulumi.Output[str]] = {}

        vpc, public, private, network_ready = self._network()
        cluster_sg, admin_sg, bastion_sg = self._security_groups(vpc)
        key, ssh_key_file, self.private_key = self._key_pair()

        bastion_ip: pulumi.Output[str] = pulumi.Output.from_input("")
        if self._aws.bastion and bastion_sg is not None:
            bastion = self._instance(
                "bastion", node="", kind=BASTION_INSTANCE_TYPE, subnet=public[0],
                groups=[bastion_sg], key=key, public_ip=True, data_volume=False,
                depends_on=network_ready,
            )
            bastion_ip = bastion.public_ip
        self.bastion_address = bastion_ip

        subnets = private if self._aws.private_subnets else public
        groups = {g.name: g for g in settings.nodes}
        records: list[pulumi.Output[dict[str, Any]]] = []
        for plan in plan_nodes(settings):
            group = groups[plan.group]
            subnet = subnets[zone_index(plan, len(subnets))]
            data = needs_data_volume(plan)
            instance = self._instance(
                plan.name, node=plan.name, kind=instance_type(settings, group), subnet=subnet,
                groups=[cluster_sg, admin_sg], key=key, public_ip=not self._aws.private_subnets,
                data_volume=data, depends_on=network_ready,
            )
            waits: list[pulumi.Output[Any]] = []
            if data:
                waits.append(self._data_volume(plan, group, subnet, instance).id)
            records.append(
                pulumi.Output.all(instance.id, instance.private_ip, instance.public_ip,
                                  bastion_ip, *waits)
                .apply(_recorder(plan, settings, ssh_key_file))
            )
        self.nodes = pulumi.Output.all(*records)
        self.register_outputs({"nodes": self.nodes, "bastion": self.bastion_address,
                               "private_key": self.private_key})

    # ------------------------------------------------------------------ helpers

    def _opts(self, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._provider, **extra)

    def _tags(self, name: str, node: str = "") -> dict[str, str]:
        return tags(self._settings, name, node)

    # ------------------------------------------------------------------ network

    def _network(self) -> tuple[aws.ec2.Vpc, list[aws.ec2.Subnet], list[aws.ec2.Subnet],
                                list[pulumi.Resource]]:
        s = self._aws
        zones = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(provider=self._provider)
        ).names.apply(lambda names: pick_zones(list(names), s.availability_zones, s.region))
        public_cidrs, private_cidrs = subnet_cidrs(s.vpc_cidr, s.availability_zones)

        vpc = aws.ec2.Vpc("vpc", cidr_block=s.vpc_cidr, enable_dns_support=True,
                          enable_dns_hostnames=True, tags=self._tags("vpc"), opts=self._opts())
        igw = aws.ec2.InternetGateway("igw", vpc_id=vpc.id, tags=self._tags("igw"),
                                      opts=self._opts())
        public_rt = aws.ec2.RouteTable(
            "public-rt", vpc_id=vpc.id,
            routes=[{"cidr_block": EVERYWHERE_V4, "gateway_id": igw.id}],
            tags=self._tags("public-rt"), opts=self._opts(),
        )
        ready: list[pulumi.Resource] = []
        public = self._subnets("public", vpc=vpc, cidrs=public_cidrs, zones=zones,
                               table=public_rt, ready=ready)
        private: list[aws.ec2.Subnet] = []
        if s.private_subnets:
            eip = aws.ec2.Eip("nat-eip", domain="vpc", tags=self._tags("nat-eip"),
                              opts=self._opts(depends_on=[igw]))
            nat = aws.ec2.NatGateway("nat", allocation_id=eip.id, subnet_id=public[0].id,
                                     tags=self._tags("nat"), opts=self._opts(depends_on=[igw]))
            private_rt = aws.ec2.RouteTable(
                "private-rt", vpc_id=vpc.id,
                routes=[{"cidr_block": EVERYWHERE_V4, "nat_gateway_id": nat.id}],
                tags=self._tags("private-rt"), opts=self._opts(),
            )
            private = self._subnets("private", vpc=vpc, cidrs=private_cidrs, zones=zones,
                                    table=private_rt, ready=ready)
        return vpc, public, private, ready

    def _subnets(self, kind: str, *, vpc: aws.ec2.Vpc, cidrs: list[str],
                 zones: pulumi.Output[list[str]], table: aws.ec2.RouteTable,
                 ready: list[pulumi.Resource]) -> list[aws.ec2.Subnet]:
        subnets = []
        for i, cidr in enumerate(cidrs):
            name = f"{kind}-{i + 1}"
            subnet = aws.ec2.Subnet(
                name, vpc_id=vpc.id, cidr_block=cidr,
                availability_zone=zones.apply(_nth(i)),
                map_public_ip_on_launch=False, tags=self._tags(name), opts=self._opts(),
            )
            ready.append(aws.ec2.RouteTableAssociation(
                f"{name}-rt", subnet_id=subnet.id, route_table_id=table.id, opts=self._opts(),
            ))
            subnets.append(subnet)
        return subnets

    # ---------------------------------------------------------- security groups

    def _security_groups(self, vpc: aws.ec2.Vpc
                         ) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup,
                                    aws.ec2.SecurityGroup | None]:
        s, stack = self._aws, self._settings.stack
        cluster = aws.ec2.SecurityGroup(
            "cluster-sg", vpc_id=vpc.id,
            description=f"smack {stack}: all traffic between cluster nodes",
            tags=self._tags("cluster-sg"), opts=self._opts(),
        )
        aws.vpc.SecurityGroupIngressRule(
            "cluster-all", security_group_id=cluster.id, referenced_security_group_id=cluster.id,
            ip_protocol="-1", description="all traffic between cluster nodes",
            tags=self._tags("cluster-all"), opts=self._opts(),
        )
        aws.vpc.SecurityGroupEgressRule(
            "cluster-egress", security_group_id=cluster.id, cidr_ipv4=EVERYWHERE_V4,
            ip_protocol="-1", description="all outbound traffic",
            tags=self._tags("cluster-egress"), opts=self._opts(),
        )
        admin = aws.ec2.SecurityGroup(
            "admin-sg", vpc_id=vpc.id,
            description=f"smack {stack}: SSH and UIs from admin_cidrs only",
            tags=self._tags("admin-sg"), opts=self._opts(),
        )
        self._from_admins("admin", admin, admin_ports(self._settings, ssh=not s.bastion))
        if not s.bastion:
            return cluster, admin, None
        bastion = aws.ec2.SecurityGroup(
            "bastion-sg", vpc_id=vpc.id,
            description=f"smack {stack}: SSH to the bastion from admin_cidrs only",
            tags=self._tags("bastion-sg"), opts=self._opts(),
        )
        self._from_admins("bastion", bastion, [(SSH_PORT, "SSH")])
        aws.vpc.SecurityGroupEgressRule(
            "bastion-egress", security_group_id=bastion.id, cidr_ipv4=EVERYWHERE_V4,
            ip_protocol="-1", description="all outbound traffic",
            tags=self._tags("bastion-egress"), opts=self._opts(),
        )
        aws.vpc.SecurityGroupIngressRule(
            "cluster-ssh-from-bastion", security_group_id=cluster.id,
            referenced_security_group_id=bastion.id, ip_protocol="tcp", from_port=SSH_PORT,
            to_port=SSH_PORT, description="SSH from the bastion",
            tags=self._tags("cluster-ssh-from-bastion"), opts=self._opts(),
        )
        return cluster, admin, bastion

    def _from_admins(self, prefix: str, group: aws.ec2.SecurityGroup,
                     ports: list[tuple[int, str]]) -> None:
        """One ingress rule per port and admin_cidrs entry; none when the list is empty."""
        for i, cidr in enumerate(self._aws.admin_cidrs):
            family = ("cidr_ipv6" if ipaddress.ip_network(cidr).version == 6
                      else "cidr_ipv4")
            for port, what in ports:
                name = f"{prefix}-{port}-{i + 1}"
                aws.vpc.SecurityGroupIngressRule(
                    name, security_group_id=group.id, ip_protocol="tcp", from_port=port,
                    to_port=port, description=f"{what} from admin_cidrs[{i}]",
                    tags=self._tags(name), opts=self._opts(), **{family: cidr},
                )

    # ----------------------------------------------------------------- key pair

    def _key_pair(self) -> tuple[aws.ec2.KeyPair, str, pulumi.Output[str]]:
        """The user's public key, or a generated key pair kept in the state (the private half
        a secret, written back here when the file is lost: the same key, no replacement)."""
        if self._aws.public_key:
            public_key: pulumi.Input[str] = self._aws.public_key
            path, private = "", pulumi.Output.secret("")
        else:
            file = key_file(self._settings)
            generated = StackKeyPair("ssh-key-file", {"stack": self._settings.stack,
                                                      "key_file": str(file)},
                                     pulumi.ResourceOptions(parent=self))
            public_key, path, private = generated.public_key, str(file), generated.private_key
        key = aws.ec2.KeyPair("ssh-key", public_key=public_key, tags=self._tags("ssh-key"),
                              opts=self._opts())
        return key, path, pulumi.Output.secret(private)

    # ---------------------------------------------------------------- instances

    def _ami(self, kind: str) -> pulumi.Input[str]:
        if self._aws.ami_id:
            return self._aws.ami_id
        arch = architecture(kind)
        if arch not in self._amis:
            debian_arch = "arm64" if arch == "arm64" else "amd64"
            self._amis[arch] = aws.ec2.get_ami_output(
                most_recent=True,
                owners=[DEBIAN_OWNER],
                filters=[{"name": "name", "values": [f"debian-12-{debian_arch}-*"]},
                         {"name": "architecture", "values": [arch]}],
                opts=pulumi.InvokeOutputOptions(provider=self._provider),
            ).id
        return self._amis[arch]

    def _instance(self, name: str, *, node: str, kind: str, subnet: aws.ec2.Subnet,
                  groups: list[aws.ec2.SecurityGroup], key: aws.ec2.KeyPair,
                  public_ip: bool, data_volume: bool, depends_on: list[pulumi.Resource]
                  ) -> aws.ec2.Instance:
        # A looked-up AMI moves with every Debian point release: never replace running nodes
        # for that. Set smack:aws.ami_id to choose (and change) the image on purpose.
        # User data only acts at first boot; changing it would only stop and start the node.
        ignore = ["user_data"] if self._aws.ami_id else ["ami", "user_data"]
        return aws.ec2.Instance(
            name,
            ami=self._ami(kind),
            instance_type=kind,
            subnet_id=subnet.id,
            vpc_security_group_ids=[g.id for g in groups],
            key_name=key.key_name,
            associate_public_ip_address=public_ip,
            user_data=user_data(self._settings, name, data_volume),
            root_block_device={"volume_type": "gp3", "volume_size": ROOT_VOLUME_GB,
                               "encrypted": True, "tags": self._tags(f"{name}-root", node)},
            metadata_options={"http_tokens": "required", "http_endpoint": "enabled"},
            tags=self._tags(name, node),
            opts=self._opts(depends_on=depends_on, ignore_changes=ignore),
        )

    def _data_volume(self, plan: NodePlan, group: NodeGroup, subnet: aws.ec2.Subnet,
                     instance: aws.ec2.Instance) -> aws.ec2.VolumeAttachment:
        name = f"{plan.name}-data"
        volume = aws.ebs.Volume(
            name, availability_zone=subnet.availability_zone, type="gp3", encrypted=True,
            size=data_volume_gb(self._settings, group), tags=self._tags(name, plan.name),
            opts=self._opts(),
        )
        return aws.ec2.VolumeAttachment(
            f"{name}-attachment", device_name=DATA_DEVICE, volume_id=volume.id,
            instance_id=instance.id, stop_instance_before_detaching=True, opts=self._opts(),
        )
