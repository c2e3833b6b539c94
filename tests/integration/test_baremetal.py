"""The baremetal target through the real Pulumi engine, on three "existing hosts".

The hosts are podman nodes this test makes first with the local target's providers (a stack of
their own), so to the baremetal stack they are just SSH hosts. Then, with plain `pulumi`:

1. preflight failures on three hosts at once, one `<host>: <problem>` line each, stopping `up`
   before Ansible runs: a port taken by another program, more memory required than the host
   has, a key the host does not know;
2. a deploy of ZooKeeper (the other services off: the shared integration cluster proves them,
   and the engine's part does not change with them);
   the host keys preflight read are pinned in the inventory's known_hosts;
3. a changed setting reruns preflight, which accepts the ports smack's own services hold, and a
   failing rerun leaves the cluster alone (no Ansible run);
4. `destroy` with reset_on_destroy: true runs playbooks/reset.yml, which removes the units,
   releases and service users from the hosts.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import parse_settings
from infra.nodes.engine import ContainerEngine
from infra.nodes.local import local_specs
from infra.nodes.local_engine import open_engine
from infra.nodes.model import Node
from infra.nodes.sshkey import ensure_key_pair
from infra.paths import PROJECT_DIR, inventory_dir, state_dir
from infra.reset import reset_run_name
from tests.integration.conftest import SUBNET, new_cluster
from tests.support.direct import DirectLocalCluster
from tests.support.engine_stack import BIN, Stack
from tests.support.settings import WITHOUT_MESOS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SERVICES: dict[str, Any] = {
    "zookeeper": {"heap_mb": 128}, "kafka": {"enabled": False},
    "cassandra": {"enabled": False}, "spark": {"enabled": False}, **WITHOUT_MESOS,
}
HUGE_MEMORY_MB = 16_000_000


@pytest.fixture(scope="module")
def hosts() -> Iterator[tuple[DirectLocalCluster, list[Node]]]:
    """Three running nodes with sshd, a `smack` user with passwordless sudo and a key pair."""
    settings = parse_settings(f"bmh{uuid.uuid4().hex[:6]}", {
        "smack:target": "local",
        "smack:nodes": [{"name": "host", "count": 3}],
        "smack:local": {"subnet": SUBNET, "data_volumes": False},
        "smack:services": WITHOUT_MESOS,
    })
    cluster = new_cluster(settings)
    try:
        yield cluster, cluster.up()
    finally:
        cluster.down()


@pytest.fixture
def stack() -> Iterator[Stack]:
    s = Stack(f"bm{uuid.uuid4().hex[:6]}")
    try:
        yield s
    finally:
        s.destroy_and_remove()


def write_stack(stack: Stack, nodes: list[Node], key_file: str,
                per_host: dict[int, dict[str, Any]] | None = None, **baremetal: Any) -> None:
    """A baremetal stack over `nodes`, keeping what `pulumi stack init` added to the file.

    `per_host` adds settings to single hosts (1-based); `baremetal` to smack:baremetal.
    """
    doc = yaml.safe_load(stack.file.read_text()) if stack.file.exists() else {}
    doc = doc or {}
    # Hosts are named as the nodes call themselves: a container cannot change its hostname.
    doc["config"] = {
        "smack:target": "baremetal",
        "smack:baremetal": {
            "hosts": [{"name": f"host-{i}", "address": n.address, "user": "smack",
                       "key_file": key_file, "become": True, **(per_host or {}).get(i, {})}
                      for i, n in enumerate(nodes, start=1)],
            # The nodes share this machine's disk; the default 10 GiB is not the point here.
            "min_disk_gb": 1,
            **baremetal,
        },
        "smack:services": SERVICES,
        # The nodes are containers: their open-file limit cannot exceed this machine's.
        "smack:common": {"nofile_limit": 20000},
    }
    stack.file.write_text(yaml.safe_dump(doc, sort_keys=False))


def failing_up(stack: Stack) -> str:
    proc = stack.pulumi("up", "--yes", check=False)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stdout + proc.stderr


def failing_smack_up(stack: Stack) -> tuple[str, str]:
    """`smack up` as a user runs it: (everything it printed, its error message)."""
    proc = subprocess.run([str(BIN / "smack"), "up", "--stack", stack.name], cwd=PROJECT_DIR,
                          capture_output=True, text=True, check=False, timeout=1200)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stdout + proc.stderr, proc.stderr


def problem_lines(output: str) -> list[str]:
    """The `- <host>: <problem>` lines under the first "preflight found" line."""
    lines = [line.strip() for line in output.splitlines()]
    start = next(i for i, line in enumerate(lines) if "preflight found" in line) + 1
    found = []
    for line in lines[start:]:
        if not line.startswith("- host-"):
            break
        found.append(line[2:])
    return found


def sh(cluster: DirectLocalCluster, n: int, script: str, check: bool = True) -> str:
    container = f"smack-{cluster.settings.stack}-host-{n}"
    proc = cluster_engine(cluster).run("exec", container, "sh", "-c", script, check=check)
    return str(proc.stdout)


def cluster_engine(cluster: DirectLocalCluster) -> ContainerEngine:
    return open_engine(local_specs(cluster.settings, "").network["engine"])


def assert_untouched(stack: Stack, cluster: DirectLocalCluster) -> None:
    """No Ansible run happened: no run log, nothing installed on any host."""
    assert stack.runs_of_site() == 0
    for n in (1, 2, 3):
        assert sh(cluster, n, "test -e /opt/smack && echo present || echo absent").strip() \
            == "absent"


def preflight_failures(stack: Stack, cluster: DirectLocalCluster, nodes: list[Node],
                       tmp_path: Path) -> None:
    """One `up`, three hosts, three different problems: each one line, nothing installed."""
    # host-1: a program of someone else's holds ZooKeeper's client port.
    sh(cluster, 1, "nohup python3 -m http.server 2181 >/dev/null 2>&1 & echo $! > /tmp/web.pid")
    deadline = time.monotonic() + 20
    while ":2181 " not in sh(cluster, 1, "ss -Hltn") and time.monotonic() < deadline:
        time.sleep(0.2)
    # host-2: more memory declared as required than the host has.
    # host-3: a key the host does not know.
    wrong = tmp_path / "wrong" / "id_ed25519"
    ensure_key_pair(wrong, "not-authorized")
    write_stack(stack, nodes, nodes[0].ssh_key_file, per_host={
        2: {"min_memory_mb": HUGE_MEMORY_MB}, 3: {"key_file": str(wrong)}})
    out, error = failing_smack_up(stack)
    lines = problem_lines(error)
    assert "preflight found 3 problem(s) on 3 host(s); nothing was installed" in error, out[-3000:]
    assert "Traceback" not in out  # the CLI shows the message, not the provider's stack
    assert len(lines) == 3, lines
    assert lines[0].startswith("host-1: port 2181 (ZooKeeper client port (zookeeper_client_port)) "
                               "is already in use by python3 (pid ")
    assert re.fullmatch(rf"host-2: \d+ MiB of memory, less than the {HUGE_MEMORY_MB} MiB "
                        rf"required \(smack:baremetal.min_memory_mb, or min_memory_mb of "
                        rf"smack:baremetal.hosts\[1\]\)", lines[1]), lines[1]
    assert lines[2].startswith(f"host-3: SSH login as smack@{nodes[2].address}:22 with key "
                               f"{wrong} was refused (Authentication failed.)")
    assert_untouched(stack, cluster)
    sh(cluster, 1, "kill $(cat /tmp/web.pid); rm -f /tmp/web.pid")


def deploy(stack: Stack, cluster: DirectLocalCluster, nodes: list[Node]) -> None:
    write_stack(stack, nodes, nodes[0].ssh_key_file, reset_on_destroy=True)
    stack.pulumi("up", "--yes")
    assert stack.runs_of_site() == 1
    outputs: dict[str, Any] = stack.outputs()
    assert sorted(outputs["nodes"]) == ["host-1", "host-2", "host-3"]
    assert len(outputs["endpoints"]["zookeeper"]["connect"].split(",")) == 3
    modes = sorted(sh(cluster, n, "zookeeper-4lw srvr | grep Mode").split()[-1] for n in (1, 2, 3))
    assert modes == ["follower", "follower", "leader"]
    known = (inventory_dir(stack.name) / "known_hosts").read_text()
    for node in nodes:
        assert f"{node.address} {node.host_key}" in known  # read by preflight, pinned
    hostvars = yaml.safe_load((inventory_dir(stack.name) / "hosts.yml").read_text())
    # Known host keys: no trust-on-first-use; only the stack's key is offered.
    assert hostvars["all"]["hosts"]["host-1"]["ansible_ssh_extra_args"] == "-o IdentitiesOnly=yes"


def rerun(stack: Stack, cluster: DirectLocalCluster, nodes: list[Node]) -> None:
    key = nodes[0].ssh_key_file
    # A changed setting reruns preflight; ports held by smack's own services are fine, and
    # Ansible does not run again (the inventory did not change).
    write_stack(stack, nodes, key, reset_on_destroy=True, min_disk_gb=2)
    again = stack.pulumi("up", "--yes")
    assert "preflight" in again.stdout and "updated" in again.stdout
    assert stack.runs_of_site() == 1
    # A failing rerun stops before Ansible and leaves the running cluster alone.
    write_stack(stack, nodes, key, reset_on_destroy=True, min_disk_gb=2,
                min_memory_mb=HUGE_MEMORY_MB)
    assert len(problem_lines(failing_up(stack))) == 3
    assert stack.runs_of_site() == 1
    assert sh(cluster, 1, "systemctl is-active zookeeper").split() == ["active"]


def destroy_resets(stack: Stack, cluster: DirectLocalCluster) -> None:
    destroyed = stack.pulumi("destroy", "--yes")
    assert "reset.yml: 3 host(s)" in destroyed.stdout + destroyed.stderr
    for n in (1, 2, 3):
        left = sh(cluster, n, "ls -d /opt/smack /etc/systemd/system/zookeeper.service "
                              "/var/lib/zookeeper /usr/local/bin/zookeeper-4lw 2>/dev/null; "
                              "getent passwd zookeeper; true")
        assert left.strip() == "", f"host-{n} still holds: {left}"
        assert sh(cluster, n, "systemctl is-active zookeeper; true").split() == ["inactive"]
        assert sh(cluster, n, "id -un smack").strip() == "smack"  # the login user stays
    assert not state_dir(reset_run_name(stack.name)).exists()
    assert not inventory_dir(stack.name).exists()
    # reset.yml again, by hand (the hosts' own inventory): nothing left to change.
    again = cluster.run("reset.yml")
    assert again.changed == 0, again.changed_tasks


def test_preflight_deploy_and_reset_through_the_real_engine(
        hosts: tuple[DirectLocalCluster, list[Node]], stack: Stack, tmp_path: Path) -> None:
    cluster, nodes = hosts
    stack.pulumi("stack", "init")
    preflight_failures(stack, cluster, nodes, tmp_path)
    deploy(stack, cluster, nodes)
    rerun(stack, cluster, nodes)
    destroy_resets(stack, cluster)
