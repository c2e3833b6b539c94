"""Settings checks that span several keys. Each message starts with the key path it is about."""

from __future__ import annotations

import difflib
import ipaddress
import re
from typing import TYPE_CHECKING, Any

from infra import daemon_flags
from infra.ec2_types import architecture
from infra.kafka_access import principal_errors
from infra.role_specs import grammar_error, var_errors

if TYPE_CHECKING:
    from infra.config import NodeGroup, Settings

NS = "smack"


def cross_checks(s: Settings) -> list[str]:
    return (_target_checks(s) + _group_checks(s) + _service_checks(s) + _vars_checks(s)
            + _flag_checks(s) + _label_checks(s) + _pipeline_checks(s) + principal_errors(s)
            + (_local_checks(s) if s.target == "local" else [])
            + (_aws_checks(s) if s.target == "aws" else []) + _baremetal_checks(s))


def _target_checks(s: Settings) -> list[str]:
    problems = []
    if s.target == "baremetal" and s.baremetal is None:
        problems.append(f"{NS}:baremetal: missing; target 'baremetal' needs a host list")
    if s.target != "baremetal" and s.baremetal is not None:
        problems.append(f"{NS}:baremetal: only allowed when {NS}:target is 'baremetal'")
    if s.target != "aws" and s.aws is not None:
        problems.append(f"{NS}:aws: only allowed when {NS}:target is 'aws'")
    return problems


def _group_checks(s: Settings) -> list[str]:
    problems = []
    groups = s.node_groups()
    names = [g.name for g in groups]
    if s.metrics.enabled and s.metrics.group and s.metrics.group not in names:
        problems.append(f"{NS}:metrics.group: '{s.metrics.group}' is not a node group of this "
                        f"stack; allowed: one of {names}, or empty for the first group")
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{NS}:nodes: group name '{dup}' is used twice; names must be unique")
    if sum(g.count for g in groups) == 0:
        problems.append(f"{NS}:nodes: {names} hold no nodes; allowed: at least one node")
    enabled = set(s.services.enabled())
    for i, g in enumerate(s.nodes if s.target != "baremetal" else []):
        if s.layout == "converged" and g.services:
            problems.append(
                f"{NS}:nodes[{i}].services: {g.services} is only allowed with "
                f"{NS}:layout 'separate' (converged runs every service on every node)"
            )
        problems += [
            f"{NS}:nodes[{i}].services: '{svc}' is disabled in {NS}:services.{svc}.enabled; "
            f"enable it or remove it here"
            for svc in g.services if svc not in enabled
        ]
    if s.layout == "separate":
        placed = {svc for g in groups if g.count for svc in g.services}
        problems += [
            f"{NS}:services.{svc}: enabled but no node group lists it in services "
            f"(layout 'separate'); add it to a group or set enabled: false"
            for svc in sorted(enabled - placed)
        ]
    return problems


def _service_checks(s: Settings) -> list[str]:
    problems = []
    enabled = set(s.services.enabled())
    if s.quorum_size % 2 == 0:
        problems.append(f"{NS}:quorum_size: {s.quorum_size} is not allowed; allowed: an odd "
                        f"number (1, 3, 5, 7)")
    counts = s.service_counts()
    for svc in ("zookeeper", "mesos_master"):
        n = counts.get(svc, 0)
        if n and n % 2 == 0:
            problems.append(f"{NS}:nodes: {svc} would run on {n} nodes; a quorum needs an odd "
                            f"count (1, 3, 5, ...)")
    needs_zk = enabled & {"mesos_master", "mesos_agent", "marathon"}
    if needs_zk and "zookeeper" not in enabled:
        problems.append(f"{NS}:services.zookeeper.enabled: false, but "
                        f"{', '.join(sorted(needs_zk))} need ZooKeeper; enable it")
    problems += _package_checks(s, enabled)
    if s.apps:
        from infra.apps import app_errors  # noqa: PLC0415 - infra.apps imports infra.config

        problems += app_errors(s.apps)
        if "marathon" not in enabled:
            problems.append(f"{NS}:apps: {len(s.apps)} app(s) listed but "
                            f"services.marathon.enabled is false; enable Marathon or remove them")
    spark = s.services.spark
    if spark.enabled and spark.cluster_manager == "mesos" and not (
        {"mesos_master", "mesos_agent"} <= enabled
    ):
        problems.append(f"{NS}:services.spark.cluster_manager: 'mesos' needs mesos_master and "
                        f"mesos_agent enabled; allowed otherwise: 'standalone'")
    return problems


