"""Rolling restarts and upgrades (restart.yml, upgrade.yml) on three converged nodes running
ZooKeeper, Kafka and Cassandra, for real.

One cluster for the whole module, deployed at older releases from a bundle of their own
(Kafka one minor back, Cassandra one patch back), then, in order: a rolling restart of every
broker and Cassandra node while clients keep writing (no acknowledged write lost), jumps the
policy refuses (nothing restarts, nothing is installed), Kafka upgraded by `-e kafka_version`
(one broker at a time, the feature levels raised afterwards but not kraft.version), the same
upgrade again (changes nothing), Cassandra upgraded from a regenerated inventory (drained, one
node at a time, the whole ring Up/Normal in between), site.yml with the new versions (changes
nothing), and a downgrade refused. Data written before the upgrades is read back after them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from infra.bundle import build_bundle, read_manifest
from infra.config import Services, Settings
from infra.errors import AnsibleRunError
from infra.paths import cache_dir
from tests.integration.conftest import integration_settings, new_cluster
from tests.support.direct import DirectLocalCluster
from tests.support.load import (
    cassandra_read_all,
    cassandra_writer,
    kafka_read_all,
    kafka_writer,
)
from tests.support.nodes import Nodes, one_node_down_at_most, rolled_one_at_a_time

pytestmark = pytest.mark.integration
NODES = (1, 2, 3)
LABELS = {"dc": "east", "rack": "r1"}
# The releases the cluster starts at: one Kafka minor and one Cassandra patch before the
# stack's defaults, which are what it is upgraded to.
FROM = {"kafka": "4.0.2", "cassandra": "5.0.5"}
TO = {name: getattr(Services(), name).version for name in FROM}
SMALL = {"zookeeper": {"heap_mb": 128}, "kafka": {"heap_mb": 256},
         "cassandra": {"heap_mb": 512}, "spark": {"enabled": False},
         "mesos_master": {"enabled": False}, "mesos_agent": {"enabled": False},
         "marathon": {"enabled": False}}
UNITS = ("zookeeper", "kafka", "cassandra")


def services(versions: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {name: {**knobs, **({"version": versions[name]} if name in versions else {})}
            for name, knobs in SMALL.items()}


def settings_at(versions: dict[str, str], bundle: Path | None) -> Settings:
    artifacts = {"bundle_dir": str(bundle)} if bundle else {}
    return integration_settings(services=services(versions), artifacts=artifacts,
                                nodes=[{"name": "node", "count": 3, "labels": LABELS}])


@pytest.fixture(scope="module")
def bundles() -> tuple[Path, Path]:
    """(bundle with the FROM releases, the default bundle with the TO releases)."""
    new = integration_settings().artifacts.bundle_path()
    held = {name: entry.version for name, entry in read_manifest(new).artifacts.items()}
    if any(held.get(name) != version for name, version in TO.items()):
        pytest.fail(f"the bundle in {new} holds {held}, not {TO}: run `smack bundle`")
    # A bundle holds one release per service, so the older ones get a directory of their
    # own; it is kept in the cache, and a rebuild only checks its checksums.
    old = cache_dir() / "bundle-upgrade-from"
    build_bundle(settings_at(FROM, old), old, Console(quiet=True))
    return old, new


class Cluster(Nodes):
    def __init__(self, cluster: DirectLocalCluster) -> None:
        super().__init__(cluster, count=len(NODES), dc=LABELS["dc"])

    def release_of(self, n: int, unit: str) -> str:
        """The release directory the unit's running process was started from."""
        cmdline = self.sh(n, f"tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value "
                             f"{unit})/cmdline")
        found = re.findall(rf"/opt/smack/{unit}/([\w.+-]+)/", cmdline)
        assert len(set(found)) == 1, cmdline
        return found[0]

    def features(self) -> dict[str, str]:
        out = self.sh(1, "kafka-features --bootstrap-server $(hostname -i):9094 describe")
        return dict(re.findall(r"(?m)^Feature: (\S+)\s.*?FinalizedVersionLevel: (\S+)", out))

    def releases(self) -> list[str]:
        return [self.sh(n, "ls /opt/smack/kafka /opt/smack/cassandra") for n in NODES]


