"""ZooKeeper, Kafka, Cassandra and Spark on three converged local nodes, for real, with the
Mesos master and agent STAND-INS (tests/standins) for the agents' day-2 steps.

One cluster for the whole module (a first deploy takes minutes on this machine), in order:
first deploy (the brand-new Cassandra ring started together with tokens decided up front and
balanced, dc/rack from node labels, Spark master on the first node), a rerun that changes
nothing and loses nothing (Kafka storage not formatted again, Cassandra rows kept, no service
restarted), a --check run, verify.yml (and what it leaves behind: nothing), the stack's
endpoints reached from this machine with real clients; then day 2 (the rolling restart under
load is in test_rolling.py): removals that would break a quorum refused, a fourth and fifth
node that join although the fourth was killed in the middle of its deploy (into Cassandra one
at a time, bootstrapping), brokers that keep their node ids when their place in the inventory
moves, then their removal with every row and message still readable: the
fourth the careful way (agent drained, partitions moved, Cassandra decommissioned), the fifth
killed first and removed as dead (machine DOWN, partitions moved, `nodetool removenode` from a
survivor); settings refused by name, a Kafka and Spark configuration change that restarts one
node at a time while the others keep serving (and leaves ZooKeeper and Cassandra running);
finally reset.yml, after which no unit, user, package, file, process or port of smack's is
left.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from infra.config import Settings, SettingsError
from infra.credentials import credentials_file
from infra.endpoints import endpoints
from infra.errors import AnsibleRunError
from infra.json_output import schema_path
from infra.nodes.local import node_record
from infra.paths import PROJECT_DIR, state_dir
from infra.pki import new_authority
from infra.status import StackStatus, collect_status, http_get
from infra.topology import plan_nodes
from tests.dashboard_browser import capture
from tests.integration.conftest import (
    integration_settings,
    new_cluster,
    standin_repository,
)
from tests.support.direct import DirectLocalCluster
from tests.support.engine_stack import BIN
from tests.support.leaks import node_traces
from tests.support.load import (
    cassandra_read_all,
    cassandra_writer,
    kafka_read_all,
    kafka_writer,
)
from tests.support.nodes import Nodes, one_node_down_at_most, rolled_one_at_a_time
from tests.support.plugins import load_module
from tests.support.tls import client_identity
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
TOKENS = load_module(PROJECT_DIR / "roles" / "cassandra" / "filter_plugins" / "cassandra_tokens.py")
NODES = (1, 2, 3)
KAFKA_HEALTH = str(PROJECT_DIR / "tests" / "integration" / "playbooks" / "kafka_health.yml")
LABELS = {"dc": "east", "rack": "r1", "resources.cpus": "3"}
SERVICES = {"zookeeper": {"heap_mb": 128}, "kafka": {"heap_mb": 256},
            "cassandra": {"heap_mb": 512}, "spark": {"worker_memory_mb": 512}}
APP = {"id": "/smack/hello", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 64,
       "instances": 2, "constraints": [["hostname", "UNIQUE"]],
       "health_checks": [{"protocol": "HTTP", "path": "/", "port_index": 0}]}


class Stack(Nodes):
    def __init__(self, cluster: DirectLocalCluster, count: int = len(NODES)) -> None:
        super().__init__(cluster, count=count, dc=LABELS["dc"])
        self.traces_before: dict[int, set[str]] = {}
        # (task name, host) -> the final result of each task of the first site.yml run.
        self.first_run_events: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, url: str, auth: tuple[str, str] | None = None) -> tuple[int, Any]:
        """GET a URL of a node: (status, JSON body or text); status 0 when nothing answered."""
        try:
            answer = http_get(url, auth=auth, timeout=10)
        except OSError:  # refused or timed out (URLError is an OSError)
            return 0, None
        try:
            return answer.status, json.loads(answer.body)
        except ValueError:
            return answer.status, answer.body.decode(errors="replace")

    def credentials(self) -> dict[str, Any]:
        return dict(yaml.safe_load(credentials_file(self.cluster.settings.stack).read_text()))

    def operator(self) -> tuple[str, str]:
        op = self.credentials()["mesos"]["operator"]
        return op["principal"], op["secret"]

    def marathon_user(self) -> tuple[str, str]:
        http = self.credentials()["marathon_http"]
        return http["user"], http["password"]

    def leader(self) -> str:
        """The one elected Mesos master (stand-in) among the first three nodes."""
        elected = []
        for address in self.addresses:
            status, metrics = self.get(f"http://{address}:5050/metrics/snapshot",
                                       self.operator())
            # A master that is down is not the leader.
            if status == 200 and metrics["master/elected"] == 1:
                elected.append(address)
        assert len(elected) == 1, elected
        return elected[0]

    def active_agents(self) -> dict[str, dict[str, Any]]:
        status, body = self.get(f"http://{self.leader()}:5050/master/slaves", self.operator())
        assert status == 200
        return {a["hostname"]: a for a in body["slaves"] if a["active"]}

    def endpoints(self) -> dict[str, dict[str, Any]]:
        settings = self.cluster.settings
        key = self.cluster.key["key_file"] if self.cluster.key else ""
        nodes = [node_record(plan, self.cluster.created[f"smack-{settings.stack}-{plan.name}"],
                             key) for plan in plan_nodes(settings)]
        return endpoints(settings, nodes)


def stack_settings(count: int, name: str = "", packages: Any = None,
                   **services: Any) -> Settings:
    extra = {"packages": packages} if packages else {}
    return integration_settings(stack=name, services={**SERVICES, **services},
                                nodes=[{"name": "node", "count": count, "labels": LABELS}],
                                apps=[APP], metrics={"enabled": True}, **extra)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    c = new_cluster(stack_settings(3))
    try:
        c.up()
        s = Stack(c)
        # What the fresh nodes hold named like smack's services (the login user, its sudo
        # rule) and listening: reset.yml must bring each node back to exactly this.
        s.traces_before = {n: node_traces(lambda script, n=n: s.sh(n, script)) for n in NODES}
        first = c.run("site.yml")
        assert first.changed > 0
        s.first_run_events = task_results(c)
        yield s
    finally:
        c.down()


def test_nodes_are_whole_systemd_machines(stack: Stack) -> None:
    host_keys = set()
    for n in NODES:
        assert stack.sh(n, "cat /proc/1/comm").strip() == "systemd"
        state = stack.sh(n, "systemctl is-system-running", check=False).strip()
        assert state in ("running", "degraded"), state
        host_keys.add(stack.cluster.created[stack.container(n)]["host_key"])
        hosts = stack.sh(n, "cat /etc/hosts")
        for m, address in zip(NODES, stack.addresses, strict=True):
            assert f"{address} node-{m}" in hosts
        # The common role's kernel settings and limits, written for every node.
        assert "vm.max_map_count=1048575" in stack.sh(n, "cat /etc/sysctl.d/60-smack.conf")
        assert "nofile" in stack.sh(n, "cat /etc/security/limits.d/60-smack.conf")
        # No package is there only because another recommends it (Mesos' and Marathon's
        # packages are installed without their Recommends: common_package_install_recommends).
        only_recommended = stack.sh(
            n, "apt-get -s -o APT::AutoRemove::RecommendsImportant=false "
               "-o APT::AutoRemove::SuggestsImportant=false autoremove | grep '^Remv' || true")
        assert only_recommended.strip() == "", only_recommended
    assert len(host_keys) == 3


def test_first_deploy_places_every_service(stack: Stack) -> None:
    status = stack.sh(1, "nodetool status")
    assert "Datacenter: east" in status
    for address in stack.addresses:
        assert any(line.startswith(f"UN  {address} ") and line.rstrip().endswith("r1")
                   for line in status.splitlines()), (address, status)
    # A brand-new ring starts together: its members' tokens were decided up front (below).
    started = sorted(stack.started_at("cassandra"))
    assert started[-1] - started[0] < 10_000_000, started
    default_role_after: list[float] = []
    for n in NODES:
        # ...and, having no ring state to learn, skipped the wait for gossip to settle through
        # a runtime drop-in (the launcher's note tells it apart from the test clusters' own JVM
        # option), which is gone: a later start does not get it (test_rolling.py).
        journal = stack.sh(n, "journalctl -u cassandra -o short-unix --no-pager")
        assert ("Picked up JDK_JAVA_OPTIONS: -Dcassandra.skip_wait_for_gossip_to_settle=0 "
                "-Dcassandra.superuser_setup_delay_ms=1000" in journal), journal[:2000]
        # ...and made the default superuser (which the roles step logs in as once) about a
        # second after its start, not after Cassandra's default 10 s.
        made = logged_at(journal, "Created default superuser role")
        if made:
            default_role_after.append(made[0] - logged_at(journal, "Startup complete")[0])
        assert stack.sh(n, "systemctl show cassandra -p Environment --value").strip() == ""
        # The local target's 5 s ring delay (a join sleeps it once, a decommission twice)
        # and its skipped wait for gossip to settle reached the JVM through the role's own
        # options (the test settings set neither): the latter once from the options file, once
        # from the first start's drop-in.
        arguments = logged_jvm_arguments(journal)
        assert "-Dcassandra.ring_delay_ms=5000" in arguments, journal[:2000]
        assert arguments.count("-Dcassandra.skip_wait_for_gossip_to_settle=0") == 2, arguments
        assert "-Dcassandra.skip_wait_for_gossip_to_settle=0" in stack.sh(
            n, "cat /etc/cassandra/jvm-server.options").splitlines()
        assert stack.sh(n, "ls /run/systemd/system/cassandra.service.d 2>/dev/null || true"
                        ).strip() == ""
    assert default_role_after and max(default_role_after) < 7.5, default_role_after
    modes = [stack.sh(n, "zookeeper-4lw srvr | grep Mode").split()[-1] for n in NODES]
    assert sorted(modes) == ["follower", "follower", "leader"]
    spark = [stack.sh(n, "systemctl is-active spark-master spark-worker spark-history",
                      check=False).split() for n in NODES]
    assert spark == [["active"] * 3, ["inactive", "active", "inactive"],
                     ["inactive", "active", "inactive"]]
    # A brand-new ring has nothing to clean up.
    assert not [key for key in stack.first_run_events if key[0] == CLEANUP_TASK]
    # The brand-new Kafka cluster's health was asked once, from the first broker, and every
    # broker answered it (not the same two tool JVMs on each node).
    for task in ("Wait until the broker answers API requests",
                 "Wait until no partition is under-replicated"):
        ran = {host: e["event"] for (name, host), e in stack.first_run_events.items()
               if name == task}
        assert ran == {"node-1": "runner_on_ok", "node-2": "runner_on_skipped",
                       "node-3": "runner_on_skipped"}, (task, ran)
    api = stack.first_run_events[("Wait until the broker answers API requests", "node-1")]
    for node_id in (1, 2, 3):
        assert re.search(rf"[(]id: {node_id} [^)]*[)] -> [(]", api["res"]["stdout"]), api["res"]
    # The new ring's health was asked once the other growing services had converged (issue 18:
    # they converge while it comes up), and still before its logins were put in place.
    cql = {host: e for (name, host), e in stack.first_run_events.items()
           if name == "Wait until nodetool status shows the nodes Up/Normal"}
    later = "Wait for the nodes started earlier to be healthy - cassandra"
    assert {h: (e["event"], e["play"]) for h, e in cql.items()} == {
        f"node-{n}": ("runner_on_ok", later) for n in NODES}, cql
    spark_started = stack.first_run_events[("Enable and start the worker of this node", "node-2")]
    logins = stack.first_run_events[(
        "Put smack's superuser, system_auth's replication and the login roles in place", "node-1")]
    assert spark_started["counter"] < min(e["counter"] for e in cql.values()) < logins["counter"]
    # The workers started once the master listened: none had to wait to ask it again.
    for n in NODES:
        worker = stack.sh(n, "journalctl -u spark-worker -o cat --no-pager")
        assert "Successfully registered with master" in worker, worker[-2000:]
        assert "Failed to connect to master" not in worker, worker[-2000:]


def task_results(cluster: DirectLocalCluster) -> dict[tuple[str, str], dict[str, Any]]:
    """(task name, host) -> event name, result, play and place in the run of each task of the
    stack's latest playbook run (the last time it ran there), from ansible-runner's job
    events."""
    runs = sorted((state_dir(cluster.settings.stack) / "runner" / "artifacts").iterdir(),
                  key=lambda p: p.stat().st_mtime)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((runs[-1] / "job_events").glob("*.json"),
                       key=lambda p: int(p.name.split("-")[0])):
        event = json.loads(path.read_text())
        data = event.get("event_data") or {}
        if event.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_skipped"):
            out[(data.get("task", ""), data.get("host", ""))] = {
                "event": event["event"], "res": data.get("res") or {},
                "play": data.get("play", ""), "counter": event.get("counter", 0)}
    return out


def assert_only_joiners_converged(events: dict[tuple[str, str], dict[str, Any]],
                                  joiners: set[str]) -> None:
    """A scale.yml run (its task_results) gave the joiners every role and the nodes that were
    there (three or more: settled for Kafka and Cassandra's seeds) no service's or the common
    role's tasks, only the cluster's names (issue 18, item 2)."""
    services = (" - cassandra", " - mesos_agent", " - kafka", " - spark")
    converged = {host for (_name, host), e in events.items()
                 if e["play"].endswith(services) or e["play"].startswith("Install the metrics")}
    assert converged == joiners, converged
    assert events[("List every cluster node in /etc/hosts", "node-1")]["event"] == "runner_on_ok"
    assert ("Set kernel parameters", "node-1") not in events
    assert all(("Set kernel parameters", joiner) in events for joiner in joiners)


def logged_at(journal: str, text: str) -> list[float]:
    """When (epoch seconds) the lines of a `journalctl -o short-unix` output holding text
    were logged."""
    return [float(line.split()[0]) for line in journal.splitlines() if text in line]


def logged_jvm_arguments(journal: str) -> list[str]:
    """The JVM arguments of the last start Cassandra logged in a journal (its options file
    expanded)."""
    found = re.findall(r"JVM Arguments: \[(.*)\]\s*$", journal, flags=re.MULTILINE)
    assert found, journal[-2000:]
    return found[-1].split(", ")


def ring_tokens(stack: Stack) -> dict[str, list[int]]:
    """Each member's tokens, by address, as `nodetool ring` lists them."""
    out: dict[str, list[int]] = {}
    for line in stack.sh(1, "nodetool ring").splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[0].count(".") == 3 and fields[2] in ("Up", "Down"):
            out.setdefault(fields[0], []).append(int(fields[-1]))
    return out


def test_the_new_ring_is_balanced_and_each_node_owns_its_planned_tokens(stack: Stack) -> None:
    """issue 18: the first three nodes started together with tokens decided up front; each
    holds exactly its planned share of the ring, and Cassandra agrees."""
    by_address = ring_tokens(stack)
    assert sorted(by_address) == sorted(stack.addresses), by_address
    for n, address in zip(NODES, stack.addresses, strict=True):
        planned = TOKENS.initial_tokens(n - 1, len(NODES), 16)
        assert sorted(by_address[address]) == planned, (address, by_address[address])
        config = yaml.safe_load(stack.sh(n, "cat /etc/cassandra/cassandra.yaml"))
        assert config["auto_bootstrap"] is False
        assert [int(t) for t in config["initial_token"].split(",")] == planned
    shares = TOKENS.cassandra_token_ownership(by_address)
    assert all(abs(share - 1 / 3) < 1e-9 for share in shares.values()), shares
    # Cassandra's own account: each node owns a third of the primary ranges of a keyspace
    # replicated once, and all of the data of one replicated three times.
    session = stack.cql()
    try:
        session.execute("CREATE KEYSPACE balance WITH replication = "
                        f"{{'class': 'NetworkTopologyStrategy', '{stack.dc}': 1}}")
        for keyspace, expected in (("balance", "33.3%"), ("system_auth", "100.0%")):
            status = stack.sh(1, f"nodetool status {keyspace}")
            owns = [line.split()[-3] for line in status.splitlines()
                    if line.startswith("UN  ")]
            assert owns == [expected] * 3, status
    finally:
        session.execute("DROP KEYSPACE IF EXISTS balance")
        session.cluster.shutdown()


def kafka_tool_output(stack: Stack, command: str, attempts: int = 3) -> str:
    """A Kafka CLI's output on node-1. The admin client gives up after 60 s without an answer
    from a broker ("Timed out waiting for a node assignment"): on a loaded machine that is
    the broker being slow, not the tool, so that one answer is asked again."""
    output = ""
    for _ in range(attempts):
        output = stack.sh(1, command)
        if "Timed out waiting for a node assignment" not in output:
            break
    return output


def test_java_tools_start_from_a_class_archive_and_print_only_their_output(
        stack: Stack) -> None:
    """kafka-* and nodetool start through the common role's launcher, which maps a class
    archive made by the tool's first run on the node (less start-up CPU); the tool's
    output is the same as without it, and an archive the JVM refuses changes nothing."""
    archives = "/var/cache/smack/java-tools"
    listing = "kafka-topics --bootstrap-server $(hostname -i):9094 --list"
    # node-1 ran both families during the deploy (the first start's health checks).
    made = stack.sh(1, f"ls {archives}").split()
    assert [a for a in made if a.startswith("kafka-tools-")], made
    assert [a for a in made if a.startswith("nodetool-")], made
    # A running tool has its family's archive mapped.
    mapped = stack.sh(1, "kafka-console-consumer --bootstrap-server $(hostname -i):9094 "
                         "--topic __consumer_offsets --timeout-ms 8000 >/dev/null 2>&1 & "
                         "sleep 4; pid=$(pgrep -f '[C]onsoleConsumer' | head -1); "
                         f"grep -c '{archives}/kafka-tools-' /proc/$pid/maps; wait",
                      check=False)
    assert int(mapped.strip() or 0) > 0, mapped
    # Output with the archive, without it (the plain JVM) and with a refused archive: the same,
    # and nothing on stderr.
    launcher = "/usr/local/libexec/smack/java-tool"
    kafka_archive = next(a for a in made if a.startswith("kafka-tools-"))
    nodetool_archive = next(a for a in made if a.startswith("nodetool-"))
    runs = {
        "with_archive": f"{listing} 2>&1",
        # Without the launcher (a node the common role has not reached yet) the plain JVM runs.
        "plain": f"chmod -x {launcher} && {listing} 2>&1; chmod +x {launcher}",
        "refused": f"cp {archives}/{kafka_archive} /root/kept.jsa && "
                   f"cp -f {archives}/{nodetool_archive} {archives}/{kafka_archive} && "
                   f"{listing} 2>&1; mv -f /root/kept.jsa {archives}/{kafka_archive}",
    }
    outputs = {name: kafka_tool_output(stack, command) for name, command in runs.items()}
    assert "__consumer_offsets" in outputs["plain"], outputs
    assert outputs["with_archive"] == outputs["plain"] == outputs["refused"], outputs
    status = stack.sh(1, "nodetool status 2>&1")
    assert status.lstrip().startswith("Datacenter: east") and "[warning]" not in status, status


def test_rerun_changes_nothing_and_keeps_data(stack: Stack) -> None:
    stack.write_keep(messages=200, rows=100)
    meta = [stack.sh(n, "cat /var/lib/kafka/data/meta.properties") for n in NODES]
    units = ("zookeeper", "kafka", "cassandra", "spark-worker", "spark-master",
             "mesos-master", "mesos-agent", "marathon")
    started = {unit: stack.started_at(unit) for unit in units}

    rerun = stack.cluster.run("site.yml")
    assert rerun.changed == 0, rerun.changed_tasks

    assert [stack.sh(n, "cat /var/lib/kafka/data/meta.properties") for n in NODES] == meta
    assert {unit: stack.started_at(unit) for unit in units} == started  # nothing restarted
    assert stack.keep_messages(200) == list(range(1, 201))
    assert stack.keep_rows() == list(range(100))


def test_check_mode_after_converge_reports_no_changes(stack: Stack) -> None:
    # One node runs every role (node-2: all but the Spark master and history server); the
    # rerun above already covered every node for real.
    result = stack.cluster.run("site.yml", check=True, limit="node-2")
    assert result.changed == 0, result.changed_tasks
    assert set(result.hosts) == {"node-2"}


def smack(stack: Stack, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The `smack` command on this test's stack (its inventory is where the CLI looks)."""
    return subprocess.run([str(BIN / "smack"), *args, "--stack", stack.cluster.settings.stack],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "COLUMNS": "400"})


def valid(document: str, command: str) -> dict[str, Any]:
    """`document` parsed and checked against the schema of `smack <command> --json`."""
    data = json.loads(document)
    jsonschema.validate(data, json.loads(schema_path(command).read_text()))
    return dict(data)


def test_zookeeper_speaks_tls_and_guards_what_mesos_and_marathon_keep(
        stack: Stack, tmp_path: Path) -> None:
    """issue 15 item 4: the servers talk TLS with the nodes' certificates; the TLS client port
    takes a certificate from the stack's CA only; on the plain port, which Mesos' and
    Marathon's ZooKeeper clients need, anyone reads where the Mesos masters are (as Mesos
    allows) but only the mesos login changes it, and Marathon's state is Marathon's alone."""
    from kazoo.client import KazooClient  # type: ignore[import-untyped]
    from kazoo.exceptions import NoAuthError  # type: ignore[import-untyped]
    from kazoo.handlers.threading import KazooTimeoutError  # type: ignore[import-untyped]
    from kazoo.security import make_digest_acl_credential  # type: ignore[import-untyped]

    ends, creds = stack.endpoints()["zookeeper"], stack.credentials()
    assert ends["secure_connect"] == ",".join(f"{a}:2182" for a in stack.addresses)
    # Between the servers (election port): TLS, each side showing a certificate of the CA.
    for n, peer in ((1, stack.addresses[1]), (3, stack.addresses[0])):
        tls = stack.sh(n, f"openssl s_client -brief -connect {peer}:3888 -verify_return_error "
                          "-CAfile /etc/smack/tls/ca.crt -cert /etc/smack/tls/node.crt "
                          "-key /etc/smack/tls/node.key </dev/null 2>&1", check=False)
        assert "Verification: OK" in tls, tls
    assert "sslQuorum=true" in stack.sh(2, "cat /etc/zookeeper/zoo.cfg").splitlines()

    def session(hosts: str, **options: Any) -> Any:
        client = KazooClient(hosts=hosts, connection_retry={"max_tries": 1}, **options)
        client.start(timeout=15)
        return client

    ours = client_identity(creds["ca"], tmp_path, "smack-test")
    stranger = {**client_identity(new_authority("stranger"), tmp_path, "stranger"),
                "ca": ours["ca"]}
    for refused in ({}, {"use_ssl": True, "ca": ours["ca"]}, {"use_ssl": True, **stranger}):
        with pytest.raises(KazooTimeoutError):  # plain text, no certificate, a stranger's
            session(ends["secure_connect"], **refused).stop()
    secure = session(ends["secure_connect"], use_ssl=True, verify_certs=True, **ours)
    try:
        assert {"mesos", "marathon", "zookeeper"} <= set(secure.get_children("/"))
    finally:
        secure.stop()

    def logged_in(user: str, password: str) -> Any:
        return session(ends["connect"], auth_data=[("digest", f"{user}:{password}")])

    anyone = session(ends["connect"])
    wrong = logged_in("marathon", "wrong")
    marathon = logged_in("marathon", creds["zookeeper"]["marathon"]["password"])
    mesos = logged_in("mesos", creds["zookeeper"]["mesos"]["password"])
    try:
        masters = [c for c in anyone.get_children("/mesos") if c.startswith("json.info_")]
        assert len(masters) == 3
        assert json.loads(anyone.get(f"/mesos/{min(masters)}")[0])["port"] == 5050
        with pytest.raises(NoAuthError):
            anyone.create("/mesos/json.info_", b"{}", ephemeral=True, sequence=True)
        with pytest.raises(NoAuthError):
            anyone.delete(f"/mesos/{min(masters)}")
        for client in (anyone, wrong, mesos):
            with pytest.raises(NoAuthError):
                client.get_children("/marathon/state")
        assert "apps" in marathon.get_children("/marathon/state")

        def acl(client: Any, path: str) -> list[tuple[int, str, str]]:
            return sorted((a.perms, a.id.scheme, a.id.id) for a in client.get_acls(path)[0])

        def owner(user: str) -> tuple[int, str, str]:
            return 31, "digest", make_digest_acl_credential(
                user, creds["zookeeper"][user]["password"])

        for path in ("/mesos", f"/mesos/{min(masters)}", "/mesos/log_replicas"):
            assert acl(mesos, path) == [(1, "world", "anyone"), owner("mesos")], path
        assert acl(marathon, "/marathon/state") == [owner("marathon")]
    finally:
        for client in (anyone, wrong, marathon, mesos):
            client.stop()


def test_spark_uis_listen_on_the_node_address_only(stack: Stack) -> None:
    """issue 15 item 5: Spark 3.5's UIs have no login; they are bound to the node's address,
    not to every interface."""
    seen = set()
    for n, address in zip(NODES, stack.addresses, strict=True):
        for line in stack.sh(n, "ss -Hltn").splitlines():
            # Java's IPv4 sockets show as IPv4-mapped IPv6 addresses: [::ffff:a.b.c.d]:port.
            local = line.split()[3].replace("[::ffff:", "").replace("]", "")
            port = int(local.rsplit(":", 1)[1])
            if port in (8180, 8181, 18080):
                assert local == f"{address}:{port}", (n, line)
                seen.add((n, port))
    assert {(n, 8181) for n in NODES} | {(1, 8180), (1, 18080)} <= seen, seen


def test_endpoints_answer_from_this_machine(stack: Stack) -> None:
    from kafka import KafkaConsumer, KafkaProducer  # type: ignore[import-untyped]
    from kazoo.client import KazooClient  # type: ignore[import-untyped]

    ends = stack.endpoints()
    zk = KazooClient(hosts=ends["zookeeper"]["connect"])
    zk.start(timeout=30)
    try:
        assert "zookeeper" in zk.get_children("/")
    finally:
        zk.stop()

    servers = ends["kafka"]["bootstrap_servers"].split(",")
    client = stack.kafka_client()
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", **client)
    for i in range(50):
        producer.send("endpoint-check", str(i).encode())
    producer.flush(timeout=60)
    producer.close()
    consumer = KafkaConsumer("endpoint-check", bootstrap_servers=servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=30000, **client)
    got = sorted(int(m.value) for m in consumer)
    consumer.close()
    assert got == list(range(50))

    assert ends["cassandra"]["contact_points"].split(",") == stack.addresses
    session = stack.cql()
    try:
        row = session.execute("SELECT release_version FROM system.local").one()
        assert row.release_version.startswith("5.0.")
    finally:
        session.cluster.shutdown()

    assert ends["spark"]["master"] == f"spark://{stack.addresses[0]}:7077"
    with urllib.request.urlopen(f"{ends['spark']['master_ui']}/json/", timeout=30) as answer:  # noqa: S310
        status = json.load(answer)
    assert sorted(w["host"] for w in status["workers"] if w["state"] == "ALIVE") \
        == sorted(stack.addresses)
    with urllib.request.urlopen(f"{ends['spark']['history_ui']}/api/v1/applications",  # noqa: S310
                                timeout=30) as answer:
        assert isinstance(json.load(answer), list)


def test_masters_elect_one_leader_and_every_agent_is_active_with_its_labels(
        stack: Stack) -> None:
    agents = stack.active_agents()
    assert sorted(agents) == sorted(stack.addresses)
    for agent in agents.values():
        assert agent["attributes"] == {"dc": "east", "rack": "r1"}
        assert agent["resources"]["cpus"] == 3  # resources.cpus label
    # The flags the role wrote reached the daemon: quorum of 3 masters is 2.
    status, flags = stack.get(f"http://{stack.leader()}:5050/flags", stack.operator())
    assert status == 200
    assert flags["flags"]["quorum"] == "2"
    # The URL with ZooKeeper's login stays in a root-only file: Mesos shows its flags here.
    assert flags["flags"]["zk"] == "file:///etc/mesos/master-zk"


def test_mesos_is_set_up_the_way_the_real_packages_read_it(stack: Stack) -> None:
    """issue 13: the real mesos-init-wrapper takes the ZooKeeper URL from ZK= / MASTER= in
    /etc/default/mesos-<role> (never /etc/mesos/zk); agents in containers that share the
    host's read-only cgroups need the posix launcher and isolators without systemd; tasks run
    as marathon and must walk into their sandbox; Marathon loads the library with the Java
    bindings and, on Java 17, needs java.lang opened."""
    for n in NODES:
        master = stack.sh(n, "cat /etc/default/mesos-master")
        assert re.search(r"^ZK=file:///etc/mesos/master-zk$", master, re.M), master
        agent = stack.sh(n, "cat /etc/default/mesos-agent")
        assert re.search(r"^MASTER=file:///etc/mesos/agent-zk$", agent, re.M), agent
        for role in ("master", "agent"):
            assert stack.sh(n, f"stat -c '%a %U' /etc/mesos/{role}-zk").split() == ["600", "root"]
            url = stack.sh(n, f"cat /etc/mesos/{role}-zk").strip()
            assert re.fullmatch(r"zk://mesos:[\w-]+@(\d+\.\d+\.\d+\.\d+:2181,?){3}/mesos", url)
        assert stack.sh(n, "ls /etc/mesos/zk 2>&1 || true").strip().endswith(
            "No such file or directory")
        assert stack.sh(n, "stat -c %a /var/lib/mesos /var/lib/mesos/agent").split() \
            == ["755", "755"]
        environ = stack.sh(n, "tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value "
                              "marathon)/environ").splitlines()
        assert "MESOS_NATIVE_JAVA_LIBRARY=/usr/lib/libmesos-java.so" in environ
        [java_opts] = [line for line in environ if line.startswith("JAVA_OPTS=")]
        assert "--add-opens java.base/java.lang=ALL-UNNAMED" in java_opts
        # No logger process left between the wrapper and the journal.
        assert "logger" not in stack.sh(n, "ps -eo comm")
    for address in stack.addresses:
        status, flags = stack.get(f"http://{address}:5051/flags", stack.operator())
        assert status == 200
        assert (flags["flags"]["launcher"], flags["flags"]["isolation"],
                flags["flags"]["systemd_enable_support"]) == (
            "posix", "posix/cpu,posix/mem", "false")
        assert flags["flags"]["master"] == "file:///etc/mesos/agent-zk"


def test_the_app_runs_healthy_as_marathon_and_answers_from_this_machine(stack: Stack) -> None:
    """issue 13, item 4: with the work directories 0750 the tasks (user marathon) served 404
    and their health checks killed them in a loop."""
    status, body = stack.get(f"http://{stack.addresses[0]}:8080/v2/apps/smack/hello",
                             stack.marathon_user())
    assert status == 200
    app = body["app"]
    assert (app["tasksRunning"], app["tasksHealthy"], app["tasksUnhealthy"]) == (2, 2, 0), app
    assert "lastTaskFailure" not in app, app["lastTaskFailure"]
    for task in app["tasks"]:
        status, page = stack.get(f"http://{task['host']}:{task['ports'][0]}/")
        assert status == 200 and "stdout" in page  # the sandbox's listing
    owners = [stack.sh(n, "ps -o user= -C python3 -o args= | grep http.server || true")
              for n in NODES]
    assert sorted(line.split()[0] for text in owners for line in text.splitlines()) \
        == ["marathon", "marathon"]


def test_authentication_is_on_by_default(stack: Stack) -> None:
    leader, first = stack.leader(), stack.addresses[0]
    assert stack.get(f"http://{leader}:5050/master/slaves")[0] == 401
    assert stack.get(f"http://{leader}:5050/master/slaves", ("smack-operator", "wrong"))[0] \
        == 401
    assert stack.get(f"http://{first}:5051/state")[0] == 401
    assert stack.get(f"http://{first}:8080/ping")[0] == 401
    assert stack.get(f"http://{first}:8080/ping", stack.marathon_user())[0] == 200
    # Secrets stay out of the inventory and the node's world-readable files.
    inventory = stack.cluster.inventory.parent
    text = "".join(p.read_text() for p in inventory.rglob("*") if p.is_file())
    assert stack.operator()[1] not in text and stack.marathon_user()[1] not in text
    modes = stack.sh(1, "stat -c '%n %a %U:%G' /etc/mesos/master-credentials.json "
                        "/etc/mesos/agent-credential.json /etc/mesos/operator-credential.json "
                        "/etc/default/marathon /etc/marathon/mesos-secret").splitlines()
    assert [m.split()[1] for m in modes] == ["600", "600", "600", "640", "640"], modes


def test_marathon_has_one_leader_registered_and_the_apps_are_listed(stack: Stack) -> None:
    user = stack.marathon_user()
    leaders = {stack.get(f"http://{a}:8080/v2/leader", user)[1]["leader"]
               for a in stack.addresses}
    assert len(leaders) == 1
    status, info = stack.get(f"http://{leaders.pop()}/v2/info", user)
    assert status == 200 and info["frameworkId"]
    status, frameworks = stack.get(f"http://{stack.leader()}:5050/master/frameworks",
                                   stack.operator())
    assert [f["name"] for f in frameworks["frameworks"] if f["active"]] == ["marathon"]
    status, apps = stack.get(f"http://{stack.addresses[1]}:8080/v2/apps", user)
    assert status == 200
    listed = {a["id"]: a for a in apps["apps"]}
    assert listed["/smack/hello"]["instances"] == 2
    assert listed["/smack/hello"]["constraints"] == [["hostname", "UNIQUE"]]


def test_a_wrong_mesos_flag_fails_with_the_daemons_message_and_a_fix_converges(
        stack: Stack) -> None:
    name = stack.cluster.settings.stack
    # Through the stack settings the name is refused before anything runs; through Ansible
    # (an inventory or extra variable) it reaches the daemon, which refuses it.
    with pytest.raises(SettingsError, match=r"smack:services\.mesos_master\.flags\.no_such_flag: "
                                            r"not an option of mesos-master 1\.11"):
        stack_settings(3, name, mesos_master={"flags": {"no_such_flag": "1"}})
    with pytest.raises(AnsibleRunError) as caught:
        stack.cluster.run("site.yml", tags="mesos_master",
                          extravars={"mesos_master_flags": {"no_such_flag": "1"}})
    message = str(caught.value)
    assert "Failed to load unknown flag 'no_such_flag'" in message
    assert "node-1" in message and "mesos-master" in message
    # Only the first master went down: the rolling restart stopped there, and the other two
    # (a quorum) keep or elect a leader.
    deadline = time.monotonic() + 120
    while True:
        try:
            assert stack.leader() in stack.addresses[1:]
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    fixed = stack.cluster.run("site.yml", tags="mesos_master")
    assert all(stats.failed == 0 for stats in fixed.hosts.values())
    # The crash-looping master may be back (systemd restarts it) before the fix reaches it:
    # whichever way it was sorted, no restart request is left behind.
    assert stack.pending_restarts() == ["", "", ""]
    stack.cluster.run("verify.yml", tags="mesos_master,mesos_agent,marathon")


def test_status_sees_every_service_live_and_a_stopped_broker(stack: Stack) -> None:
    def status() -> StackStatus:
        return collect_status(stack.cluster.settings.stack, inventory=stack.cluster.inventory)

    report = status()
    assert report.healthy, report.unhealthy()
    assert {s.service: len(s.rows) for s in report.services} == {
        "zookeeper": 3, "mesos_master": 3, "mesos_agent": 3, "marathon": 3, "kafka": 3,
        "cassandra": 3, "spark": 5,  # master, three workers, history server
        "metrics": 1}  # Prometheus on node-1
    # issue 13: every Marathon answers /v2/info like the leader (standbys forward it); the
    # X-Marathon-Via header tells the standbys. Stand-in builds are marked as such.
    roles = {s.service: sorted(r.role for r in s.rows) for s in report.services}
    assert roles["marathon"] == ["leader", "standby", "standby"]
    assert roles["mesos_master"] == ["leader", "standby", "standby"]
    assert report.standins == ["mesos_master", "mesos_agent", "marathon"]
    stack.sh(3, "systemctl stop kafka")
    try:
        down = status()
        assert not down.healthy
        assert down.unhealthy() == ["kafka node-3 (broker): down (connection refused)"]
        # verify.yml's Kafka health check asks every broker once, from the first node: the
        # broker that did not answer is named there, and the stopped node fails on its own.
        with pytest.raises(AnsibleRunError) as caught:
            stack.cluster.run(KAFKA_HEALTH, extravars={"kafka_health_retries": 2,
                                                       "kafka_health_delay_seconds": 1})
        message = str(caught.value)
        assert "brokers 1, 2, 3 (answering API requests: 1, 2)" in message, message[:3000]
        assert "kafka on node-3: broker 3 at " in message, message[:3000]
    finally:
        stack.sh(3, "systemctl start kafka")
    deadline = time.monotonic() + 180
    while not (report := status()).healthy:
        assert time.monotonic() < deadline, report.unhealthy()
        time.sleep(3)


def test_logs_shell_and_json_reach_every_node(stack: Stack) -> None:
    """issue 17, items 4-5: `smack status --json`, `smack logs` (journal, Marathon's own file,
    one node, follow) and `smack ssh`, connecting the way Ansible does."""
    status = smack(stack, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    report = valid(status.stdout, "status")
    assert report["healthy"] and report["standins"] == ["mesos_master", "mesos_agent", "marathon"]
    assert len(report["services"]["kafka"]["rows"]) == 3

    def prefixes(out: str) -> set[str]:
        """The nodes that gave real log lines (journalctl says "-- No entries --" otherwise)."""
        return {line.split(" | ", 1)[0].strip() for line in out.splitlines()
                if " | " in line and "-- No entries --" not in line}

    every = {f"node-{n}" for n in NODES}
    for service in ("kafka", "cassandra", "zookeeper", "mesos-agent", "marathon", "spark"):
        logs = smack(stack, "logs", service, "--lines", "5")
        assert logs.returncode == 0, (service, logs.stdout, logs.stderr)
        assert prefixes(logs.stdout) == every, (service, logs.stdout)
    # Marathon writes to its root-only file, not the journal: the lines come from that file.
    marathon = smack(stack, "logs", "marathon", "-n", "node-2", "--lines", "3").stdout
    lines = [line.split(" | ", 1)[1] for line in marathon.splitlines()]
    kept = stack.sh(2, "tail -n 500 /var/log/marathon/marathon.log").splitlines()
    assert len(lines) == 3 and all(line in kept for line in lines), (lines, kept[-5:])
    # Marathon (real 1.11 and the stand-in alike) prints its HTTP credentials at start-up:
    # the file has them, what smack shows does not.
    user, password = stack.marathon_user()
    assert password in stack.sh(1, "cat /var/log/marathon/marathon.log")
    whole = smack(stack, "logs", "marathon", "-n", "node-1", "--lines", "100000").stdout
    assert password not in whole and f"{user}:[redacted]" in whole
    one = smack(stack, "logs", "kafka", "-n", "node-2", "--lines", "2")
    assert prefixes(one.stdout) == {"node-2"} and len(one.stdout.splitlines()) == 2, one.stdout
    # The journal's lines, with their time stamps (journalctl -o short-iso).
    assert all(re.match(r"node-2 \| \d{4}-\d\d-\d\dT\d\d:\d\d", line)
               for line in one.stdout.splitlines()), one.stdout
    wrong = smack(stack, "logs", "kafka", "-n", "node-9")
    assert wrong.returncode == 2 and "has no node 'node-9'" in wrong.stderr, wrong.stderr
    assert "Traceback" not in wrong.stderr

    # --follow streams every node's lines and keeps going until interrupted (Ctrl-C).
    follow = subprocess.Popen([str(BIN / "smack"), "logs", "zookeeper", "-f", "--lines", "1",
                               "--stack", stack.cluster.settings.stack],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(follow.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while prefixes("".join(seen)) != every:
            assert time.monotonic() < deadline and follow.poll() is None, seen
            time.sleep(0.5)
        time.sleep(2)
        assert follow.poll() is None  # still following
    finally:
        follow.send_signal(signal.SIGINT)
        code = follow.wait(timeout=20)
    assert code == 0, follow.stderr.read() if follow.stderr else ""

    # Everything after the node is the command, so the stack comes first.
    hostname = subprocess.run([str(BIN / "smack"), "ssh", "--stack", stack.cluster.settings.stack,
                               "node-3", "--", "hostname"], capture_output=True, text=True,
                              timeout=60, check=False)
    assert hostname.returncode == 0, hostname.stderr
    assert hostname.stdout.strip() == stack.sh(3, "hostname").strip()


def prometheus(stack: Stack, path: str) -> Any:
    """GET a Prometheus API path with the stack's login; its `data`."""
    login = stack.credentials()["prometheus"]
    answer = http_get(f"http://{stack.addresses[0]}:9090{path}",
                      auth=(login["user"], login["password"]), timeout=30)
    assert answer.status == 200, (path, answer.status, answer.body[:300])
    doc = answer.json()
    assert doc["status"] == "success", doc
    return doc["data"]


def query(stack: Stack, expr: str) -> dict[str, float]:
    """An instant query: node label (or "" for a single unlabelled value) -> value."""
    result = prometheus(stack, "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    return {r["metric"].get("node", ""): float(r["value"][1]) for r in result["result"]}


def wait_for(check: Any, what: str, timeout: float = 180) -> Any:
    """Prometheus' answers are asserted as they come; until `timeout` a failed one is "not yet"."""
    return wait_until(what, check, timeout, retry_on=(AssertionError,))


SCRAPED = {"prometheus": 1, "node": 3, "zookeeper": 3, "kafka": 3, "cassandra": 3,
           "spark_master": 1, "spark_worker": 3, "mesos_master": 3, "mesos_agent": 3,
           "marathon": 3}


def test_prometheus_scrapes_every_service_and_each_metric_is_sane(stack: Stack) -> None:
    """issue 17, items 1 and 6: every target of the inventory up, one metric of each service
    with the value the cluster has, Kafka's messages-in rising while a producer writes."""
    login = stack.credentials()["prometheus"]
    refused = http_get(f"http://{stack.addresses[0]}:9090/api/v1/targets", timeout=30)
    assert refused.status == 401  # every path wants the stack's login
    assert http_get(f"http://{stack.addresses[0]}:9090/-/ready",
                    auth=(login["user"], "wrong"), timeout=30).status == 401

    def all_up() -> list[dict[str, Any]] | None:
        targets = prometheus(stack, "/api/v1/targets?state=active")["activeTargets"]
        return targets if targets and all(t["health"] == "up" for t in targets) else None

    targets = wait_for(all_up, "every target up")
    jobs: dict[str, int] = {}
    for t in targets:
        jobs[t["labels"]["job"]] = jobs.get(t["labels"]["job"], 0) + 1
    assert jobs == SCRAPED
    every = {f"node-{n}" for n in NODES}

    def sample(expr: str, nodes: set[str] | None = None) -> dict[str, float]:
        # A metric first appears one scrape after its daemon registered it.
        return wait_for(lambda: (found := query(stack, expr)) and (
            nodes is None or set(found) == nodes) and found, expr, timeout=90)

    assert sample('sum(zookeeper_role{role="leader"})') == {"": 1.0}
    assert sample("zookeeper_role", every).keys() == every
    assert all(v > 0 for v in sample("zookeeper_znode_count", every).values())
    assert all(v > 0 for v in sample("cassandra_storage_load_bytes", every).values())
    assert sample("spark_master_aliveworkers") == {"node-1": 3.0}
    assert sample("sum(mesos_master_elected)") == {"": 1.0}
    assert sample("max(mesos_master_slaves_active)") == {"": 3.0}
    assert set(sample("mesos_slave_tasks_running", every)) == every
    assert sample("smack_bridge_up", every) == {n: 1.0 for n in every}
    assert set(sample("marathon_mesos_offers_incoming_total", every)) == every
    assert all(v > 0 for v in sample("node_memory_MemAvailable_bytes", every).values())
    assert all(v > 0 for v in sample('jvm_memory_used_bytes{area="heap",job="kafka"}',
                                     every).values())
    assert sample("sum(kafka_under_replicated_partitions)") == {"": 0.0}

    def produce(lines: str) -> None:
        stack.sh(1, f"{lines} | kafka-console-producer --bootstrap-server "
                    "$(hostname -i):9094 --topic metrics-check --producer-property acks=all")

    topic = 'sum(kafka_messages_in_total{topic="metrics-check"})'
    # The topic's counter exists once the topic took its first messages.
    produce("seq 1 200")
    before = wait_for(lambda: (found := query(stack, topic)).get("", 0.0) >= 200 and found,
                        "the topic's counter", timeout=90)[""]
    # 2000 more, paced over about 40 s, so that several scrapes see the counter rise while the
    # producer writes: a burst between two scrapes gives rate() one rising step at most, and on
    # a loaded machine (CI: three clusters on two cores) it once saw none.
    produce("for second in $(seq 40); do seq 1 50; sleep 1; done")
    after = wait_for(lambda: (v := query(stack, topic).get("", 0.0)) >= before + 2000 and v,
                       "messages-in rising", timeout=90)
    assert after >= before + 2000
    # A 5-minute window: on a loaded machine a scrape of a broker can miss its interval, and a
    # 2-minute window then holds fewer than the two samples rate() needs.
    rate = 'sum(rate(kafka_messages_in_total{topic="metrics-check"}[5m]))'
    try:
        wait_for(lambda: query(stack, rate).get("", 0.0) > 0, "messages-in rate", timeout=120)
    except AssertionError as err:
        window = prometheus(stack, "/api/v1/query?" + urllib.parse.urlencode(
            {"query": 'kafka_messages_in_total{topic="metrics-check"}[5m]'}))
        raise AssertionError(f"{err}; the window's samples: {window['result']}") from err


def test_a_stopped_cassandra_node_fires_its_alert_in_status(stack: Stack) -> None:
    """issue 17, items 3 and 6: the rule's window (30 s) plus a scrape and an evaluation
    (15 s each) after Cassandra stops on node-3, CassandraNodeDown fires and `smack status`
    shows it; it clears once the node is back."""
    rules = prometheus(stack, "/api/v1/rules")["groups"]
    names = {r["name"] for g in rules for r in g["rules"]}
    assert {"KafkaUnderReplicatedPartitions", "CassandraNodeDown", "ZookeeperNoLeader",
            "MesosAgentDeactivated", "NodeDiskAlmostFull"} <= names
    def cassandra_alerts() -> list[tuple[str, str]]:
        # Other alerts may fire for reasons of this machine (a disk over 85 %): not counted.
        report = valid(smack(stack, "status", "--json").stdout, "status")
        return [(a["name"], a["node"]) for a in report["alerts"] if "Cassandra" in a["name"]]

    assert cassandra_alerts() == []

    stack.sh(3, "systemctl stop cassandra")
    stopped = time.monotonic()
    try:
        def firing() -> list[dict[str, Any]]:
            alerts = prometheus(stack, "/api/v1/alerts")["alerts"]
            return [a for a in alerts if a["state"] == "firing"
                    and a["labels"]["alertname"] == "CassandraNodeDown"]

        fired = wait_for(firing, "CassandraNodeDown firing", timeout=120)
        took = time.monotonic() - stopped
        assert [a["labels"]["node"] for a in fired] == ["node-3"]
        assert took >= 30, took  # not before the rule's window
        shown = smack(stack, "status")
        assert "Alerts firing" in shown.stdout and "CassandraNodeDown on node-3" in shown.stdout
        assert cassandra_alerts() == [("CassandraNodeDown", "node-3")]
    finally:
        stack.sh(3, "systemctl start cassandra")
    wait_for(lambda: cassandra_alerts() == [], "CassandraNodeDown cleared", timeout=300)


def test_the_dashboards_show_data_in_a_real_browser(stack: Stack, tmp_path: Path) -> None:
    """issue 17, items 2 and 6: every dashboard loads in headless Chromium through the
    Prometheus login with graphs that hold data; the overview's screenshot is kept for the
    README when SMACK_SCREENSHOT_DIR is set (README, "Metrics and dashboards")."""
    login = stack.credentials()["prometheus"]
    url = f"http://{stack.addresses[0]}:9090/user/index.html?stack={stack.cluster.settings.stack}"
    for dashboard in ("overview", "kafka", "cassandra", "pipeline", "mesos"):
        shot = tmp_path / f"{dashboard}.png"
        seen = capture(url, login["user"], login["password"], shot, dashboard=dashboard)
        panels = seen["panels"]
        assert panels and not [p for p in panels if p["error"]], (dashboard, panels)
        drawn = [p for p in panels if p["series"] > 0 and p["points"] > 0]
        assert len(drawn) >= max(1, len(panels) - 1), (dashboard, panels)
        assert shot.stat().st_size > 20_000, (dashboard, shot.stat().st_size)
        keep = os.environ.get("SMACK_SCREENSHOT_DIR")
        if keep and dashboard == "overview":
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, Path(keep) / "dashboard-overview.png")


DATA_UNITS = ("zookeeper", "kafka", "cassandra", "mesos-master", "mesos-agent")


@pytest.mark.parametrize(("extravars", "expected"), [
    ({"remove_nodes": "node-1"},
     ["node-1: task 'Refuse to remove a member of a fixed quorum'",
      "is a ZooKeeper server (3 in group zookeeper", "would break the quorum"]),
    ({"remove_nodes": "node-3,node-9"}, ["remove_nodes=node-3,node-9", "unknown: node-9"]),
    # Named dead but answering: refused before any survivor acts for it.
    ({"remove_nodes": "node-3", "remove_dead_nodes": "node-3"},
     ["node-3: task 'Refuse to remove an answering node without handing its data over'",
      "node-3 answers over SSH, so it is not dead"]),
])
def test_removals_that_break_a_quorum_are_refused(
        stack: Stack, extravars: dict[str, str], expected: list[str]) -> None:
    before = {unit: stack.started_at(unit) for unit in DATA_UNITS}
    with pytest.raises(AnsibleRunError) as caught:
        stack.cluster.run("remove-node.yml", extravars=extravars)
    for text in expected:
        assert text in str(caught.value)
    assert {unit: stack.started_at(unit) for unit in DATA_UNITS} == before


def test_a_fourth_agent_joins_by_running_only_the_agent_play(stack: Stack) -> None:
    # The new node installs from package files copied from this machine (source: files).
    debs = sorted(str(p) for p in standin_repository().glob("*.deb"))
    name = stack.cluster.settings.stack
    stack.cluster.settings = stack_settings(4, name, packages={"source": "files", "files": debs})
    stack.cluster.up()
    stack.cluster.run("mesos-agent.yml", limit="node-4")
    installed = stack.sh(4, "dpkg-query -W aventer-mesos")
    assert installed.split() == ["aventer-mesos", "1.11.0-0standin2"]
    fourth = stack.cluster.created[stack.container(4)]["address"]
    agents = stack.active_agents()
    assert fourth in agents and len(agents) == 4
    # The new node got the agent only; quorum services stay on the first three nodes.
    units = stack.sh(4, "systemctl is-active mesos-agent mesos-master marathon kafka cassandra",
                     check=False)
    assert units.split() == ["active", "inactive", "inactive", "inactive", "inactive"]


def test_a_task_lands_on_the_new_agent_and_runs_as_its_user(stack: Stack) -> None:
    """issue 13, item 5: on an agent without the task user (it existed only where Marathon
    ran) the task was TASK_DROPPED "Failed to chown directory to 'marathon'"."""
    assert stack.sh(4, "id -un marathon").strip() == "marathon"
    fourth = stack.cluster.created[stack.container(4)]["address"]
    url = f"http://{stack.addresses[0]}:8080/v2/apps/smack/hello"
    before = wait_for_app(stack, url, lambda a: True).get("lastTaskFailure")
    try:
        assert marathon_put(stack, url, {"instances": 4}) == 200
        app = wait_for_app(stack, url, lambda a: a["tasksHealthy"] == 4 and not a["deployments"])
        assert fourth in {t["host"] for t in app["tasks"]}
        assert app.get("lastTaskFailure") == before  # no task failed on the way
    finally:
        # force: also when the scale-up is still deploying
        assert marathon_put(stack, f"{url}?force=true", {"instances": 2}) == 200
        wait_for_app(stack, url, lambda a: a["tasksRunning"] == 2 and not a["deployments"])


def marathon_put(stack: Stack, url: str, body: dict[str, Any]) -> int:
    user, password = stack.marathon_user()
    request = urllib.request.Request(  # noqa: S310 - http to a node of ours
        url, data=json.dumps(body).encode(), method="PUT",
        headers={"Content-Type": "application/json"})
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - a node of ours
        return int(answer.status)


def wait_for_app(stack: Stack, url: str, done: Any, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = stack.get(url, stack.marathon_user())
        if status == 200 and done(body["app"]):
            return dict(body["app"])
        assert time.monotonic() < deadline, body
        time.sleep(2)


CLEANUP_ROWS = 400
CLEANUP_TASK = "Drop the rows of ranges this node no longer owns"


def local_partitions(stack: Stack, n: int, table: str) -> int:
    """Partitions of a table in node n's own SSTables (nodetool tablestats' estimate)."""
    out = stack.sh(n, f"nodetool tablestats {table}")
    found = re.search(r"Number of partitions \(estimate\): (\d+)", out)
    assert found, out
    return int(found.group(1))


def write_rows_to_clean_up(stack: Stack) -> int:
    """Rows on each of the three nodes (replication 3), flushed into node-1's SSTables; how
    many partitions node-1 holds."""
    session = stack.cql()
    try:
        session.execute("CREATE KEYSPACE cleanup WITH replication = "
                        f"{{'class': 'NetworkTopologyStrategy', '{stack.dc}': 3}}")
        session.execute("CREATE TABLE cleanup.t (id int PRIMARY KEY)")
        insert = session.prepare("INSERT INTO cleanup.t (id) VALUES (?)")
        for i in range(CLEANUP_ROWS):
            session.execute(insert, (i,))
    finally:
        session.cluster.shutdown()
    stack.sh(1, "nodetool flush cleanup t")
    held = local_partitions(stack, 1, "cleanup.t")
    assert held >= 0.9 * CLEANUP_ROWS, held
    return held


def assert_cleaned_up_after(stack: Stack, events: dict[tuple[str, str], dict[str, Any]],
                            last_join: dict[str, Any], held_before: int) -> None:
    """Once the last joiner was healthy, the nodes that were there dropped what moved to the
    joiners (nodetool cleanup), one at a time in node order; node-1 holds fewer partitions and
    every row is still readable."""
    cleanups = {host: e for (name, host), e in events.items() if name == CLEANUP_TASK}
    assert sorted(cleanups) == ["node-1", "node-2", "node-3"], cleanups
    assert all(e["event"] == "runner_on_ok" and e["res"]["changed"] for e in cleanups.values())
    order = [cleanups[f"node-{n}"]["counter"] for n in NODES]
    assert last_join["counter"] < order[0] and order == sorted(order), order
    held_after = local_partitions(stack, 1, "cleanup.t")
    assert held_after < 0.85 * held_before, (held_before, held_after)
    session = stack.cql()
    try:
        assert session.execute("SELECT count(*) FROM cleanup.t").one()[0] == CLEANUP_ROWS
    finally:
        session.cluster.shutdown()


def test_two_nodes_join_even_when_one_is_killed_mid_deploy(stack: Stack) -> None:
    before = {unit: stack.started_at(unit) for unit in DATA_UNITS}
    # After the join node-1 must hold only the ranges it still owns.
    held_before = write_rows_to_clean_up(stack)
    stack.cluster.settings = stack_settings(5, stack.cluster.settings.stack)
    stack.cluster.up()
    fourth = f"smack-{stack.cluster.settings.stack}-node-4"
    failure: list[BaseException] = []

    # scale.yml: the new nodes get every role, the others only what changed for them.
    def deploy() -> None:
        try:
            stack.cluster.run("scale.yml")
        except BaseException as exc:  # the kill below makes this run fail
            failure.append(exc)

    thread = threading.Thread(target=deploy)
    thread.start()
    deadline = time.monotonic() + 600
    while thread.is_alive() and time.monotonic() < deadline:
        # Killed once its first release is unpacked (Cassandra's, the first growing service):
        # packages, units and data half there.
        probe = stack.engine.run("exec", fourth, "test", "-d", "/opt/smack/cassandra",
                                 check=False)
        if probe.returncode == 0:
            break
        time.sleep(1)
    stack.engine.run("kill", fourth)
    thread.join()
    assert failure and isinstance(failure[0], AnsibleRunError), failure
    stack.engine.run("start", fourth)

    stack.cluster.run("scale.yml")
    # The first joiner was Up/Normal before the second started; the second's health was asked
    # after the agents, brokers and workers had converged beside its bootstrap (issue 18).
    events = task_results(stack.cluster)
    health = {host: e for (name, host), e in events.items()
              if name == "Wait until nodetool status shows the nodes Up/Normal"}
    assert health["node-4"]["play"] == \
        "Install and start the service where it does not run yet - cassandra", health
    assert health["node-5"]["play"] == \
        "Wait for the nodes started earlier to be healthy - cassandra", health
    assert events[("Enable and start the worker of this node", "node-5")]["counter"] \
        < health["node-5"]["counter"]
    status = stack.sh(1, "nodetool status")
    for n in (4, 5):
        address = stack.cluster.created[stack.container(n)]["address"]
        assert any(line.startswith(f"UN  {address} ") for line in status.splitlines()), status
    assert sum(line.startswith("UN  ") for line in status.splitlines()) == 5
    assert_only_joiners_converged(events, {"node-4", "node-5"})
    assert_cleaned_up_after(stack, events, health["node-5"], held_before)
    # Joining a ring that holds data: no tokens decided up front, each bootstrapped alone
    # (streaming its ranges), the first members' tokens untouched.
    for n in (4, 5):
        config = yaml.safe_load(stack.sh(n, "cat /etc/cassandra/cassandra.yaml"))
        assert "initial_token" not in config and "auto_bootstrap" not in config, config
        assert stack.sh(n, "test -e /var/lib/cassandra/.smack-initial-tokens || echo none") \
            .strip() == "none"
        assert "Starting to bootstrap" in stack.sh(
            n, "journalctl -u cassandra --no-pager | grep -m1 'Starting to bootstrap' || true")
        # The local target's default: a joiner does not wait for gossip to settle (four
        # waits of 8 s or more each), its ring delay lets gossip reach every node first.
        assert stack.sh(n, "journalctl -u cassandra --no-pager "
                           "| grep -c 'Waiting for gossip to settle' || true").strip() == "0"
    joined = sorted(stack.started_at("cassandra", (4, 5)))
    assert all(joined) and joined[1] - joined[0] > 10_000_000, joined
    tokens = ring_tokens(stack)
    for n, address in zip(NODES, stack.addresses, strict=True):
        assert sorted(tokens[address]) == TOKENS.initial_tokens(n - 1, len(NODES), 16)
    brokers = stack.sh(1, "kafka-broker-api-versions --bootstrap-server $(hostname -i):9094")
    assert "(id: 4 " in brokers and "(id: 5 " in brokers
    stack.sh(1, "mesos-check agents --masters " + ",".join(f"{a}:5050" for a in stack.addresses)
             + " --count 5")
    # The nodes that were there keep their services running: nothing was restarted.
    assert {unit: stack.started_at(unit) for unit in DATA_UNITS} == before


def test_brokers_keep_their_ids_and_the_ring_its_seeds_when_places_in_the_groups_move(
        stack: Stack) -> None:
    """Hosts that sort first (a baremetal host named so, a node group listed first that grew)
    move every member's place in groups kafka and cassandra. A broker's storage holds its node
    id and it refuses to start under another, so ids and voters stay with the brokers; a node
    that is its own seed never bootstraps, so the seeds stay with the nodes that hold them: the
    run finds nothing to change. Every broker has recorded every other's id (the scale run
    recorded the joiners' on the three it left alone), which the next test's dead broker needs."""
    numbers = (1, 2, 3, 4, 5)
    expected = {f"node-{n}": n for n in numbers}
    for n in numbers:
        record = json.loads(stack.sh(n, "cat /etc/kafka/node-ids.json"))
        assert record == {"ids": expected, "voters": ["node-1", "node-2", "node-3"]}, (n, record)
    seeds = ",".join(stack.addresses[:3])
    inventory = stack.cluster.inventory
    original = inventory.read_text()
    data = yaml.safe_load(original)
    # node-1 stays first: the first broker keeps the users' state (principals.json), and a
    # new first broker would put the users in place again, as it should.
    for group in ("kafka", "cassandra"):
        members = data["all"]["children"][group]
        members["hosts"] = {host: members["hosts"][host]
                            for host in ("node-1", "node-5", "node-4", "node-2", "node-3")}
    files = ("/etc/kafka/server.properties", "/etc/cassandra/cassandra.yaml")
    before = {(n, f): stack.sh(n, f"cat {f}") for n in numbers for f in files}
    assert all(f'- seeds: "{seeds}"' in before[n, files[1]] for n in numbers), seeds
    started = {s: stack.started_at(s, numbers) for s in ("kafka", "cassandra")}
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        moved = stack.cluster.run("site.yml", tags="kafka,cassandra")
    finally:
        inventory.write_text(original)
    assert moved.changed == 0, moved.changed_tasks
    assert {(n, f): stack.sh(n, f"cat {f}") for n in numbers for f in files} == before
    assert {s: stack.started_at(s, numbers) for s in ("kafka", "cassandra")} == started
    assert "node.id=5\n" in before[5, files[0]] and "process.roles=broker\n" in before[5, files[0]]
    assert "process.roles=broker,controller\n" in before[3, files[0]]


def test_scale_in_drains_one_node_removes_a_dead_one_and_keeps_every_row(stack: Stack) -> None:
    """node-4 leaves the careful way (drained, reassigned, decommissioned); node-5 is killed
    first and removed as dead (issue 16, item 4): nothing connects to it, the survivors mark
    its machine DOWN, move its partitions and rebuild its ranges (nodetool removenode)."""
    servers = [f"{a}:9092" for a in stack.addresses]
    stack.sh(1, "kafka-topics --bootstrap-server $(hostname -i):9094 --create --topic scale "
                "--partitions 8 --replication-factor 3 >/dev/null")
    kafka, producer = kafka_writer(servers, "scale", stack.kafka_client())
    session = stack.cql()
    session.execute("CREATE TABLE keep.scale (id int PRIMARY KEY)")
    rows = cassandra_writer(session, "keep.scale")
    try:
        for writer in (kafka.start(), rows.start()):
            writer.wait_for(2_000, timeout=300)
    finally:
        kafka.stop()
        rows.stop()
        producer.close(timeout=30)
    leaving = {n: stack.cluster.created[stack.container(n)]["address"] for n in (4, 5)}
    assert all(any(line.startswith(f"UN  {address} ") for line in
                   stack.sh(1, "nodetool status keep").splitlines())
               for address in leaving.values())
    stack.engine.run("kill", stack.container(5))

    stack.cluster.settings = stack_settings(3, stack.cluster.settings.stack)
    first = stack.cluster.retire(dead=("node-5",))
    assert first is not None and first.changed > 0
    again = stack.cluster.retire(dead=("node-5",))
    assert again is not None and again.changed == 0, again.changed_tasks
    stack.cluster.up()

    status = stack.sh(1, "nodetool status")
    assert not [a for a in leaving.values() if a in status], status
    assert [line[:2] for line in status.splitlines() if line[:2] in ("UN", "DN", "UL", "UJ")] \
        == ["UN"] * 3, status
    replicas = stack.sh(1, "kafka-topics --bootstrap-server $(hostname -i):9094 --describe "
                           "--topic scale")
    placed = [(line.split("Replicas:")[1].split()[0], line.split("Isr:")[1].split()[0])
              for line in replicas.splitlines() if "Replicas:" in line]
    assert len(placed) == 8 and all(
        sorted(r.split(",")) == sorted(i.split(",")) and not {"4", "5"} & set(r.split(","))
        for r, i in placed), replicas
    brokers = stack.sh(1, "kafka-broker-api-versions --bootstrap-server $(hostname -i):9094")
    assert "(id: 4 " not in brokers and "(id: 5 " not in brokers
    masters = ",".join(f"{a}:5050" for a in stack.addresses)
    stack.sh(1, f"mesos-check agents --masters {masters} --count 3")
    leader = json.loads(stack.sh(1, f"mesos-check masters --masters {masters}"))["leader"]
    assert stack.get(f"http://{leader}/master/maintenance/schedule", stack.operator()) \
        == (200, {})
    try:
        assert set(rows.acked) <= cassandra_read_all(session, "keep.scale")
        assert cassandra_read_all(session, "keep.t") == set(range(100))  # earlier rows too
    finally:
        session.cluster.shutdown()
    assert set(kafka.acked) <= kafka_read_all(servers[:3], "scale", stack.kafka_client())


def test_a_replaced_node_comes_back_with_its_data_as_the_same_member(stack: Stack) -> None:
    """issue 16, item 5: a change that replaces node-3's container keeps its data volumes, so
    site.yml brings it back as the same Cassandra node (host id, tokens) and Kafka broker,
    with every row and message."""
    stack.sh(1, "kafka-topics --bootstrap-server $(hostname -i):9094 --create --topic replaced "
                "--partitions 6 --replication-factor 3 >/dev/null")
    stack.sh(1, "seq 1 300 | kafka-console-producer --bootstrap-server $(hostname -i):9094 "
                "--topic replaced --producer-property acks=all")
    session = stack.cql()
    try:
        session.execute("CREATE KEYSPACE replaced WITH replication = "
                        f"{{'class': 'NetworkTopologyStrategy', '{stack.dc}': 3}}")
        session.execute("CREATE TABLE replaced.t (id int PRIMARY KEY)")
        for i in range(200):
            session.execute("INSERT INTO replaced.t (id) VALUES (%s)", (i,))
    finally:
        session.cluster.shutdown()
    host_id = stack.sh(3, "nodetool info | awk '/^ID/ {print $3}'").strip()
    tokens = stack.sh(3, "nodetool info --tokens | grep -c '^Token'").strip()
    node_id = stack.sh(3, "grep '^node.id=' /var/lib/kafka/data/meta.properties").strip()
    old = stack.cluster.created[stack.container(3)]["container_id"]

    stack.cluster.replace(stack.container(3))
    stack.cluster.up()
    assert stack.cluster.created[stack.container(3)]["container_id"] != old
    # A new system: nothing installed, no converged marker; the data is there.
    assert stack.sh(3, "test -e /var/lib/smack/converged || echo unmarked; "
                       "test -x /usr/local/bin/nodetool || echo fresh").split() == [
        "unmarked", "fresh"]
    assert node_id in stack.sh(3, "cat /var/lib/kafka/data/meta.properties")
    assert stack.cluster.run("site.yml").changed > 0

    assert stack.sh(3, "nodetool info | awk '/^ID/ {print $3}'").strip() == host_id
    assert stack.sh(3, "nodetool info --tokens | grep -c '^Token'").strip() == tokens
    assert stack.sh(3, "test -e /var/lib/smack/converged && echo converged").strip() == "converged"
    status = stack.sh(1, "nodetool status")
    assert [line[:2] for line in status.splitlines() if line[:2] in ("UN", "DN", "UL", "UJ")] \
        == ["UN"] * 3, status
    replicas = stack.sh(1, "kafka-topics --bootstrap-server $(hostname -i):9094 --describe "
                           "--topic replaced")
    isr = [line.split("Isr:")[1].split()[0] for line in replicas.splitlines() if "Isr:" in line]
    assert len(isr) == 6 and all(len(i.split(",")) == 3 for i in isr), replicas
    read = stack.sh(3, "kafka-console-consumer --bootstrap-server $(hostname -i):9094 --topic "
                       "replaced --from-beginning --max-messages 300 --timeout-ms 60000")
    assert sorted(int(x) for x in read.split()) == list(range(1, 301))
    masters = ",".join(f"{a}:5050" for a in stack.addresses)
    stack.sh(1, f"mesos-check agents --masters {masters} --count 3")
    session = stack.cql()
    try:
        assert cassandra_read_all(session, "replaced.t") == set(range(200))
    finally:
        session.cluster.shutdown()


@pytest.mark.parametrize(("tag", "extravars", "expected"), [
    ("common", {"common_swappiness": 500},
     ["node-1: task 'Refuse out-of-range kernel and limit settings'",
      "common_swappiness must be 0-100 (is 500)"]),
    ("cassandra", {"cassandra_extra_config": {"num_tokens": 8}},
     ["node-1: task 'Refuse extra settings that repeat ones this role sets'",
      "cassandra_extra_config may not set num_tokens"]),
    ("kafka", {"kafka_extra_properties": {"node.id": 7}},
     ["node-1: task 'Refuse extra properties that repeat ones this role sets'",
      "kafka_extra_properties may not set node.id"]),
    ("spark", {"spark_master_ui_port": 8080},
     ["node-1: task 'Refuse ports that collide'", "spark_master_ui_port", "8080"]),
])
def test_a_refused_setting_names_host_task_and_variable(
        stack: Stack, tag: str, extravars: dict[str, Any], expected: list[str]) -> None:
    unit = {"spark": "spark-master", "common": "zookeeper"}.get(tag, tag)
    before = stack.started_at(unit)
    with pytest.raises(AnsibleRunError) as caught:
        stack.cluster.run("site.yml", extravars=extravars, limit="node-1", tags=tag)
    for text in expected:
        assert text in str(caught.value)
    assert stack.started_at(unit) == before


def test_config_changes_restart_one_node_at_a_time(stack: Stack) -> None:
    units = ("kafka", "cassandra", "spark-worker", "zookeeper")
    before = {unit: stack.started_at(unit) for unit in units}
    # Cassandra's rolling restart is proven under load in test_rolling.py (restart.yml, same
    # role tasks); here it must stay up while the others roll.
    change = {"kafka_extra_properties": {"log.retention.hours": 100},
              "spark_extra_defaults": {"spark.network.timeout": "180s"}}
    # The roles' own tags reach every step of their plays (converge.yml), restarts included.
    with one_node_down_at_most(stack.addresses, 9092, 9042):
        result = stack.cluster.run("site.yml", extravars=change, tags="kafka,spark")
    assert result.changed > 0
    after = {unit: stack.started_at(unit) for unit in units}
    # Each node came back healthy before the next one went down.
    for unit in ("kafka", "spark-worker"):
        assert rolled_one_at_a_time(before[unit], after[unit]), (unit, after[unit])
    # Unchanged services keep running.
    assert (after["zookeeper"], after["cassandra"]) == (before["zookeeper"], before["cassandra"])
    # Every restart request was honoured and cleared: a rerun would restart nothing.
    assert stack.pending_restarts() == ["", "", ""]


def test_reset_leaves_nothing_of_ours_on_the_nodes(stack: Stack) -> None:
    # Last: the bare-metal reset (reset.yml) on nodes that ran every service and lived
    # through day 2. Units, users, groups, packages, files, processes, ports and the
    # /etc/hosts block of smack's services are gone; the nodes look as they did before.
    result = stack.cluster.run("reset.yml")
    assert result.changed > 0
    for n in NODES:
        traces = node_traces(lambda script, n=n: stack.sh(n, script))
        assert traces == stack.traces_before[n], (
            f"node-{n} still holds {sorted(traces - stack.traces_before[n])}, "
            f"lost {sorted(stack.traces_before[n] - traces)}")
    again = stack.cluster.run("reset.yml")
    assert again.changed == 0, again.changed_tasks
