"""Stack settings: every malformed value is refused with its key path, value and what's allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import Settings, load_stack_file, parse_settings
from infra.errors import SettingsError
from infra.inventory import role_variables
from infra.paths import PROJECT_DIR
from tests.support.settings import PARSE_ONLY_PACKAGES, parse_only

pytestmark = pytest.mark.unit


def local(**extra: Any) -> dict[str, Any]:
    return parse_only({"smack:target": "local", **{f"smack:{k}": v for k, v in extra.items()}})


MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("missing target", {}, "smack:target: required setting is missing; allowed: 'local' or "
     "'baremetal' or 'aws'"),
    ("unknown target", {"smack:target": "moon"},
     "smack:target: 'moon' is not allowed; allowed: 'local', 'baremetal' or 'aws'"),
    ("unknown layout", local(layout="mixed"),
     "smack:layout: 'mixed' is not allowed; allowed: 'converged' or 'separate'"),
    ("typo in a top-level key", local(layot="converged"),
     "smack:layot: unknown setting; allowed keys here: target, layout, quorum_size, nodes"),
    ("reserved stack key", local(stack="other"),
     "smack:stack: reserved; the stack name comes from the Pulumi stack"),
    ("negative count", local(nodes=[{"name": "node", "count": -1}]),
     "smack:nodes[0].count: -1 is out of range; allowed: at least 0"),
    ("count too large", local(nodes=[{"name": "node", "count": 51}]),
     "smack:nodes[0].count: 51 is out of range; allowed: at most 50"),
    ("count not a number", local(nodes=[{"name": "node", "count": "three"}]),
     "smack:nodes[0].count: 'three' is not allowed; allowed: a whole number"),
    ("bad group name", local(nodes=[{"name": "Node_1", "count": 1}]),
     "smack:nodes[0].name: 'Node_1' is not allowed; allowed: a name of lowercase letters"),
    ("unknown node group key", local(nodes=[{"name": "node", "count": 1, "size": 3}]),
     "smack:nodes[0].size: unknown setting; allowed keys here: name, count, services"),
    ("nodes not a list", local(nodes={"count": 3}),
     "smack:nodes: {\"count\": 3} is not allowed; allowed: a list"),
    ("duplicate group names", local(nodes=[{"name": "a", "count": 1}, {"name": "a", "count": 1}]),
     "smack:nodes: group name 'a' is used twice; names must be unique"),
    ("no nodes at all", local(nodes=[{"name": "a", "count": 0}]),
     "smack:nodes: ['a'] hold no nodes; allowed: at least one node"),
    ("even zookeeper ensemble in separate layout",
     local(layout="separate",
           nodes=[{"name": "zk", "count": 2, "services": ["zookeeper"]},
                  {"name": "rest", "count": 1,
                   "services": ["mesos_master", "mesos_agent", "marathon", "kafka", "cassandra",
                                "spark"]}]),
     "smack:nodes: zookeeper would run on 2 nodes; a quorum needs an odd count"),
    ("even quorum size", local(quorum_size=4),
     "smack:quorum_size: 4 is not allowed; allowed: an odd number (1, 3, 5, 7)"),
    ("services with converged layout",
     local(nodes=[{"name": "node", "count": 1, "services": ["kafka"]}]),
     "smack:nodes[0].services: ['kafka'] is only allowed with smack:layout 'separate'"),
    ("unknown service name",
     local(layout="separate", nodes=[{"name": "n", "count": 1, "services": ["hdfs"]}]),
     "smack:nodes[0].services[0]: 'hdfs' is not allowed; allowed: 'zookeeper', 'mesos_master'"),
    ("service listed twice",
     local(layout="separate", nodes=[{"name": "n", "count": 1, "services": ["kafka", "kafka"]}]),
     "smack:nodes[0].services: [\"kafka\", \"kafka\"] is not allowed: lists kafka more than once"),
    ("enabled service placed nowhere",
     local(layout="separate", nodes=[{"name": "n", "count": 1, "services": ["zookeeper"]}],
           services={"mesos_master": {"enabled": False}, "mesos_agent": {"enabled": False},
                     "marathon": {"enabled": False}, "cassandra": {"enabled": False},
                     "spark": {"enabled": False}}),
     "smack:services.kafka: enabled but no node group lists it in services"),
    ("disabled service placed on a group",
     local(layout="separate",
           nodes=[{"name": "n", "count": 1, "services": ["zookeeper", "kafka"]}],
           services={"kafka": {"enabled": False}, "mesos_master": {"enabled": False},
                     "mesos_agent": {"enabled": False}, "marathon": {"enabled": False},
                     "cassandra": {"enabled": False}, "spark": {"enabled": False}}),
     "smack:nodes[0].services: 'kafka' is disabled in smack:services.kafka.enabled"),
    ("mesos without zookeeper", local(services={"zookeeper": {"enabled": False}}),
     "smack:services.zookeeper.enabled: false, but marathon, mesos_agent, mesos_master need "
     "ZooKeeper"),
    ("engine not supported", local(local={"engine": "lxc"}),
     "smack:local.engine: 'lxc' is not allowed; allowed: 'podman' or 'docker'"),
    ("subnet not CIDR", local(local={"subnet": "198.18.0.0/33"}),
     "smack:local.subnet: '198.18.0.0/33' is not allowed: is not an IPv4 network in CIDR form"),
    ("subnet with host bits", local(local={"subnet": "198.18.0.7/24"}),
     "smack:local.subnet: '198.18.0.7/24' is not allowed: is not an IPv4 network in CIDR form"),
    ("subnet too small for the groups",
     local(local={"subnet": "198.18.0.0/26"},
           nodes=[{"name": "a", "count": 1}, {"name": "b", "count": 1}, {"name": "c", "count": 1}]),
     "smack:local.subnet: '198.18.0.0/26' has 62 host addresses"),
    ("ulimit below minimum", local(local={"ulimits": {"nofile": 10}}),
     "smack:local.ulimits.nofile: 10 is out of range; allowed: at least 1024"),
    ("nofile above the container limit",
     local(common={"nofile_limit": 100000}),
     "smack:common.nofile_limit: 100000 is above smack:local.ulimits.nofile (20000)"),
    ("init argument with a space", local(local={"init_args": ["a b"]}),
     "smack:local.init_args[0]: 'a b' is not allowed; allowed: a kernel-style argument"),
    ("mirror not a URL", local(local={"debian_mirror": "deb mirror"}),
     "smack:local.debian_mirror: 'deb mirror' is not allowed: allowed: an http(s) URL"),
    ("kafka 3.x version", local(services={"kafka": {"version": "3.7.0"}}),
     "smack:services.kafka.version: '3.7.0' is not allowed; allowed: a 4.x release such as"),
    ("cassandra 4.1", local(services={"cassandra": {"version": "4.1.5"}}),
     "smack:services.cassandra.version: '4.1.5' is not allowed; allowed: a 5.0.x release"),
    ("heap not a number", local(services={"kafka": {"heap_mb": "lots"}}),
     "smack:services.kafka.heap_mb: 'lots' is not allowed; allowed: a whole number"),
    ("heap too small", local(services={"cassandra": {"heap_mb": 16}}),
     "smack:services.cassandra.heap_mb: 16 is out of range; allowed: at least 256"),
    ("enabled not a boolean", local(services={"spark": {"enabled": "maybe"}}),
     "smack:services.spark.enabled: 'maybe' is not allowed; allowed: true or false"),
    ("unknown cluster manager", local(services={"spark": {"cluster_manager": "yarn"}}),
     "smack:services.spark.cluster_manager: 'yarn' is not allowed; allowed: 'mesos' or "
     "'standalone'"),
    ("spark on mesos without mesos",
     local(services={"spark": {"cluster_manager": "mesos"}, "mesos_agent": {"enabled": False}}),
     "smack:services.spark.cluster_manager: 'mesos' needs mesos_master and mesos_agent"),
    ("role var without prefix", local(services={"kafka": {"vars": {"heap": 1}}}),
     "smack:services.kafka.vars.heap: variables here must start with 'kafka_'"),
    ("role var its role does not declare",
     local(services={"kafka": {"vars": {"kafka_heap": 1}}}),
     "smack:services.kafka.vars.kafka_heap: not a variable of role kafka; did you mean "
     "'kafka_heap_mb'? allowed: the "),
    ("role var with a typo and no near name",
     local(services={"cassandra": {"vars": {"cassandra_turbo": True}}}),
     "smack:services.cassandra.vars.cassandra_turbo: not a variable of role cassandra; allowed: "
     "the "),
    ("role var of the wrong type",
     local(services={"zookeeper": {"vars": {"zookeeper_client_port": "two"}}}),
     "smack:services.zookeeper.vars.zookeeper_client_port: 'two' is not allowed; allowed: a "
     "value of type int (Port clients connect to)"),
    ("role var list given a string",
     local(services={"kafka": {"vars": {"kafka_log_dirs": "/data/kafka"}}}),
     "smack:services.kafka.vars.kafka_log_dirs: '/data/kafka' is not allowed; allowed: a value "
     "of type list"),
    ("role var outside its choices",
     local(services={"spark": {"vars": {"spark_cluster_manager": "yarn"}}}),
     "smack:services.spark.vars.spark_cluster_manager: 'yarn' is not allowed; allowed: one of "),
    ("role var properties with a newline",
     local(services={"kafka": {"vars": {"kafka_extra_properties": {"a.b": "1\nc=2"}}}}),
     "smack:services.kafka.vars.kafka_extra_properties: not allowed: a.b: '1\\nc=2': a value "
     "on one line"),
    ("zoo.cfg key with a space",
     local(services={"zookeeper": {"vars": {"zookeeper_extra_config": {"max client": 5}}}}),
     "smack:services.zookeeper.vars.zookeeper_extra_config: not allowed: key 'max client': a "
     "property name"),
    ("cassandra.yaml key in camel case",
     local(services={"cassandra": {"vars": {"cassandra_extra_config": {"concurrentReads": 8}}}}),
     "smack:services.cassandra.vars.cassandra_extra_config: not allowed: keys "
     "['concurrentReads']"),
    ("jvm option without a dash",
     local(services={"kafka": {"vars": {"kafka_jvm_opts": ["Xss1m"]}}}),
     "smack:services.kafka.vars.kafka_jvm_opts: not allowed: ['Xss1m']: each item one JVM "
     "option starting with '-'"),
    ("mesos flag over two lines",
     local(services={"mesos_master": {"flags": {"cluster": "a\nb"}}}),
     "smack:services.mesos_master.flags: not allowed: cluster: 'a\\nb': a flag value on one "
     "line"),
    ("marathon flag var with a dashed name",
     local(services={"marathon": {"vars": {"marathon_flags": {"--zk": "x"}}}}),
     "smack:services.marathon.vars.marathon_flags: not allowed: key '--zk': a flag name"),
    ("mesos master flag the real binary does not have",
     local(services={"mesos_master": {"flags": {"qourum": 2}}}),
     "smack:services.mesos_master.flags.qourum: not an option of mesos-master 1.11 (its --help "
     "does not list it, and the daemon refuses to start with it); did you mean quorum?"),
    ("agent flag of a build with extra isolators only",
     local(services={"mesos_agent": {"flags": {"max_executors_per_agent": 4}}}),
     "smack:services.mesos_agent.flags.max_executors_per_agent: not an option of mesos-agent"),
    ("marathon option documented but not in 1.11",
     local(services={"marathon": {"vars": {"marathon_flags": {"tracing": True}}}}),
     "smack:services.marathon.vars.marathon_flags.tracing: not an option of Marathon 1.11"),
    ("attribute label with a separator",
     local(nodes=[{"name": "node", "count": 3, "labels": {"rack": "r1;zone:a"}}]),
     "smack:nodes[0].labels.rack: 'r1;zone:a' is not allowed; allowed: a Mesos attribute value"),
    ("resource label not a number",
     local(nodes=[{"name": "node", "count": 3, "labels": {"resources.cpus": "two"}}]),
     "smack:nodes[0].labels.resources.cpus: 'two' is not allowed; allowed: a Mesos resource "
     "value"),
    ("resource label without a name",
     local(nodes=[{"name": "node", "count": 3, "labels": {"resources.": "2"}}]),
     "smack:nodes[0].labels.resources.: not allowed; allowed: resources.<name>"),
    ("common var its role does not declare", local(common={"vars": {"common_swapiness": 1}}),
     "smack:common.vars.common_swapiness: not a variable of role common"),
    ("pipeline var its role does not declare",
     local(common={"vars": {"pipelines_iot_rat": 5}}),
     "smack:common.vars.pipelines_iot_rat: not a variable of role pipelines; did you mean "
     "'pipelines_iot_rate'?"),
    ("pipeline var of the wrong type", local(common={"vars": {"pipelines_iot_rate": "fast"}}),
     "smack:common.vars.pipelines_iot_rate: 'fast' is not allowed; allowed: a value of type int"),
    ("a service's var under common", local(common={"vars": {"kafka_heap_mb": 512}}),
     "smack:common.vars.kafka_heap_mb: variables here must start with 'common_' or "
     "'pipelines_'"),
    ("unknown artifact source", local(artifacts={"source": "ftp"}),
     "smack:artifacts.source: 'ftp' is not allowed; allowed: 'upstream', 'mirror' or 'bundle'"),
    ("mirror without URL", local(artifacts={"source": "mirror"}),
     "source 'mirror' needs artifacts.mirror_url"),
    ("swappiness out of range", local(common={"swappiness": 101}),
     "smack:common.swappiness: 101 is out of range; allowed: at most 100"),
    ("forks zero", local(ansible={"forks": 0}),
     "smack:ansible.forks: 0 is out of range; allowed: at least 1"),
    ("baremetal without hosts", {"smack:target": "baremetal"},
     "smack:baremetal: missing; target 'baremetal' needs a host list"),
    ("aws section on a local stack", local(aws={"region": "eu-west-1"}),
     "smack:aws: only allowed when smack:target is 'aws'"),
    ("bad aws region", {"smack:target": "aws", "smack:aws": {"region": "europe"}},
     "smack:aws.region: 'europe' is not allowed; allowed: an AWS region such as eu-west-1"),
    ("bad admin cidr", {"smack:target": "aws", "smack:aws": {"admin_cidrs": ["1.2.3.4/40"]}},
     "smack:aws.admin_cidrs: [\"1.2.3.4/40\"] is not allowed: '1.2.3.4/40' is not a network"),
    ("unknown pipeline", local(pipelines=["taxi"]),
     "smack:pipelines[0]: 'taxi' is not allowed; allowed: 'iot'"),
    ("pipeline without marathon",
     local(pipelines=["iot"], services={"marathon": {"enabled": False},
                                        "spark": {"worker_memory_mb": 1024}}),
     "smack:pipelines[0]: 'iot' runs on kafka, spark, cassandra, marathon, mesos_agent; "
     "smack:services.marathon.enabled is false"),
    ("pipeline on small workers",
     local(pipelines=["iot"], services={"spark": {"worker_memory_mb": 512}}),
     "smack:services.spark.worker_memory_mb: 512 is too small for pipeline 'iot'; allowed: at "
     "least 1024"),
    ("pipeline twice",
     local(pipelines=["iot", "iot"], services={"spark": {"worker_memory_mb": 2048}}),
     "smack:pipelines: ['iot', 'iot'] names a pipeline twice"),
    ("kafka source of another spark line",
     local(services={"spark": {"kafka_connector_version": "4.0.0"}}),
     "smack:services.spark.kafka_connector_version: '4.0.0' is not allowed; allowed: a 3.5.x "
     "release such as 3.5.7"),
]


@pytest.mark.parametrize(("raw", "expected"), [(c[1], c[2]) for c in MALFORMED],
                         ids=[c[0] for c in MALFORMED])
def test_malformed_setting_is_refused_with_its_key_path(raw: dict[str, Any], expected: str
                                                        ) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings("unit", raw)
    message = str(caught.value)
    assert expected in message, message
    assert message.startswith("stack 'unit': ")
    assert "Traceback" not in message


def test_declared_role_vars_of_the_right_type_pass() -> None:
    settings = parse_settings("unit", local(nodes=[{"name": "node", "count": 3, "labels": {
        "dc": "east", "rack": "r1", "gpu.count": "2", "ports": "[1-5, 7-9]",
        "resources.cpus": "1.5", "resources.ports": "[31000-32000]",
        "resources.disks": "{a,b}"}}], services={
        "kafka": {"vars": {"kafka_log_dirs": ["/data/kafka"], "kafka_heap_mb": "768"}},
        "zookeeper": {"vars": {"zookeeper_security": "yes"}},
        "spark": {"vars": {"spark_master_host": "{{ groups['spark'][1] }}"}}}))
    assert settings.services.kafka.vars["kafka_log_dirs"] == ["/data/kafka"]


def test_the_pipelines_knobs_are_set_under_common_vars_and_reach_the_inventory() -> None:
    """README "Data path": every knob of roles/pipelines is settable under smack:common.vars."""
    settings = parse_settings("unit", local(pipelines=["iot"], services={
        "spark": {"worker_memory_mb": 1024}}, common={"vars": {
            "pipelines_iot_rate": 4, "pipelines_iot_trigger_seconds": 20}}))
    group_vars = role_variables(settings)
    assert group_vars["pipelines_iot_rate"] == 4
    assert group_vars["pipelines_iot_trigger_seconds"] == 20


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings("unit", local(layout="x", local={"engine": "lxc"}, ansible={"forks": 0}))
    assert len(caught.value.problems) == 3


def test_pulumi_runtime_strings_are_decoded() -> None:
    # The engine hands structured values to the program as JSON text, scalars as strings.
    settings = parse_settings("unit", {
        "smack:target": "local",
        "smack:packages": json.dumps(PARSE_ONLY_PACKAGES),
        "smack:nodes": '[{"name": "node", "count": 5}]',
        "smack:ansible": '{"forks": "7"}',
        "aws:region": "ignored-belongs-to-the-aws-provider",
    })
    assert settings.nodes[0].count == 5
    assert settings.ansible.forks == 7


@pytest.mark.parametrize("stack", ["local", "aws", "baremetal"])
@pytest.mark.usefixtures("standin_repository")
def test_shipped_stack_files_are_valid(stack: str) -> None:
    settings = load_stack_file(PROJECT_DIR, stack)
    assert isinstance(settings, Settings)
    assert settings.target == stack


def test_missing_stack_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="stack file not found"):
        load_stack_file(tmp_path, "nope")


def test_stack_file_that_is_not_yaml(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text("config: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_stack_file(tmp_path, "bad")


def test_nofile_limit_follows_the_target() -> None:
    assert parse_settings("u", local()).nofile_limit == 20000
    assert parse_settings("u", local(local={"ulimits": {"nofile": 4096}})).nofile_limit == 4096


@pytest.mark.parametrize(("count", "quorum"), [(1, 1), (2, 1), (3, 3), (4, 3), (6, 3), (9, 3)])
def test_converged_quorum_stays_odd_and_small(count: int, quorum: int) -> None:
    settings = parse_settings("u", local(nodes=[{"name": "node", "count": count}]))
    counts = settings.service_counts()
    assert counts["zookeeper"] == counts["mesos_master"] == quorum
    assert counts["kafka"] == counts["mesos_agent"] == count
    # Fewer quorum members than smack:quorum_size is said, not done silently.
    notices = settings.notices()
    assert notices == ([] if quorum == 3 else [
        f"smack:quorum_size: 3, but the stack has {count} node(s): marathon, mesos_master, "
        f"zookeeper run on {quorum} (the largest odd count that fits); with 3 nodes or more "
        f"they run on 3"])