@pytest.fixture(scope="module")
def cluster(bundles: tuple[Path, Path]) -> Iterator[Cluster]:
    old, _ = bundles
    c = new_cluster(settings_at(FROM, old))
    try:
        c.up()
        c.run("site.yml")
        yield Cluster(c)
    finally:
        c.down()


def upgrade(cluster: Cluster, **extravars: str):  # type: ignore[no-untyped-def]
    return cluster.cluster.run("upgrade.yml", extravars=extravars)


def test_deployed_at_the_older_releases_with_data(cluster: Cluster) -> None:
    for n in NODES:
        assert cluster.release_of(n, "kafka") == f"kafka_2.13-{FROM['kafka']}"
        assert cluster.release_of(n, "cassandra") == f"apache-cassandra-{FROM['cassandra']}"
        assert f"ReleaseVersion: {FROM['cassandra']}" in cluster.sh(n, "nodetool version")
    assert cluster.features()["metadata.version"].startswith("4.0-")
    assert cluster.features()["kraft.version"] == "0"
    cluster.write_keep(messages=300, rows=200)


def test_rolling_restart_under_load_loses_no_acknowledged_write(cluster: Cluster) -> None:
    servers = [f"{a}:9092" for a in cluster.addresses]
    cluster.sh(1, "kafka-topics --bootstrap-server $(hostname -i):9094 --create --topic load "
                  "--partitions 6 --replication-factor 3 --config min.insync.replicas=2 >/dev/null")
    session = cluster.cql()
    session.execute("CREATE KEYSPACE load WITH replication = "
                    "{'class': 'NetworkTopologyStrategy', 'east': 3}")
    session.execute("CREATE TABLE load.t (id int PRIMARY KEY)")
    kafka, producer = kafka_writer(servers, "load", cluster.kafka_client())
    rows = cassandra_writer(session, "load.t")
    before = {unit: cluster.started_at(unit) for unit in ("kafka", "cassandra", "zookeeper")}
    try:
        with one_node_down_at_most(cluster.addresses, 9092, 9042):
            for writer in (kafka.start(), rows.start()):
                writer.wait_for(500, timeout=120)
            restart = cluster.cluster.run("restart.yml",
                                          extravars={"restart_services": "kafka,cassandra"})
        for writer in (kafka, rows):
            writer.wait_for(10_000, timeout=600)
    finally:
        kafka.stop()
        rows.stop()
        producer.close(timeout=30)
    assert restart.changed > 0
    after = {unit: cluster.started_at(unit) for unit in ("kafka", "cassandra", "zookeeper")}
    for unit in ("kafka", "cassandra"):
        assert all(a != b for a, b in zip(after[unit], before[unit], strict=True)), unit
    assert after["zookeeper"] == before["zookeeper"]
    # Only a brand-new ring's first start gets the runtime drop-in that skips the gossip
    # settle wait (roles/cassandra/tasks/service.yml); a restarted JVM does not. (Test
    # clusters skip that wait at every start through their JVM options: see
    # tests/support/settings.py; the drop-in is told apart by the launcher's note.)
    for n in NODES:
        since = cluster.sh(n, "systemctl show cassandra -p ActiveEnterTimestamp --value").strip()
        journal = cluster.sh(n, f"journalctl -u cassandra -o cat --no-pager --since '{since}'")
        assert "Startup complete" in journal, journal[-2000:]
        assert "Picked up JDK_JAVA_OPTIONS" not in journal, journal[-2000:]
    try:
        lost_rows = set(rows.acked) - cassandra_read_all(session, "load.t")
    finally:
        session.cluster.shutdown()
    lost_messages = set(kafka.acked) - kafka_read_all(servers, "load", cluster.kafka_client())
    print(f"\nrolling restart under load: {restart.duration_seconds:.0f}s; kafka "
          f"{len(kafka.acked)} acknowledged, {kafka.retries} retried, {len(lost_messages)} "
          f"lost; cassandra {len(rows.acked)} acknowledged, {rows.retries} retried, "
          f"{len(lost_rows)} lost")
    assert not lost_messages, sorted(lost_messages)[:20]
    assert not lost_rows, sorted(lost_rows)[:20]