def _package_checks(s: Settings, enabled: set[str]) -> list[str]:
    users = sorted(enabled & {"mesos_master", "mesos_agent", "marathon"})
    if not users:
        return []
    p = s.packages
    needs = f"({', '.join(users)} enabled)"
    if p.source == "repository" and not (p.apt_repository or p.yum_repository):
        return [f"{NS}:packages.apt_repository: empty {needs}; allowed: the apt source line of "
                f"a repository with the Mesos and Marathon packages (AVENTER's, or your mirror "
                f"of it), or packages.yum_repository; or set packages.source to "
                f"'local_repository' or 'files' (see README, 'Mesos and Marathon packages')"]
    if p.source == "local_repository":
        path = p.repository_path()
        if not p.repository_dir or not (path / "Packages").is_file():
            return [f"{NS}:packages.repository_dir: '{p.repository_dir}' is not a flat apt "
                    f"repository {needs}; allowed: a directory on this machine holding "
                    f"Packages and the .deb files"]
    if p.source == "files" and not p.files:
        return [f"{NS}:packages.files: empty {needs}; allowed: a list of .deb/.rpm paths on "
                f"this machine or http(s) URLs"]
    return []


def _baremetal_checks(s: Settings) -> list[str]:
    if s.target != "baremetal" or s.baremetal is None:
        return []
    problems: list[str] = []
    enabled = set(s.services.enabled())
    for i, h in enumerate(s.baremetal.hosts):
        where = f"{NS}:baremetal.hosts[{i}]"
        if s.layout == "converged" and h.services:
            problems.append(f"{where}.services: {h.services} is only allowed with {NS}:layout "
                            f"'separate' (converged runs every service on every host)")
        problems += [f"{where}.services: '{svc}' is disabled in {NS}:services.{svc}.enabled; "
                     f"enable it or remove it here" for svc in h.services if svc not in enabled]
        if not h.become and h.user != "root":
            problems.append(f"{where}.become: false needs user 'root' (the roles need root); "
                            f"set become: true (passwordless sudo) or user: root")
    return problems


# Roles whose variables `smack:common.vars` takes: common's, and the pipelines' (they run on
# several services' nodes, so no service's vars is theirs).
COMMON_VARS_ROLES = ("common", "pipelines")


def _vars_checks(s: Settings) -> list[str]:
    from infra.config import SERVICE_GROUPS  # noqa: PLC0415

    # Each `vars` mapping of the settings with the roles whose variables it takes.
    sections: list[tuple[str, tuple[str, ...], dict[str, Any]]] = [
        *((f"{NS}:services.{svc}.vars", (svc,), getattr(s.services, svc).vars)
          for svc in SERVICE_GROUPS),
        (f"{NS}:metrics.vars", ("metrics",), s.metrics.vars),
        (f"{NS}:common.vars", COMMON_VARS_ROLES, s.common.vars),
    ]
    problems = []
    for where, roles, values in sections:
        prefixes = tuple(f"{role}_" for role in roles)
        problems += [f"{where}.{key}: variables here must start with "
                     f"{' or '.join(repr(p) for p in prefixes)}"
                     for key in values if not key.startswith(prefixes)]
    if problems:
        return problems
    # Each variable must be one its role declares, with a value of the declared type.
    for where, roles, values in sections:
        for role in roles:
            problems += var_errors(role, where, {
                k: v for k, v in values.items() if k.startswith(f"{role}_")})
    if problems:
        return problems
    for where, _roles, values in sections:
        problems += [f"{where}.{key}: {values[key]!r} is not allowed; allowed: {allowed}"
                     for key, (low, allowed) in _VAR_MINIMUMS.items()
                     if key in values and int(values[key]) < low]
    return problems


# Lower bounds of role variables that argument_specs cannot state (the role's validate step
# refuses them too, but only once nodes exist).
_VAR_MINIMUMS: dict[str, tuple[int, str]] = {
    "cassandra_ring_delay_ms": (1000, "at least 1000 (milliseconds; Cassandra's own is 30000)"),
    "cassandra_gossip_settle_max_polls": (
        -1, "at least -1 (polls; -1, Cassandra's own, waits until gossip settles)"),
}


# The options each daemon's real --help lists: an unknown one stops the daemon at start.
_DAEMON_OPTIONS = {"mesos_master": ("mesos-master 1.11", daemon_flags.MESOS_MASTER),
                   "mesos_agent": ("mesos-agent 1.11", daemon_flags.MESOS_AGENT),
                   "marathon": ("Marathon 1.11", daemon_flags.MARATHON)}


