"""The real Pulumi engine on the local stack: up, no-op up, preview, drift seen and repaired,
a replacing change announced, scale 3→4→3, a replacing change rolled one node at a time,
destroy.

Drives plain `pulumi` and `smack` (Automation API) as a user would, against a stack of its
own on the test subnet, and checks each step's effect on the nodes themselves.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
import yaml

from infra.credentials import credentials_file
from infra.paths import inventory_dir, state_dir
from infra.status import http_get
from tests.support.engine_stack import Stack
from tests.support.leaks import footprint, leftovers

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack() -> Iterator[Stack]:
    s = Stack(f"e2e{uuid.uuid4().hex[:6]}")
    # The engine is what this tier proves; ZooKeeper and the Mesos masters and agents (the
    # STAND-INS of tests/standins, which the shipped local stack installs) stand in for the
    # services: the agents grow and shrink with the node count. Kafka, Cassandra and Spark are
    # proved by the integration tier, and would double CI time here.
    s.write_settings(count=3, services={
        "zookeeper": {"heap_mb": 128},
        **{name: {"enabled": False} for name in ("kafka", "cassandra", "spark", "marathon")}})
    try:
        yield s
    finally:
        s.destroy_and_remove()


def masters(stack: Stack) -> str:
    uis = stack.outputs()["endpoints"]["mesos"]["master_uis"]  # type: ignore[index]
    return ",".join(u.removeprefix("http://") for u in uis)  # type: ignore[attr-defined]


def agents(stack: Stack) -> list[str]:
    """Addresses of the agents the leading Mesos master (stand-in) lists as active."""
    state = json.loads(stack.exec(1, "mesos-check", "agents", "--masters", masters(stack)))
    return list(state["active_agents"])


def maintenance_schedule(stack: Stack) -> object:
    leader = json.loads(stack.exec(1, "mesos-check", "masters", "--masters",
                                   masters(stack)))["leader"]
    operator = yaml.safe_load(credentials_file(stack.name).read_text())["mesos"]["operator"]
    answer = http_get(f"http://{leader}/master/maintenance/schedule",
                      auth=(operator["principal"], operator["secret"]), timeout=30)
    assert answer.status == 200
    return json.loads(answer.body)


def secrets_in_clear_in_the_state(stack: Stack) -> int:
    """How often a generated secret (the CA's key among them) shows in `pulumi stack export`."""
    creds = yaml.safe_load(credentials_file(stack.name).read_text())
    secrets = [c["secret"] for c in creds["mesos"].values()]
    secrets += [creds["marathon_http"]["password"], creds["ca"]["key"].splitlines()[1],
                creds["spark"]["secret"], creds["kafka"]["admin"]["password"],
                *creds["kafka"]["principals"].values(), creds["cassandra"]["admin"]["password"],
                creds["cassandra"]["jmx"]["password"], *creds["cassandra"]["roles"].values(),
                *(login["password"] for login in creds["zookeeper"].values()),
                # a line of the SSH private key, which the state keeps too
                (state_dir(stack.name) / "ssh" / "id_ed25519").read_text().splitlines()[2]]
    exported = stack.pulumi("stack", "export").stdout
    assert '"ciphertext"' in exported  # the values are there, encrypted
    return sum(exported.count(secret) for secret in secrets)


def lose_the_local_state_and_come_back(stack: Stack, first: dict[str, str]) -> None:
    """`.smack/stacks/<stack>` lost (a fresh clone with the same backend and passphrase): the
    SSH key and the credentials come back from the state, the same ones; no node changes and
    Ansible does not run (its log went with the directory and stays absent)."""
    key = state_dir(stack.name) / "ssh" / "id_ed25519"
    kept = (key.read_text(), credentials_file(stack.name).read_text())
    shutil.rmtree(state_dir(stack.name))
    restored = stack.smack("up")
    assert "2 updated" in restored.stdout and "11 unchanged" in restored.stdout, restored.stdout
    assert (key.read_text(), credentials_file(stack.name).read_text()) == kept
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials_file(stack.name).stat().st_mode) == 0o600
    assert stack.containers() == first
    assert stack.runs_of_site() == 0
    stack.pulumi("preview", "--expect-no-changes")