@pytest.mark.parametrize(("extravars", "expected"), [
    ({"upgrade_service": "cassandra", "cassandra_version": "4.1.9"},
     [f"node-1: cassandra {FROM['cassandra']} is installed and 4.1.9 was requested: a "
      "downgrade is refused",
      f"allowed from {FROM['cassandra']}: {FROM['cassandra']} (no change) or a later 5.0.x "
      "patch release (patch releases only)", "Nothing was changed"]),
    ({"upgrade_service": "kafka", "kafka_version": "4.2.0"},
     [f"node-3: kafka {FROM['kafka']} is installed and 4.2.0 was requested: the jump from 4.0 "
      "to 4.2 skips 1 minor release(s)", "any 4.1.x release (one minor release at a time)"]),
    ({"upgrade_service": "marathon"},
     ["'marathon' is not a service upgrade.yml upgrades: pass "
      "-e upgrade_service=<zookeeper|kafka|cassandra|spark>"]),
], ids=["cassandra-5.0-to-4.1", "kafka-skips-a-minor", "unknown-service"])
def test_a_refused_jump_names_host_versions_and_what_is_allowed_and_changes_nothing(
        cluster: Cluster, extravars: dict[str, str], expected: list[str]) -> None:
    before = {unit: cluster.started_at(unit) for unit in UNITS}
    releases = cluster.releases()
    with pytest.raises(AnsibleRunError) as caught:
        upgrade(cluster, **extravars)
    for text in expected:
        assert text in str(caught.value)
    assert {unit: cluster.started_at(unit) for unit in UNITS} == before
    assert cluster.releases() == releases
    assert cluster.pending_restarts() == ["", "", ""]


def test_kafka_upgrade_rolls_one_broker_at_a_time_then_raises_the_features(
        cluster: Cluster, bundles: tuple[Path, Path]) -> None:
    before = {unit: cluster.started_at(unit) for unit in UNITS}
    with one_node_down_at_most(cluster.addresses, 9092):
        result = upgrade(cluster, upgrade_service="kafka", kafka_version=TO["kafka"],
                         smack_artifact_bundle_dir=str(bundles[1]))
    assert result.changed > 0
    after = {unit: cluster.started_at(unit) for unit in UNITS}
    assert rolled_one_at_a_time(before["kafka"], after["kafka"]), after["kafka"]
    assert after["zookeeper"] == before["zookeeper"]
    assert after["cassandra"] == before["cassandra"]
    for n in NODES:
        assert cluster.release_of(n, "kafka") == f"kafka_2.13-{TO['kafka']}"
    features = cluster.features()
    assert features["metadata.version"].startswith(".".join(TO["kafka"].split(".")[:2]) + "-")
    assert features["kraft.version"] == "0"  # the static quorum stays static
    assert any("Raise the feature levels" in t for t in result.changed_tasks)
    assert cluster.pending_restarts() == ["", "", ""]
    assert cluster.keep_messages(300) == list(range(1, 301))


def test_the_same_upgrade_again_changes_nothing(cluster: Cluster,
                                                bundles: tuple[Path, Path]) -> None:
    before = {unit: cluster.started_at(unit) for unit in UNITS}
    features = cluster.features()
    again = upgrade(cluster, upgrade_service="kafka", kafka_version=TO["kafka"],
                    smack_artifact_bundle_dir=str(bundles[1]))
    assert again.changed == 0, again.changed_tasks
    assert {unit: cluster.started_at(unit) for unit in UNITS} == before
    assert cluster.features() == features


