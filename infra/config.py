"""Typed stack settings: one schema for the local, baremetal and aws stacks.

Settings come from `stacks/Pulumi.<stack>.yaml` (keys in the `smack:` namespace). They are
validated before any resource exists; every problem is reported with its key path, the value
given and what is allowed (see `infra.errors.SettingsError`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from infra.apps import AppSpec
from infra.config_messages import explain
from infra.errors import SettingsError
from infra.settings_base import NAMESPACE, _Model

# Service keys are role names; each maps to the inventory group(s) it fills.
SERVICE_GROUPS: dict[str, str] = {
    "zookeeper": "zookeeper",
    "mesos_master": "mesos_masters",
    "mesos_agent": "mesos_agents",
    "marathon": "marathon",
    "kafka": "kafka",
    "cassandra": "cassandra",
    "spark": "spark",
}
# Services that form a quorum or an HA set: in the converged layout they run on the first
# `quorum_size` nodes only, so adding a node never changes the ensemble.
QUORUM_SERVICES = ("zookeeper", "mesos_master", "marathon")
ServiceName = Literal[
    "zookeeper", "mesos_master", "mesos_agent", "marathon", "kafka", "cassandra", "spark"
]

HostName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$"),
    Field(description="a name of lowercase letters, digits and '-', starting with a letter, "
                      "at most 31 characters"),
]
LabelKey = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,62}$"),
    Field(description="a key of lowercase letters, digits, '_', '.' and '-'"),
]
UserName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$"),
    Field(description="a Unix user name"),
]


# --------------------------------------------------------------------------- nodes


class NodeGroup(_Model):
    """A set of identical nodes. In the `separate` layout `services` says what runs on them."""

    name: HostName = "node"
    count: int = Field(3, ge=0, le=50)
    services: list[ServiceName] = []
    labels: dict[LabelKey, str] = {}
    cpus: float | None = Field(None, gt=0, le=64)
    memory_mb: int | None = Field(None, ge=256, le=1_048_576)
    instance_type: str | None = Field(None, pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
                                      description="an EC2 instance type such as m6i.large")
    data_volume_gb: int | None = Field(None, ge=8, le=16_384)

    @field_validator("services")
    @classmethod
    def _unique_services(cls, v: list[str]) -> list[str]:
        dupes = sorted({s for s in v if v.count(s) > 1})
        if dupes:
            raise ValueError(f"lists {', '.join(dupes)} more than once; list each service once")
        return v


class Ulimits(_Model):
    nofile: int = Field(20000, ge=1024, le=1_048_576)
    nproc: int = Field(32768, ge=1024, le=4_194_304)


class LocalSettings(_Model):
    """Nodes as containers with systemd on this machine."""

    engine: Literal["podman", "docker"] = "podman"
    subnet: str = "198.18.0.0/24"
    # The runtime that works with hybrid cgroups; crun fails there.
    runtime: str = Field("runc", pattern=r"^[a-z][a-z0-9-]*$",
                         description="an OCI runtime name such as runc")
    # Container ulimits must not exceed the host's (no CAP_SYS_RESOURCE to raise them).
    ulimits: Ulimits = Ulimits()
    # Cgroup namespace of the nodes. "host": measured here, removing one node leaves the others
    # intact. "private" makes each node's systemd manage the host's whole name=systemd
    # hierarchy on hybrid-cgroup hosts, so removing any node breaks `exec` into the rest; it
    # is kept for trying real Mesos agents on a fixed set of nodes.
    cgroupns: Literal["private", "host"] = "host"
    # systemd in legacy cgroup mode: no cgroup2 mount in the node (a real Mesos agent refuses
    # the hybrid layout's /sys/fs/cgroup/unified).
    init_args: list[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.=/-]+$"),
                  Field(description="a kernel-style argument such as name=value")]
    ] = [
        "systemd.unified_cgroup_hierarchy=0",
        "systemd.legacy_systemd_cgroup_controller=1",
    ]
    debian_suite: Literal["bookworm"] = "bookworm"
    # Debian mirror for the base image; empty means mmdebstrap's own default.
    debian_mirror: str = ""
    ssh_user: UserName = "smack"
    # Keep the services' data directories (/var/lib/zookeeper, kafka, cassandra, mesos/master,
    # spark, spark-events) on podman volumes of their own, so a change that replaces a node's
    # container keeps its data; they are deleted with the node. Off only for containers that
    # stand in for existing hosts (the baremetal tests): their reset removes those directories.
    data_volumes: bool = True
    # Host part of the first node's address; each node group gets a block of addresses.
    address_offset: int = Field(10, ge=2, le=200)
    addresses_per_group: int = Field(50, ge=1, le=1000)

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, v: str) -> str:
        try:
            net = ipaddress.IPv4Network(v, strict=True)
        except ValueError as exc:
            raise ValueError(
                f"is not an IPv4 network in CIDR form ({exc}); allowed: e.g. 198.18.0.0/24"
            ) from None
        if net.prefixlen > 28 or net.prefixlen < 8:
            raise ValueError("prefix length must be between /8 and /28")
        return v

    @field_validator("debian_mirror")
    @classmethod
    def _mirror(cls, v: str) -> str:
        if v and not re.match(r"^https?://[^\s/]+(/\S*)?$", v):
            raise ValueError("allowed: an http(s) URL of a Debian mirror, or empty for the default")
        return v

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)


HostKey = Annotated[
    str,
    StringConstraints(pattern=r"^((ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) "
                              r"[A-Za-z0-9+/]+={0,3})?$"),
    Field(description="an OpenSSH host key 'ssh-ed25519 AAAA…' (type and base64, as in "
                      "/etc/ssh/ssh_host_ed25519_key.pub without the comment), or empty"),
]


class BaremetalHost(_Model):
    """An existing host smack logs into over SSH (it creates nothing on the host but services)."""

    name: HostName
    address: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.:-]*$"),
        Field(description="an IP address or DNS name"),
    ]
    port: int = Field(22, ge=1, le=65535)
    user: UserName = "root"
    # Private key file; empty means use the ssh agent.
    key_file: str = ""
    # Reach root through passwordless sudo; false only when `user` is root.
    become: bool = True
    group: HostName = "node"
    services: list[ServiceName] = []
    labels: dict[LabelKey, str] = {}
    # The host's SSH key, pinned: preflight refuses a host presenting another one. Empty means
    # the key seen at the first preflight is trusted and pinned from then on.
    host_key: HostKey = ""
    # Per-host overrides of smack:baremetal.min_memory_mb / min_disk_gb.
    min_memory_mb: int | None = Field(None, ge=256, le=16_777_216)
    min_disk_gb: int | None = Field(None, ge=1, le=1_000_000)

    @field_validator("key_file")
    @classmethod
    def _key_file(cls, v: str) -> str:
        if v.endswith(".pub"):
            raise ValueError("names a public key; allowed: the private key file (without .pub), "
                             "or empty for the ssh agent")
        return v


class BaremetalSettings(_Model):
    hosts: list[BaremetalHost] = Field(min_length=1)
    # Run playbooks/reset.yml on every host when the stack is destroyed (removes smack's
    # services, units, directories, users and packages; the hosts themselves stay).
    reset_on_destroy: bool = False
    # Preflight: memory (MiB) and free disk (GiB, on / and /var/lib) each host must have.
    min_memory_mb: int = Field(2048, ge=256, le=16_777_216)
    min_disk_gb: int = Field(10, ge=1, le=1_000_000)
    # Preflight: seconds to wait for each host's SSH login and for each check command.
    connect_timeout_seconds: int = Field(15, ge=1, le=300)

    @field_validator("hosts")
    @classmethod
    def _unique(cls, v: list[BaremetalHost]) -> list[BaremetalHost]:
        names = [h.name for h in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"host names must be unique; repeated: {', '.join(dupes)}")
        targets = [f"{h.address}:{h.port}" for h in v]
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            raise ValueError(f"two hosts name the same address and port ({', '.join(repeated)}); "
                             f"list each host once")
        return v


class AwsSettings(_Model):
    region: Annotated[
        str,
        StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$"),
        Field(description="an AWS region such as eu-west-1"),
    ] = "eu-west-1"
    vpc_cidr: str = "10.42.0.0/16"
    availability_zones: int = Field(2, ge=2, le=6)
    private_subnets: bool = False
    bastion: bool = False
    # Addresses allowed to reach SSH and the UIs; nothing is open to the world by default.
    admin_cidrs: list[str] = []
    ami_id: str | None = Field(None, pattern=r"^ami-[0-9a-f]{8,17}$",
                               description="an AMI id such as ami-0123456789abcdef0")
    instance_type: str = Field("m6i.large", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
                               description="an EC2 instance type such as m6i.large")
    data_volume_gb: int = Field(50, ge=8, le=16_384)
    # OpenSSH public key; empty means smack generates a key pair kept as a secret.
    public_key: str = ""
    ssh_user: UserName = "admin"

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, v: str) -> str:
        try:
            net = ipaddress.IPv4Network(v, strict=True)
        except ValueError as exc:
            raise ValueError(f"is not an IPv4 network in CIDR form ({exc})") from None
        if not 16 <= net.prefixlen <= 24:
            raise ValueError("allowed: a prefix between /16 and /24")
        return v

    @field_validator("admin_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=True)
            except ValueError as exc:
                raise ValueError(f"'{item}' is not a network in CIDR form ({exc})") from None
        return v

    @field_validator("public_key")
    @classmethod
    def _pubkey(cls, v: str) -> str:
        if v and not re.match(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+", v):
            raise ValueError("allowed: an OpenSSH public key line ('ssh-ed25519 AAAA…'), or empty")
        return v


# ------------------------------------------------------------------------ services


class _Service(_Model):
    enabled: bool = True
    # More role variables for this service; each key must start with the role name.
    vars: dict[str, Any] = {}


class ZookeeperSettings(_Service):
    version: str = Field("3.9.5", pattern=r"^3\.9\.\d+$",
                         description="a 3.9.x release such as 3.9.5")
    heap_mb: int = Field(256, ge=64, le=65536)
    # Mutual TLS between the servers, a TLS client port (2182) beside the plain one, and
    # digest logins for Mesos and Marathon, whose znodes then carry ACLs.
    # false is for a lab only: anyone who reaches port 2181 changes what Mesos and Marathon keep.
    security: bool = True


FlagName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$"),
    Field(description="a flag name without dashes, such as 'offer_timeout'"),
]
# A command-line flag: a string or number is passed as --name=value, true as --name and
# false as --no-name. Names are not checked here: the daemon itself refuses unknown ones.
FlagValue = str | int | float | bool


class MesosMasterSettings(_Service):
    version: str = Field("1.11.0", pattern=r"^1\.11\.\d+$",
                         description="a 1.11.x release such as 1.11.0")
    # HTTP (read-only and read-write) and framework/agent authentication with generated secrets.
    authentication: bool = True
    # More mesos-master flags, one file each under /etc/mesos-master.
    flags: dict[FlagName, FlagValue] = {}


class MesosAgentSettings(_Service):
    version: str = Field("1.11.0", pattern=r"^1\.11\.\d+$",
                         description="a 1.11.x release such as 1.11.0")
    # Comma-separated containerizers: mesos, docker or both.
    containerizers: str = Field("mesos", pattern=r"^(mesos|docker)(,(mesos|docker))?$",
                                description="'mesos', 'docker' or 'docker,mesos'")
    # Containerizer launcher; auto: linux where the cgroup v1 freezer hierarchy is writable
    # (hosts booted with cgroup v1, containers with their own cgroup namespace), else posix.
    launcher: Literal["auto", "linux", "posix"] = "auto"
    # Isolators; auto: cgroups/cpu,cgroups/mem on hosts with the linux launcher, else
    # posix/cpu,posix/mem.
    isolation: str = Field("auto", pattern=r"^(auto|[a-z_]+/[a-z_0-9]+(,[a-z_]+/[a-z_0-9]+)*)$",
                           description="'auto' or isolators such as 'posix/cpu,posix/mem'")
    # The agent's systemd integration; auto: on on hosts with a writable systemd cgroup
    # hierarchy, off in containers.
    systemd_support: Literal["auto", "on", "off"] = "auto"

    @field_validator("systemd_support", mode="before")
    @classmethod
    def _yaml_booleans(cls, v: Any) -> Any:
        """YAML reads a bare on/off as a boolean."""
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v
    # More mesos-agent flags, one file each under /etc/mesos-agent.
    flags: dict[FlagName, FlagValue] = {}


class MarathonSettings(_Service):
    version: str = Field("1.11.24", pattern=r"^1\.11\.\d+$",
                         description="a 1.11.x release such as 1.11.24")
    heap_mb: int = Field(512, ge=128, le=65536)
    # More Marathon flags, as MARATHON_<NAME> lines in its environment file.
    flags: dict[FlagName, FlagValue] = {}


KafkaPrincipalName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,62}$"),
    Field(description="a name of lowercase letters, digits, '_', '.' and '-', starting with "
                      "a letter"),
]
# A topic or group name; a trailing '*' makes it a prefix ('iot.*' is every name starting 'iot.').
KafkaResource = Annotated[
    str,
    StringConstraints(pattern=r"^([A-Za-z0-9._-]{1,249}\*?|\*)$"),
    Field(description="a topic or group name, a prefix ending in '*' such as 'iot.*', or '*'"),
]


class KafkaPrincipal(_Model):
    """An application's SCRAM user and what it may do (Kafka ACLs, allow only)."""

    # Topics it may write to (Write and Describe).
    produce: list[KafkaResource] = []
    # Topics it may read (Read and Describe), as a member of one of `groups`.
    consume: list[KafkaResource] = []
    # Consumer groups it may use (Read); empty means groups named after the principal ('<name>*').
    groups: list[KafkaResource] = []