def grow_through_scale_yml(stack: Stack, first: dict[str, str]) -> None:
    """3 → 4: one node more, everything else kept, Ansible reruns (node-1 learns node-4). Only
    nodes came, so `up` runs scale.yml (issue 18, item 2): the fixed quorums are not
    converged, nothing restarts."""
    runs = stack.runs_of_site()
    stack.write_settings(count=4)
    zookeeper_since = stack.exec(1, "systemctl", "show", "-P", "ActiveEnterTimestampMonotonic",
                                 "zookeeper")
    scaled = stack.smack("up")
    grown = stack.containers()
    assert set(grown) == {*first, stack.node(4)}
    assert all(grown[name] == first[name] for name in first)
    assert stack.runs_of_site() == runs and stack.runs_of("scale.yml") == 1
    assert "scale.yml: 4 host(s)" in scaled.stdout + scaled.stderr
    # converge.yml's plays end with the service's name.
    plays = {line.rsplit(" - ", 1)[-1] for line in
             (state_dir(stack.name) / "scale.log").read_text().splitlines() if " PLAY " in line}
    assert "mesos_agent" in plays and not plays & {"zookeeper", "mesos_master"}, plays
    assert stack.exec(1, "systemctl", "show", "-P", "ActiveEnterTimestampMonotonic",
                      "zookeeper") == zookeeper_since
    assert "node-4" in stack.exec(1, "cat", "/etc/hosts")
    assert "vm.max_map_count" in stack.exec(4, "cat", "/etc/sysctl.d/60-smack.conf")  # common
    assert len(agents(stack)) == 4  # the new node joined as a Mesos agent
    listed = stack.outputs()["endpoints"]["mesos"]["agents"]  # type: ignore[index]
    assert len(listed.split(",")) == 4


def shrink_from_the_state(stack: Stack, first: dict[str, str], addresses: list[str]) -> None:
    """4 → 3 with the local inventory directory gone (another machine, a lost checkout): the
    engine still knows node-4 from the inventory it kept, so node-4's agent is drained first
    (remove-node.yml: Mesos maintenance, machine down, agent stopped, machine up again), then
    exactly node-4 goes; the rest is untouched."""
    shutil.rmtree(inventory_dir(stack.name))
    stack.write_settings(count=3)
    removed = footprint(stack.podman, [stack.node(4)])
    shrunk = stack.pulumi("up", "--yes")
    said = shrunk.stdout + shrunk.stderr
    assert "node-4 leave the cluster before deletion" in said
    assert "remove-node.yml: 4 host(s)" in said
    assert "scale.yml: 3 host(s)" in said  # only a node went: scale.yml, not site.yml
    assert stack.containers() == first
    assert sorted(agents(stack)) == addresses
    assert maintenance_schedule(stack) == {}  # drained, then released
    assert "node-4" not in stack.exec(1, "cat", "/etc/hosts")
    assert [x for x in leftovers(stack.podman, stack.name, removed)
            if "node-4" in x or any(i in x for i in removed.container_ids)] == []