def _flag_checks(s: Settings) -> list[str]:
    """Mesos flag files and Marathon's MARATHON_<NAME> lines take one line per flag, and only
    options the daemon knows: the real ones exit at once on an unknown option."""
    problems = []
    for svc in ("mesos_master", "mesos_agent", "marathon"):
        flags = getattr(s.services, svc).flags
        wrong = grammar_error(f"{svc}_flags", flags)
        if wrong:
            problems.append(f"{NS}:services.{svc}.flags: not allowed: {wrong}")
        program, known = _DAEMON_OPTIONS[svc]
        given = getattr(s.services, svc)
        by_var = given.vars.get(f"{svc}_flags")
        by_var = by_var if isinstance(by_var, dict) else {}
        for where, names in ((f"{svc}.flags", flags), (f"{svc}.vars.{svc}_flags", by_var)):
            for name in sorted(str(n) for n in names if str(n) not in known):
                near = difflib.get_close_matches(name, sorted(known), n=3)
                problems.append(
                    f"{NS}:services.{where}.{name}: not an option of {program} (its --help "
                    f"does not list it, and the daemon refuses to start with it)"
                    + (f"; did you mean {', '.join(near)}?" if near else ""))
    return problems


# Mesos' attribute and resource grammar (docs/attributes-resources.md): a scalar, a range
# list [a-b,c-d], a set {a,b} (resources only) or, for attributes, text of [a-zA-Z0-9_/.-].
_SCALAR = r"\d+(\.\d+)?"
_RANGES = r"\[\d+-\d+(,\s*\d+-\d+)*\]"
_TEXT = r"[A-Za-z0-9_/.-]+"
_ATTRIBUTE = re.compile(rf"^({_SCALAR}|{_RANGES}|{_TEXT})$")
_RESOURCE = re.compile(rf"^({_SCALAR}|{_RANGES}|\{{{_TEXT}(,\s*{_TEXT})*\}})$")
_RESOURCE_NAME = re.compile(r"^resources\.[a-z][a-z0-9_]*$")


def _label_checks(s: Settings) -> list[str]:
    """Node labels become Mesos agent attributes (resources.<name>: resources) and Cassandra's
    dc/rack: values that the agent's parser or a snitch would choke on are refused here."""
    if not s.services.mesos_agent.enabled and not s.services.cassandra.enabled:
        return []
    labelled = ([(f"{NS}:baremetal.hosts[{i}]", h.labels)
                 for i, h in enumerate(s.baremetal.hosts)] if s.baremetal else [])
    labelled += [(f"{NS}:nodes[{i}]", g.labels) for i, g in enumerate(s.nodes)]
    problems = []
    for where, labels in labelled:
        for key, value in labels.items():
            if key.startswith("resources."):
                if not _RESOURCE_NAME.match(key):
                    problems.append(f"{where}.labels.{key}: not allowed; allowed: "
                                    f"resources.<name> with a name of lowercase letters, "
                                    f"digits and '_'")
                elif not _RESOURCE.match(str(value)):
                    problems.append(f"{where}.labels.{key}: {value!r} is not allowed; allowed: "
                                    f"a Mesos resource value: a number ('2', '0.5'), ranges "
                                    f"('[31000-32000]') or a set ('{{a,b}}')")
            elif not _ATTRIBUTE.match(str(value)):
                problems.append(f"{where}.labels.{key}: {value!r} is not allowed; allowed: a "
                                f"Mesos attribute value: a number, ranges ('[1-5]') or text of "
                                f"letters, digits, '_', '/', '.' and '-'")
    return problems


def _local_checks(s: Settings) -> list[str]:
    problems: list[str] = []
    groups: list[NodeGroup] = s.node_groups()
    local = s.local
    usable = local.network.num_addresses - 2
    last_block = local.address_offset + local.addresses_per_group * (len(groups) - 1)
    for i, g in enumerate(groups):
        if g.count > local.addresses_per_group:
            problems.append(f"{NS}:nodes[{i}].count: {g.count} is more than "
                            f"{NS}:local.addresses_per_group ({local.addresses_per_group})")
        if g.instance_type or g.data_volume_gb:
            problems.append(f"{NS}:nodes[{i}]: instance_type and data_volume_gb apply to "
                            f"target 'aws' only")
    if last_block + local.addresses_per_group > usable + 1:
        problems.append(
            f"{NS}:local.subnet: '{local.subnet}' has {usable} host addresses, but "
            f"{len(groups)} node group(s) of {local.addresses_per_group} addresses from offset "
            f"{local.address_offset} need more; allowed: a larger subnet or fewer addresses"
        )
    if s.common.nofile_limit is not None and s.common.nofile_limit > local.ulimits.nofile:
        problems.append(f"{NS}:common.nofile_limit: {s.common.nofile_limit} is above "
                        f"{NS}:local.ulimits.nofile ({local.ulimits.nofile}); a container "
                        f"cannot raise its own hard limit")
    if local.engine == "docker" and local.runtime != "runc":
        problems.append(f"{NS}:local.runtime: '{local.runtime}' is set by docker's daemon; "
                        f"leave the default 'runc'")
    return problems