class KafkaSettings(_Service):
    version: str = Field("4.1.1", pattern=r"^4\.\d+\.\d+$",
                         description="a 4.x release such as 4.1.1")
    heap_mb: int = Field(512, ge=128, le=65536)
    # TLS on every listener, SCRAM-SHA-512 logins for clients, mTLS between brokers and ACLs.
    # false is for a lab only: anyone who reaches port 9092 reads and writes everything.
    security: bool = True
    # Application principals: each gets a generated password (in the stack's credentials) and
    # the ACLs declared here; smack's own admin principal is always there.
    principals: dict[KafkaPrincipalName, KafkaPrincipal] = {}


class CassandraSettings(_Service):
    version: str = Field("5.0.6", pattern=r"^5\.0\.\d+$",
                         description="a 5.0.x release such as 5.0.6")
    heap_mb: int = Field(1024, ge=256, le=65536)
    # Logins and permissions, TLS on the CQL port and between nodes, JMX with a password.
    # false is for a lab only: anyone who reaches port 9042 reads and writes everything.
    security: bool = True


class SparkSettings(_Service):
    version: str = Field("3.5.8", pattern=r"^3\.5\.\d+$",
                         description="a 3.5.x release such as 3.5.8")
    cluster_manager: Literal["mesos", "standalone"] = "standalone"
    worker_memory_mb: int = Field(1024, ge=256, le=1_048_576)
    # Spark's Kafka source (spark-sql-kafka-0-10_2.12) and the Spark Cassandra Connector, from
    # the bundle onto every Spark node's class path. The Kafka source follows Spark's release
    # numbers; 3.5.7 is the newest of the 3.5 line the Maven repository serves here, and Spark
    # keeps patch releases of a line compatible.
    kafka_connector_version: str = Field("3.5.7", pattern=r"^3\.5\.\d+$",
                                         description="a 3.5.x release such as 3.5.7")
    cassandra_connector_version: str = Field("3.5.1", pattern=r"^3\.5\.\d+$",
                                             description="a 3.5.x release such as 3.5.1")