def drift_is_seen_and_repaired(stack: Stack) -> None:
    """issue 16, item 2: a file edited by hand and a stopped unit are drift the engine cannot
    see. `smack preview` names host, task and file (site.yml in check mode, changing nothing);
    `smack up --converge` runs site.yml although no input changed and puts both back."""
    conf = "/etc/security/limits.d/60-smack.conf"
    original = stack.exec(2, "cat", conf)
    stack.exec(2, "sh", "-c", f"echo '# edited by hand' >> {conf}")
    stack.exec(3, "systemctl", "stop", "mesos-agent")
    runs = stack.runs_of_site()
    seen = stack.smack("preview").stdout
    rows = [" ".join(line.replace("│", " ").split()) for line in seen.splitlines()]
    assert any(r.startswith("node-2 ") and conf in r for r in rows), seen
    assert any(r.startswith("node-3 Enable and start the unit - mesos-agent") for r in rows), seen
    assert not any(r.startswith("node-1 ") for r in rows), seen  # nothing drifted there
    assert "# edited by hand" in stack.exec(2, "cat", conf)  # the check changed nothing
    assert stack.runs_of_site() == runs

    stack.smack("up", "--converge")
    assert stack.runs_of_site() == runs + 1
    assert stack.exec(2, "cat", conf) == original
    assert stack.exec(3, "systemctl", "is-active", "mesos-agent").strip() == "active"
    assert len(agents(stack)) == 3

    # The engine's own refresh runs the same check (the site run's read) and keeps what it
    # found, so the next plain `pulumi up` converges again; a refresh alone only looks.
    stack.exec(3, "systemctl", "stop", "mesos-agent")
    # --skip-preview: the CLI's preview of a refresh would read (so check) everything once more.
    refreshed = stack.pulumi("refresh", "--yes", "--skip-preview")
    said = refreshed.stdout + refreshed.stderr
    assert "drift: node-3: Enable and start the unit - mesos-agent" in said, said[-3000:]
    assert "drift: node-1" not in said and "drift: node-2" not in said, said[-3000:]
    assert stack.exec(3, "sh", "-c", "systemctl is-active mesos-agent || true").strip() \
        == "inactive"
    assert stack.runs_of_site() == runs + 1
    stack.pulumi("up", "--yes")
    assert stack.runs_of_site() == runs + 2
    assert stack.exec(3, "systemctl", "is-active", "mesos-agent").strip() == "active"
    # Nothing drifted now: `up --refresh` checks and runs nothing.
    stack.pulumi("up", "--refresh", "--yes", "--skip-preview")
    assert stack.runs_of_site() == runs + 2


def a_replacing_change_is_announced(stack: Stack) -> None:
    """issue 16, item 5: `smack preview` says which nodes a change replaces, and why: one
    now, the others in later runs."""
    stack.write_settings(count=3, nodes=[{"name": "node", "count": 3, "cpus": 1}])
    said = " ".join(stack.smack("preview", "--engine-only").stdout.split())
    found = re.search(r"warning: this change REPLACES node\(s\) (node-\d) \(because of: cpus\), "
                      r"then (node-\d), (node-\d) in later runs, one per run: each comes back "
                      r"from the base image with its data volumes", said)
    assert found and sorted(found.groups()) == ["node-1", "node-2", "node-3"], said
    stack.write_settings(count=3)
    said = " ".join(stack.smack("preview", "--engine-only").stdout.split())
    assert "REPLACES" not in said, said


PROBE = "/var/lib/zookeeper/smack-e2e-volume-probe"
MARKER = "/var/lib/smack/converged"


def replaced_since(stack: Stack, before: dict[str, str]) -> list[str]:
    now = stack.containers()
    return sorted(name for name in now if now[name] != before.get(name))


def a_replacing_change_rolls_one_node_at_a_time(stack: Stack, addresses: list[str]) -> None:
    """issue 16, item 5: a change that replaces every node replaces one per run, each after
    site.yml converged the one before behind its health gates, and the data directories come
    back from the nodes' volumes."""
    for n in (1, 2, 3):
        stack.exec(n, "sh", "-c", f"echo node-{n} > {PROBE}")
    before = stack.containers()
    runs = stack.runs_of_site()
    stack.write_settings(count=3, nodes=[{"name": "node", "count": 3, "cpus": 1}])

    # A plain `pulumi up` replaces one node and names the two that wait.
    stack.pulumi("up", "--yes")
    [first] = replaced_since(stack, before)
    waiting = stack.outputs()["replacements_waiting"]
    assert sorted([first, *(stack.node(int(w.rsplit("-", 1)[1])) for w in waiting)]) == sorted(  # type: ignore[union-attr]
        before), waiting
    assert stack.runs_of_site() == runs + 1
    # `smack up` runs until none waits: one more run per node.
    said = " ".join(stack.smack("up").stdout.split())
    assert "wait for their turn to be replaced: running up again" in said, said
    assert replaced_since(stack, before) == sorted(before)
    assert stack.outputs()["replacements_waiting"] == []
    assert stack.runs_of_site() == runs + 3
    # Each node was replaced only once the one replaced before it had completed site.yml.
    created = {name: stack.podman.inspect("container", name)["Created"]  # type: ignore[index]
               for name in before}
    order = sorted(before, key=lambda name: _epoch(created[name]))
    assert order[0] == first
    for earlier, later in itertools.pairwise(order):
        converged_at = int(stack.podman.run("exec", earlier, "stat", "-c", "%Y", MARKER).stdout)
        started = stack.podman.inspect("container", later)["State"]["StartedAt"]  # type: ignore[index]
        assert converged_at <= _epoch(started), (earlier, later, converged_at, started)
    # Each node came back with its own data, and the cluster is whole.
    for n in (1, 2, 3):
        assert stack.exec(n, "cat", PROBE).strip() == f"node-{n}"
        assert stack.exec(n, "systemctl", "is-active", "zookeeper").strip() == "active"
    assert sorted(agents(stack)) == addresses
    stack.pulumi("preview", "--expect-no-changes")