def _aws_checks(s: Settings) -> list[str]:
    if s.aws is None:
        return []
    a = s.aws
    # Admin access is opened only where asked; "everything" must be asked for on its own.
    problems = [
        f"{NS}:aws.admin_cidrs[{i}]: '{cidr}' opens everything; list it alone if you really "
        f"mean the whole internet"
        for i, cidr in enumerate(a.admin_cidrs)
        if ipaddress.ip_network(cidr).prefixlen == 0 and len(a.admin_cidrs) > 1
    ]
    if a.private_subnets and not a.bastion:
        problems.append(f"{NS}:aws.private_subnets: true needs {NS}:aws.bastion: true (nodes in "
                        f"private subnets have no public address; Ansible reaches them through "
                        f"the bastion); set bastion: true or private_subnets: false")
    for i, cidr in enumerate(a.admin_cidrs):
        if ipaddress.ip_network(cidr).version == 6:
            problems.append(f"{NS}:aws.admin_cidrs[{i}]: '{cidr}' is IPv6, but the VPC has IPv4 "
                            f"addresses only; allowed: an IPv4 network such as 203.0.113.0/24")
    prefix = ipaddress.ip_network(a.vpc_cidr).prefixlen + 4  # 16 subnets per VPC
    usable = 2 ** (32 - prefix) - 5  # AWS reserves 5 addresses per subnet
    per_zone = sum(-(-g.count // a.availability_zones) for g in s.nodes) + 2  # + bastion, NAT
    if per_zone > usable:
        problems.append(f"{NS}:aws.vpc_cidr: '{a.vpc_cidr}' gives /{prefix} subnets of {usable} "
                        f"addresses, but up to {per_zone} are needed per zone; allowed: a larger "
                        f"network or more availability_zones")
    for i, g in enumerate(s.nodes):
        if g.cpus or g.memory_mb:
            problems.append(f"{NS}:nodes[{i}]: cpus and memory_mb apply to target 'local' only; "
                            f"on aws choose an instance_type")
    if a.ami_id:

        arches = {architecture(g.instance_type or a.instance_type) for g in s.nodes if g.count}
        if len(arches) > 1:
            problems.append(f"{NS}:aws.ami_id: one image cannot boot {' and '.join(sorted(arches))}"
                            f" instance types; remove ami_id (Debian 12 is then looked up per "
                            f"architecture) or use one architecture")
    return problems


# What each pipeline runs on: its generator is a Marathon app, its job a Spark streaming job
# reading Kafka and writing Cassandra.
PIPELINE_SERVICES = {"iot": ("kafka", "spark", "cassandra", "marathon", "mesos_agent")}
# The streaming job's driver and its executor take 512 MiB of a worker each; verify.yml's Spark
# job still wants an executor (512 MiB at least) on every worker beside them.
PIPELINE_WORKER_MEMORY_MB = 1024


def _pipeline_checks(s: Settings) -> list[str]:
    problems = []
    enabled = set(s.services.enabled())
    for i, name in enumerate(s.pipelines):
        missing = [svc for svc in PIPELINE_SERVICES[name] if svc not in enabled]
        if missing:
            problems.append(
                f"{NS}:pipelines[{i}]: '{name}' runs on {', '.join(PIPELINE_SERVICES[name])}; "
                f"{', '.join(f'{NS}:services.{svc}.enabled' for svc in missing)} is false; "
                "enable them or remove the pipeline")
        memory = s.services.spark.worker_memory_mb
        if "spark" not in missing and memory < PIPELINE_WORKER_MEMORY_MB:
            problems.append(
                f"{NS}:services.spark.worker_memory_mb: {memory} is too small for pipeline "
                f"'{name}'; allowed: at least {PIPELINE_WORKER_MEMORY_MB} (its driver and "
                "executor take 512 MiB of a worker each, beside the jobs verify runs)")
    if len(set(s.pipelines)) != len(s.pipelines):
        problems.append(f"{NS}:pipelines: {s.pipelines} names a pipeline twice")
    return problems