class Services(_Model):
    zookeeper: ZookeeperSettings = ZookeeperSettings()
    mesos_master: MesosMasterSettings = MesosMasterSettings()
    mesos_agent: MesosAgentSettings = MesosAgentSettings()
    marathon: MarathonSettings = MarathonSettings()
    kafka: KafkaSettings = KafkaSettings()
    cassandra: CassandraSettings = CassandraSettings()
    spark: SparkSettings = SparkSettings()

    def enabled(self) -> list[str]:
        return [name for name in SERVICE_GROUPS if getattr(self, name).enabled]


class ArtifactSettings(_Model):
    source: Literal["upstream", "mirror", "bundle"] = "bundle"
    # Base URL holding the same layout as the Apache release sites (source: mirror).
    mirror_url: str = ""
    # Directory made by `smack bundle`; empty means the default cache location.
    bundle_dir: str = ""
    # Maven repository `smack bundle` resolves from; empty means Maven's own default.
    maven_repository_url: str = ""

    @field_validator("mirror_url", "maven_repository_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not re.match(r"^(https?|file)://\S+$", v):
            raise ValueError("allowed: an http(s):// or file:// URL, or empty")
        return v.rstrip("/")

    def bundle_path(self) -> Path:
        """Where the bundle lives: the setting (relative to the project), else the cache."""
        from infra.paths import PROJECT_DIR, cache_dir  # noqa: PLC0415

        if not self.bundle_dir:
            return cache_dir() / "bundle"
        path = Path(self.bundle_dir).expanduser()
        return path if path.is_absolute() else PROJECT_DIR / path

    @model_validator(mode="after")
    def _mirror_needs_url(self) -> ArtifactSettings:
        if self.source == "mirror" and not self.mirror_url:
            raise ValueError("source 'mirror' needs artifacts.mirror_url (an http(s) URL)")
        return self


class PackageSettings(_Model):
    """Where the Mesos and Marathon packages come from.

    repository: an apt source line (or a yum baseurl) such as AVENTER's, with its signing key;
    local_repository: a flat apt repository directory on this machine, copied to the nodes;
    files: package files, as paths on this machine or http(s) URLs the nodes download.
    """

    source: Literal["repository", "local_repository", "files"] = "repository"
    apt_repository: Annotated[
        str,
        StringConstraints(pattern=r"^(deb (\[[^\]]*\] )?\S+ \S+( \S+)*)?$"),
        Field(description="a one-line apt source such as 'deb https://<host>/debian bookworm "
                          "main', or empty"),
    ] = ""
    apt_key_url: str = ""
    yum_repository: str = ""
    yum_key_url: str = ""
    repository_dir: str = ""
    files: list[str] = []

    @field_validator("apt_key_url", "yum_repository", "yum_key_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not re.match(r"^(https?|file)://\S+$", v):
            raise ValueError("allowed: an http(s):// or file:// URL, or empty")
        return v

    @field_validator("files")
    @classmethod
    def _files(cls, v: list[str]) -> list[str]:
        for item in v:
            if not re.match(r"^(https?://\S+|[^:\s]+\.(deb|rpm))$", item):
                raise ValueError(f"'{item}' is neither an http(s) URL nor a path to a .deb or "
                                 f".rpm file")
        return v

    def repository_path(self) -> Path:
        """The local repository directory (relative paths are relative to the project)."""
        from infra.paths import PROJECT_DIR  # noqa: PLC0415

        path = Path(self.repository_dir).expanduser()
        return path if path.is_absolute() else PROJECT_DIR / path


class CommonSettings(_Model):
    # Java package; empty means the OS's own Java 17 headless package.
    java_package: Annotated[
        str,
        StringConstraints(pattern=r"^([a-z0-9][a-z0-9.+-]+)?$"),
        Field(description="an OS package name, or empty"),
    ] = ""
    swappiness: int = Field(1, ge=0, le=100)
    max_map_count: int = Field(1_048_575, ge=65530, le=2_147_483_647)
    # Open-file limit for service users and units; empty means the target's default.
    nofile_limit: int | None = Field(None, ge=1024, le=1_048_576)
    time_sync_enabled: bool = True
    vars: dict[str, Any] = {}


class MetricsSettings(_Model):
    """Prometheus on one node, scraping every service through exporters (roles/metrics)."""

    enabled: bool = True
    # The node group whose first node runs Prometheus; empty: the stack's first group.
    group: Annotated[str, StringConstraints(pattern=r"^([a-z][a-z0-9-]{0,30})?$")] = ""
    scrape_interval_seconds: int = Field(15, ge=5, le=300)
    retention_days: int = Field(7, ge=1, le=3650)
    # The Prometheus JMX exporter java agent (Maven Central) in ZooKeeper, Kafka, Cassandra and
    # Spark; uPlot (npm) draws the dashboards. Both come from the bundle.
    jmx_exporter_version: str = Field("1.0.1", pattern=r"^1\.\d+\.\d+$",
                                      description="a 1.x release such as 1.0.1")
    uplot_version: str = Field("1.6.32", pattern=r"^1\.6\.\d+$",
                               description="a 1.6.x release such as 1.6.32")
    # More role variables; each key must start with 'metrics_'.
    vars: dict[str, Any] = {}


class AnsibleSettings(_Model):
    forks: int = Field(20, ge=1, le=500)
    verbosity: int = Field(0, ge=0, le=4)
    health_checks_enabled: bool = True


# -------------------------------------------------------------------------- stack


class Settings(_Model):
    stack: str
    target: Literal["local", "baremetal", "aws"]
    layout: Literal["converged", "separate"] = "converged"
    # Converged layout: ZooKeeper, Mesos masters and Marathon run on this many of the first nodes.
    quorum_size: int = Field(3, ge=1, le=7)
    nodes: list[NodeGroup] = [NodeGroup()]
    local: LocalSettings = LocalSettings()
    baremetal: BaremetalSettings | None = None
    aws: AwsSettings | None = None
    services: Services = Services()
    artifacts: ArtifactSettings = ArtifactSettings()
    packages: PackageSettings = PackageSettings()
    # Marathon apps applied after the cluster converged (roles/apps).
    apps: list[AppSpec] = []
    # Reference pipelines deployed on the cluster (roles/pipelines, pipelines/<name>).
    pipelines: list[Literal["iot"]] = []
    common: CommonSettings = CommonSettings()
    metrics: MetricsSettings = MetricsSettings()
    ansible: AnsibleSettings = AnsibleSettings()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        from infra.config_checks import cross_checks  # noqa: PLC0415 - it imports this module

        problems = cross_checks(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def node_groups(self) -> list[NodeGroup]:
        """Node groups of this stack; for baremetal they come from the host list."""
        if self.target != "baremetal" or self.baremetal is None:
            return list(self.nodes)
        groups: dict[str, list[BaremetalHost]] = {}
        for host in self.baremetal.hosts:
            groups.setdefault(host.group, []).append(host)
        # A group lists every service any of its hosts runs (hosts may differ).
        return [
            NodeGroup(name=name, count=len(hosts),
                      services=sorted({svc for h in hosts for svc in h.services}))
            for name, hosts in groups.items()
        ]

    def quorum_members(self) -> int:
        """Converged layout: how many of the first nodes run the quorum services."""
        total = sum(g.count for g in self.node_groups())
        largest_odd = total if total % 2 else total - 1
        return max(0, min(self.quorum_size, largest_odd))

    def notices(self) -> list[str]:
        """What the program adjusts instead of refusing; printed by `smack validate` and `up`."""
        out = []
        members = self.quorum_members()
        if self.layout == "converged" and members < self.quorum_size:
            total = sum(g.count for g in self.node_groups())
            quorum = sorted(set(self.services.enabled()) & set(QUORUM_SERVICES))
            out.append(f"smack:quorum_size: {self.quorum_size}, but the stack has {total} "
                       f"node(s): {', '.join(quorum)} run on {members} (the largest odd count "
                       f"that fits); with {self.quorum_size} nodes or more they run on "
                       f"{self.quorum_size}")
        return out

    def service_counts(self) -> dict[str, int]:
        enabled = self.services.enabled()
        groups = self.node_groups()
        if self.layout == "converged":
            total = sum(g.count for g in groups)
            quorum = self.quorum_members()
            return {s: quorum if s in QUORUM_SERVICES else total for s in enabled}
        return {s: sum(g.count for g in groups if s in g.services) for s in enabled}

    @property
    def nofile_limit(self) -> int:
        if self.common.nofile_limit is not None:
            return self.common.nofile_limit
        return self.local.ulimits.nofile if self.target == "local" else 100_000


# ------------------------------------------------------------------------- loading


def _decode(value: Any) -> Any:
    """Pulumi hands structured values to the program as JSON text and scalars as strings."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def parse_settings(stack: str, raw: Mapping[str, Any]) -> Settings:
    """Validate `smack:*` config values (from a stack file or the Pulumi runtime).

    Keys of other namespaces (`aws:region`, …) belong to their providers and are ignored.
    Raises SettingsError listing every problem.
    """
    data: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        ns, _, name = key.partition(":")
        if ns != NAMESPACE:
            continue
        if not name:
            problems.append(f"{key}: empty setting name")
            continue
        if name == "stack":
            problems.append(f"{key}: reserved; the stack name comes from the Pulumi stack")
            continue
        data[name] = _decode(value)
    data["stack"] = stack
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            line = explain(Settings, err)
            for part in line.split("\n"):
                if part not in problems:
                    problems.append(part)
        raise SettingsError(stack, problems) from None
    if problems:
        raise SettingsError(stack, problems)
    return settings


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / "stacks" / f"Pulumi.{stack}.yaml"


def load_stack_file(project_dir: Path, stack: str) -> Settings:
    """Read and validate stacks/Pulumi.<stack>.yaml without the Pulumi engine."""
    path = stack_file(project_dir, stack)
    if not path.is_file():
        raise SettingsError(stack, [f"{path}: stack file not found"])
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(stack, [f"{path}: not valid YAML: {exc}"]) from None
    if not isinstance(doc, dict):
        raise SettingsError(stack, [f"{path}: expected a mapping with a 'config' key"])
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise SettingsError(stack, [f"{path}: 'config' must be a mapping"])
    return parse_settings(stack, config)