def _epoch(stamp: str) -> int:
    """An inspect time stamp ("2026-12-05T14:20:01.123456789Z", UTC) in epoch seconds."""
    found = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)", stamp)
    assert found, stamp
    return int(datetime.fromisoformat(f"{found[1]}T{found[2]}+00:00").timestamp())


def test_up_rerun_scale_and_destroy_through_the_real_engine(stack: Stack) -> None:
    # First `pulumi up`: nodes, inventory and one Ansible run.
    stack.pulumi("stack", "init")
    stack.pulumi("up", "--yes")
    first = stack.containers()
    assert sorted(first) == [stack.node(1), stack.node(2), stack.node(3)]
    assert "vm.max_map_count" in stack.exec(2, "cat", "/etc/sysctl.d/60-smack.conf")  # common
    outputs = stack.outputs()
    assert sorted(outputs["nodes"]) == ["node-1", "node-2", "node-3"]  # type: ignore[arg-type]
    assert set(outputs["ansible"]) == {"node-1", "node-2", "node-3"}  # type: ignore[arg-type]
    ends = outputs["endpoints"]
    assert len(ends["zookeeper"]["connect"].split(",")) == 3  # type: ignore[index]
    assert len(ends["mesos"]["agents"].split(",")) == 3  # type: ignore[index]
    addresses = sorted(node["address"] for node in outputs["nodes"].values())  # type: ignore[attr-defined]
    assert sorted(agents(stack)) == addresses
    # The stack's CA: its certificate is an output in clear, the same one every node trusts.
    assert stack.exec(2, "cat", "/etc/smack/tls/ca.crt") == str(outputs["ca_certificate"]) \
        and str(outputs["ca_certificate"]).startswith("-----BEGIN CERTIFICATE-----")
    hosts = yaml.safe_load((inventory_dir(stack.name) / "hosts.yml").read_text())
    assert sorted(hosts["all"]["hosts"]) == ["node-1", "node-2", "node-3"]
    assert stack.runs_of_site() == 1

    # `smack up` with nothing changed: nothing changes and Ansible does not run again.
    rerun = stack.smack("up")
    # stack, cluster, key, network, 3 nodes and their disks, inventory, credentials, the
    # Ansible run
    assert "13 unchanged" in rerun.stdout
    # The one line that says what the local stack really runs (issue 13).
    said = " ".join(rerun.stdout.split())
    assert f"Mesos on stack {stack.name} are smack's TEST STAND-INS (tests/standins)" in said
    assert stack.containers() == first
    assert stack.runs_of_site() == 1
    stack.pulumi("preview", "--expect-no-changes")
    assert secrets_in_clear_in_the_state(stack) == 0

    lose_the_local_state_and_come_back(stack, first)
    drift_is_seen_and_repaired(stack)
    a_replacing_change_is_announced(stack)

    grow_through_scale_yml(stack, first)
    shrink_from_the_state(stack, first, addresses)
    a_replacing_change_rolls_one_node_at_a_time(stack, addresses)

    # `smack destroy`: every node and its volumes, the network, the key and the inventory
    # are gone.
    everything = footprint(stack.podman, sorted(first))
    stack.smack("destroy", "--yes")
    assert leftovers(stack.podman, stack.name, everything) == []
    assert not state_dir(stack.name).exists()
    assert not inventory_dir(stack.name).exists()