def test_cassandra_upgrade_from_the_inventory_drains_one_node_at_a_time(
        cluster: Cluster) -> None:
    # The stack's settings now name the new releases (and the default bundle holding them);
    # the regenerated inventory is what upgrade.yml reads the version from.
    settings = settings_at(TO, None).model_copy(update={"stack": cluster.cluster.settings.stack})
    cluster.cluster.settings = settings
    cluster.cluster.up()
    before = {unit: cluster.started_at(unit) for unit in UNITS}
    with one_node_down_at_most(cluster.addresses, 9042):
        result = upgrade(cluster, upgrade_service="cassandra")
    assert result.changed > 0
    after = {unit: cluster.started_at(unit) for unit in UNITS}
    assert rolled_one_at_a_time(before["cassandra"], after["cassandra"]), after["cassandra"]
    assert after["kafka"] == before["kafka"] and after["zookeeper"] == before["zookeeper"]
    for n in NODES:
        assert cluster.release_of(n, "cassandra") == f"apache-cassandra-{TO['cassandra']}"
        assert f"ReleaseVersion: {TO['cassandra']}" in cluster.sh(n, "nodetool version")
    drained = [t for t in result.changed_tasks if "Drain cassandra" in t]
    assert sorted(t.split(":")[0] for t in drained) == [f"node-{n}" for n in NODES]
    status = cluster.sh(1, "nodetool status")
    assert sum(line.startswith("UN ") for line in status.splitlines()) == 3, status
    assert cluster.keep_rows() == list(range(200))
    assert cluster.pending_restarts() == ["", "", ""]


def test_site_with_the_new_versions_finds_nothing_to_do(cluster: Cluster) -> None:
    before = {unit: cluster.started_at(unit) for unit in UNITS}
    rerun = cluster.cluster.run("site.yml")
    assert rerun.changed == 0, rerun.changed_tasks
    assert {unit: cluster.started_at(unit) for unit in UNITS} == before
    assert cluster.keep_messages(300) == list(range(1, 301))
    assert cluster.keep_rows() == list(range(200))


def test_a_downgrade_after_the_upgrade_is_refused(cluster: Cluster) -> None:
    before = {unit: cluster.started_at(unit) for unit in UNITS}
    with pytest.raises(AnsibleRunError) as caught:
        upgrade(cluster, upgrade_service="kafka", kafka_version=FROM["kafka"])
    message = str(caught.value)
    for n in NODES:
        assert (f"node-{n}: kafka {TO['kafka']} is installed and {FROM['kafka']} was "
                "requested: a downgrade is refused") in message
    assert "Running here: " + TO["kafka"] in message
    assert {unit: cluster.started_at(unit) for unit in UNITS} == before
    assert cluster.pending_restarts() == ["", "", ""]


def test_site_refuses_a_lower_release_named_by_the_stack(cluster: Cluster,
                                                         bundles: tuple[Path, Path]) -> None:
    # Lowering a version in the stack must not downgrade through a converge either
    # (playbooks/release_gate.yml, before site.yml changes anything).
    stack = cluster.cluster.settings.stack
    upgraded = cluster.cluster.settings
    cluster.cluster.settings = settings_at(FROM, bundles[0]).model_copy(update={"stack": stack})
    cluster.cluster.up()
    before = {unit: cluster.started_at(unit) for unit in UNITS}
    try:
        with pytest.raises(AnsibleRunError) as caught:
            cluster.cluster.run("site.yml")
    finally:
        cluster.cluster.settings = upgraded
        cluster.cluster.up()
    message = str(caught.value)
    assert "task 'Refuse a release the upgrade policy does not allow from the installed one'" \
        in message
    for n in NODES:
        assert (f"node-{n}: kafka {TO['kafka']} is installed and {FROM['kafka']} was requested: "
                "a downgrade is refused") in message
    assert (f"cassandra {TO['cassandra']} is installed and {FROM['cassandra']} was requested"
            in message)
    assert {unit: cluster.started_at(unit) for unit in UNITS} == before
    for n in NODES:
        assert cluster.release_of(n, "kafka") == f"kafka_2.13-{TO['kafka']}"
        assert cluster.sh(n, "readlink /opt/smack/cassandra/current").strip().endswith(
            f"apache-cassandra-{TO['cassandra']}")
