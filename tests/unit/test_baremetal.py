"""The baremetal target without hosts: the program under Pulumi mocks, the preflight checks fed
with fake command outputs, the providers' diff/update/delete, properties over many host lists,
the example stack file and the hand-written sample inventory.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pulumi.runtime import MockResourceArgs
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra import program, reset
from infra.config import (
    BaremetalHost,
    BaremetalSettings,
    Settings,
    load_stack_file,
    parse_settings,
)
from infra.errors import SettingsError
from infra.nodes import baremetal
from infra.nodes.baremetal import (
    HostPreflightProvider,
    host_nodes,
    host_specs,
    node_records,
    service_ports,
)
from infra.nodes.preflight import (
    HostReport,
    HostSpec,
    PortNeed,
    PreflightError,
    active_units,
    check_host,
    disk_free,
    listening,
    memory_mb,
    os_problem,
    parse_os_release,
    run_preflight,
    ssh_preflight,
)
from infra.paths import PROJECT_DIR
from infra.reset import HostResetProvider
from tests.support.settings import WITHOUT_MESOS, parse_only
from tests.unit.pulumi_mocks import Recorder, run_program

pytestmark = pytest.mark.unit

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBaremetalUnitTestHostKeyOnly"
HOSTS: list[dict[str, Any]] = [
    {"name": "node-1", "address": "192.0.2.11", "user": "admin", "key_file": "/keys/id"},
    {"name": "node-2", "address": "192.0.2.12", "user": "admin", "key_file": "/keys/id",
     "port": 2222},
    {"name": "node-3", "address": "192.0.2.13", "user": "root", "become": False,
     "labels": {"rack": "r3"}},
]


def raw(hosts: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"smack:target": "baremetal",
                              "smack:baremetal": {"hosts": hosts or HOSTS}}
    config.update({f"smack:{k}": v for k, v in extra.items()})
    return parse_only(config)


def settings_of(hosts: list[dict[str, Any]] | None = None, **extra: Any) -> Settings:
    return parse_settings("bm", raw(hosts, **extra))


# ------------------------------------------------------------------ program under mocks


class BaremetalRecorder(Recorder):
    """Answers the preflight like a provider that read each host's key."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid, outs = super().new_resource(args)
        if args.name == "preflight":
            outs["host_keys"] = {h["name"]: f"{KEY}{h['name'][-1]}" for h in args.inputs["hosts"]}
        return rid, outs


def run_cluster(config: dict[str, Any]) -> BaremetalRecorder:
    """The program's node step (BaremetalCluster and the reset beside it) and its converge
    step, under mocks."""
    recorder = BaremetalRecorder()
    pulumi.runtime.set_mocks(recorder, project="smack", stack="bm", preview=False)
    set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})

    def main() -> None:
        settings = program.load_settings()
        program.converge(settings, program.create_nodes(settings))

    _sync_await(run_pulumi_func(main))
    return recorder


def test_cluster_registers_preflight_reset_and_hands_hosts_to_the_inventory() -> None:
    rec = run_cluster(raw())
    assert rec.named("baremetal").typ == "smack:baremetal:Cluster"
    assert {"preflight", "reset", "inventory", "site"} <= set(rec.names())
    hosts = rec.named("preflight").inputs["hosts"]
    assert [h["name"] for h in hosts] == ["node-1", "node-2", "node-3"]
    assert hosts[1]["port"] == 2222
    assert hosts[2]["become"] is False
    assert hosts[0]["min_memory_mb"] == 2048 and hosts[0]["min_disk_gb"] == 10
    assert {p["port"] for p in hosts[0]["ports"]} >= {2181, 9092, 9042, 5050, 8080}
    inventory = yaml.safe_load(rec.named("inventory").inputs["files"]["hosts.yml"])["all"]
    node2 = inventory["hosts"]["node-2"]
    assert (node2["ansible_host"], node2["ansible_port"], node2["ansible_user"]) == (
        "192.0.2.12", 2222, "admin")
    assert node2["ansible_ssh_private_key_file"] == "/keys/id"
    assert node2["smack_node_id"] == "node-2"
    assert "ansible_ssh_private_key_file" not in inventory["hosts"]["node-3"]  # the agent
    assert inventory["hosts"]["node-3"]["ansible_become"] is False
    assert inventory["hosts"]["node-3"]["smack_node_labels"] == {"rack": "r3"}
    known = rec.named("inventory").inputs["files"]["known_hosts"]
    assert f"[192.0.2.12]:2222 {KEY}2" in known
    assert f"192.0.2.11 {KEY}1" in known
    # Host keys are known, so the inventory never falls back to trust-on-first-use.
    assert all("accept-new" not in str(h.get("ansible_ssh_extra_args", ""))
               for h in inventory["hosts"].values())
    reset = rec.named("reset").inputs
    assert reset["enabled"] is False
    assert "node-1:" in reset["files"]["hosts.yml"]


def test_reset_carries_its_own_inventory_when_enabled() -> None:
    rec = run_cluster(raw(baremetal={"hosts": HOSTS, "reset_on_destroy": True}))
    reset = rec.named("reset").inputs
    assert reset["enabled"] is True
    assert reset["dir"].endswith("bm.reset/inventory")
    hosts = yaml.safe_load(reset["files"]["hosts.yml"])["all"]["hosts"]
    assert sorted(hosts) == ["node-1", "node-2", "node-3"]
    assert reset["dir"] in reset["files"]["group_vars/all.yml"]  # its own known_hosts


def test_separate_layout_places_services_per_host() -> None:
    hosts = [
        {"name": "m-1", "address": "192.0.2.1", "group": "master",
         "services": ["zookeeper", "mesos_master", "marathon"]},
        {"name": "w-1", "address": "192.0.2.2", "group": "worker",
         "services": ["mesos_agent", "kafka", "cassandra", "spark"]},
    ]
    rec = run_cluster(raw(hosts, layout="separate", quorum_size=1))
    doc = yaml.safe_load(rec.named("inventory").inputs["files"]["hosts.yml"])["all"]
    assert list(doc["children"]["zookeeper"]["hosts"]) == ["m-1"]
    assert list(doc["children"]["kafka"]["hosts"]) == ["w-1"]
    ports = {h["name"]: {p["port"] for p in h["ports"]}
             for h in rec.named("preflight").inputs["hosts"]}
    # 2182: ZooKeeper's TLS port; the metrics exporters (node 9100, JMX 7071-7075, bridges
    # 9105-9107) where their daemons run, Prometheus (9090) on the first host.
    assert ports["m-1"] == {2181, 2182, 2888, 3888, 5050, 8080, 9100, 7071, 9105, 9107, 9090}
    assert ports["w-1"] == {5051, 9092, 9093, 9094, 7000, 9042, 7199, 8181, 7077, 8180, 18080,
                            9100, 7072, 7073, 7074, 7075, 9106}


def test_program_runs_the_baremetal_target() -> None:
    """The whole program (infra/program.py create_nodes) on a baremetal stack."""
    rec = run_program(raw(), recorder=BaremetalRecorder())
    assert rec.named("baremetal").typ == "smack:baremetal:Cluster"
    assert {"preflight", "reset", "inventory", "credentials", "site"} <= set(rec.names())


def test_pinned_host_key_wins_over_the_one_read() -> None:
    hosts = [{**HOSTS[0], "host_key": KEY}]
    settings = settings_of(hosts, quorum_size=1)
    nodes = host_nodes(settings)
    assert node_records(nodes, {"node-1": "ssh-ed25519 AAAAother"})[0]["host_key"] == KEY
    spec = host_specs(settings, nodes)[0]
    assert spec.pinned and spec.host_key == KEY


def test_ports_follow_role_vars_and_spark_master_choice() -> None:
    settings = settings_of(services={
        "zookeeper": {"vars": {"zookeeper_client_port": 12181}},
        "spark": {"vars": {"spark_master_host": "node-2"}},
        **WITHOUT_MESOS})
    ports = {name: {p.port: p for p in needs}
             for name, needs in service_ports(settings, host_nodes(settings)).items()}
    assert 12181 in ports["node-1"] and 2181 not in ports["node-1"]
    assert 7077 in ports["node-2"] and 7077 not in ports["node-1"]
    assert ports["node-2"][7077].units == ("spark-master", "spark-mesos-dispatcher")
    assert 5050 not in ports["node-1"]  # Mesos disabled
    assert "zookeeper_client_port" in ports["node-1"][12181].what


def test_relative_key_file_is_relative_to_the_project() -> None:
    settings = settings_of([{**HOSTS[0], "key_file": "keys/id"}], quorum_size=1)
    assert host_nodes(settings)[0].ssh_key_file == str(PROJECT_DIR / "keys" / "id")


@pytest.mark.parametrize(("hosts", "message"), [
    ([HOSTS[0], {**HOSTS[1], "name": "node-1"}], "host names must be unique; repeated: node-1"),
    ([HOSTS[0], {**HOSTS[0], "name": "other"}],
     "two hosts name the same address and port (192.0.2.11:22)"),
    ([{**HOSTS[0], "key_file": "/keys/id.pub"}], "names a public key"),
    ([{**HOSTS[0], "host_key": "AAAA"}], "host_key"),
    ([{**HOSTS[0], "min_memory_mb": 10}], "min_memory_mb"),
])
def test_host_settings_are_checked(hosts: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_of(hosts, quorum_size=1)
    assert message in str(caught.value)


# ------------------------------------------------------------------------ preflight checks


OS_RELEASE = {
    "debian12": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
    "debian11": 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n',
    "ubuntu2004": 'PRETTY_NAME="Ubuntu 20.04.6 LTS"\nID=ubuntu\nVERSION_ID="20.04"\n',
    "ubuntu2204": 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nID=ubuntu\nVERSION_ID="22.04"\n',
    "ubuntu2404": 'PRETTY_NAME="Ubuntu 24.04 LTS"\nID=ubuntu\nVERSION_ID="24.04"\n',
    "rocky94": 'NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.4"\nPRETTY_NAME="Rocky Linux 9.4"\n',
    "rocky8": 'ID="rocky"\nVERSION_ID="8.9"\nPRETTY_NAME="Rocky Linux 8.9 (Green Obsidian)"\n',
    "alma93": 'ID="almalinux"\nVERSION_ID="9.3"\nPRETTY_NAME="AlmaLinux 9.3"\n',
    "centos7": 'ID="centos"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n',
}
SS_FREE = "LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=80,fd=3))\n"
DF = ("Filesystem 1024-blocks Used Available Capacity Mounted on\n"
      "/dev/vda1 50000000 10000000 40000000 20% /\n")


@dataclass
class FakeShell:
    """A host that answers the preflight's commands from a table (prefix match)."""

    answers: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)

    def run(self, command: str) -> tuple[int, str, str]:
        self.commands.append(command)
        for prefix, answer in self.answers.items():
            if command.startswith(prefix):
                return answer
        raise AssertionError(f"unexpected command {command}")


def healthy(**override: tuple[int, str, str]) -> FakeShell:
    answers = {
        "sudo -n true": (0, "", ""),
        "id -u": (0, "0\n", ""),
        "cat /etc/os-release": (0, OS_RELEASE["debian12"], ""),
        "uname -m": (0, "x86_64\n", ""),
        "cat /proc/meminfo": (0, "MemTotal:        8152000 kB\nMemFree: 100 kB\n", ""),
        "cat /sys/fs/cgroup": (0, "max\n", ""),
        "df -Pk": (0, DF, ""),
        "systemctl is-active": (3, "inactive\ninactive\n", ""),
        "sudo -n ss": (0, SS_FREE, ""),
        "ss -Hltn": (0, SS_FREE, ""),
    }
    return FakeShell({**answers, **override})


ZK_PORTS = (PortNeed(2181, "ZooKeeper client port (zookeeper_client_port)", ("zookeeper",)),
            PortNeed(9092, "Kafka broker port (kafka_port)", ("kafka",)))


def spec(**kw: Any) -> HostSpec:
    return HostSpec(**{"name": "node-1", "index": 0, "address": "192.0.2.11",
                       "user": "admin", "ports": ZK_PORTS, **kw})


def problems(shell: FakeShell, **kw: Any) -> list[str]:
    return check_host(spec(**kw), shell, HostReport("node-1")).problems


def test_a_healthy_host_has_no_problems_and_reports_facts() -> None:
    shell = healthy()
    report = check_host(spec(), shell, HostReport("node-1"))
    assert report.problems == []
    assert report.facts == {"os": "Debian GNU/Linux 12 (bookworm)", "arch": "x86_64",
                            "memory_mb": "7960"}
    assert "sudo -n ss -Hltnp" in shell.commands


@pytest.mark.parametrize(("release", "ok"), [
    ("debian12", True), ("debian11", False), ("ubuntu2004", False), ("ubuntu2204", True),
    ("ubuntu2404", True), ("rocky94", True), ("rocky8", False), ("alma93", True),
    ("centos7", False),
])
def test_os_family_and_version(release: str, ok: bool) -> None:
    found = problems(healthy(**{"cat /etc/os-release": (0, OS_RELEASE[release], "")}))
    if ok:
        assert found == []
    else:
        name = parse_os_release(OS_RELEASE[release])["PRETTY_NAME"]
        assert found == [f"node-1: OS {name} is not supported; allowed: Debian 12, Ubuntu 22.04 "
                         f"or newer, Rocky Linux 9 or AlmaLinux 9"]


def test_sudo_needing_a_password_is_one_clear_line() -> None:
    found = problems(healthy(**{"sudo -n true": (1, "", "sudo: a password is required\n")}))
    assert found == ["node-1: sudo without a password does not work for admin (sudo -n true: "
                     "sudo: a password is required); allow it in /etc/sudoers.d, or log in as "
                     "root with become: false (smack:baremetal.hosts[0])"]


def test_become_false_needs_root() -> None:
    assert problems(healthy(), become=False, user="root") == []
    found = problems(healthy(**{"id -u": (0, "1000\n", "")}), become=False)
    assert found[0].startswith("node-1: become is false, but admin is not root")


def test_architecture_memory_and_disk() -> None:
    shell = healthy(**{
        "uname -m": (0, "armv7l\n", ""),
        "cat /proc/meminfo": (0, "MemTotal: 1048576 kB\n", ""),
        "df -Pk": (0, DF + "/dev/vdb 50000000 48000000 2097152 96% /var/lib\n", ""),
    })
    assert problems(shell) == [
        "node-1: architecture armv7l is not supported; allowed: x86_64 or aarch64",
        "node-1: 1024 MiB of memory, less than the 2048 MiB required "
        "(smack:baremetal.min_memory_mb, or min_memory_mb of smack:baremetal.hosts[0])",
        "node-1: 2.0 GiB free on /var/lib, less than the 10 GiB required "
        "(smack:baremetal.min_disk_gb, or min_disk_gb of smack:baremetal.hosts[0])",
    ]


def test_a_cgroup_memory_limit_counts() -> None:
    shell = healthy(**{"cat /sys/fs/cgroup": (0, str(1024 * 1024 * 1024), "")})
    assert "1024 MiB of memory" in problems(shell)[0]
    assert problems(shell, min_memory_mb=1024) == []


def test_a_taken_port_names_the_program_and_the_variable() -> None:
    taken = SS_FREE + 'LISTEN 0 5 0.0.0.0:2181 0.0.0.0:* users:(("python3",pid=4242,fd=3))\n'
    assert problems(healthy(**{"sudo -n ss": (0, taken, "")})) == [
        "node-1: port 2181 (ZooKeeper client port (zookeeper_client_port)) is already in use "
        "by python3 (pid 4242); stop that program or choose another port in the service's vars"]


def test_a_port_held_by_smacks_own_running_service_is_fine() -> None:
    taken = SS_FREE + 'LISTEN 0 50 *:2181 *:* users:(("java",pid=77,fd=9))\n'
    shell = healthy(**{"sudo -n ss": (0, taken, ""),
                       "systemctl is-active": (3, "inactive\nactive\n", "")})
    assert problems(shell) == []  # units sorted: kafka inactive, zookeeper active


def test_without_sudo_ports_are_still_checked_without_process_names() -> None:
    taken = SS_FREE + "LISTEN 0 5 [::]:9092 [::]:*\n"
    found = problems(healthy(**{"ss -Hltn": (0, taken, "")}), become=False, user="root")
    assert found == ["node-1: port 9092 (Kafka broker port (kafka_port)) is already in use; "
                     "stop that program or choose another port in the service's vars"]


def test_missing_ss_is_reported() -> None:
    found = problems(healthy(**{"sudo -n ss": (127, "", "sudo: ss: command not found\n")}))
    assert found == ["node-1: could not list the listening ports (ss -Hltn: sudo: ss: command "
                     "not found); install iproute2"]


def test_preflight_error_lists_one_line_per_problem_and_host() -> None:
    def fake(s: HostSpec) -> HostReport:
        report = HostReport(s.name, host_key=KEY)
        if s.name != "b":
            report.add("first problem")
            report.add("second problem")
        return report

    specs = [spec(name=n) for n in ("a", "b", "c")]
    with pytest.raises(PreflightError) as caught:
        run_preflight(specs, check=fake)
    assert str(caught.value) == (
        "preflight found 4 problem(s) on 2 host(s); nothing was installed (Ansible did not "
        "run):\n  - a: first problem\n  - a: second problem\n  - c: first problem\n"
        "  - c: second problem")
    assert [r.host_key for r in run_preflight(specs[1:2], check=fake)] == [KEY]


def test_missing_key_file_is_reported_without_connecting(tmp_path: Path) -> None:
    report = ssh_preflight(spec(key_file=str(tmp_path / "nope")))
    assert report.problems == [f"node-1: key file {tmp_path / 'nope'} does not exist on this "
                               f"machine (key_file of smack:baremetal.hosts[0])"]


def test_a_closed_ssh_port_is_reported(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a loopback port that is certainly closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = ssh_preflight(spec(address="127.0.0.1", port=port, timeout=3.0))
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"node-1: cannot reach SSH at 127.0.0.1:{port}")


# ------------------------------------------------------------------------------ providers


def test_preflight_reruns_when_hosts_change_only() -> None:
    provider = HostPreflightProvider()
    props = {"stack": "bm", "hosts": [spec().to_props()]}
    assert not provider.diff("id", {**props, "host_keys": {}}, props).changes
    changed = {**props, "hosts": [spec(min_memory_mb=4096).to_props()]}
    diff = provider.diff("id", props, changed)
    assert diff.changes and not diff.replaces


def test_update_expects_the_key_seen_last_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[HostSpec]] = []

    def fake(specs: list[HostSpec]) -> list[HostReport]:
        seen.append(specs)
        return [HostReport(s.name, host_key=KEY) for s in specs]

    monkeypatch.setattr(baremetal, "run_preflight", fake)
    news = {"stack": "bm", "hosts": [spec().to_props()]}
    outs = HostPreflightProvider().update("id", {**news, "host_keys": {"node-1": KEY}}, news).outs
    assert seen[0][0].host_key == KEY and not seen[0][0].pinned
    assert outs is not None and outs["host_keys"] == {"node-1": KEY}
    created = HostPreflightProvider().create(news)
    assert seen[1][0].host_key == ""  # the first preflight trusts what it sees
    assert created.outs is not None and created.outs["host_keys"] == {"node-1": KEY}


def test_reset_runs_on_delete_only_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[dict[str, Any]] = []

    def fake(props: dict[str, Any]) -> dict[str, Any]:
        runs.append(props)
        return {}

    monkeypatch.setattr(reset, "run_reset", fake)
    provider = HostResetProvider()
    provider.delete("id", {"stack": "bm", "enabled": False})
    assert runs == []
    provider.delete("id", {"stack": "bm", "enabled": True})
    assert len(runs) == 1
    assert not provider.diff("id", {"enabled": True}, {"enabled": True}).changes
    assert provider.diff("id", {"enabled": False}, {"enabled": True}).changes


# ----------------------------------------------------------------------- property tests


host_names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@st.composite
def host_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(host_names, min_size=1, max_size=9, unique=True))
    hosts = []
    for i, name in enumerate(names):
        host: dict[str, Any] = {"name": name, "address": f"192.0.2.{i + 1}",
                                "port": draw(st.sampled_from([22, 2222])),
                                "user": draw(st.sampled_from(["root", "admin"])),
                                "key_file": draw(st.sampled_from(["", "/k/id", "~/id"]))}
        host["become"] = host["user"] != "root" or draw(st.booleans())
        if draw(st.booleans()):
            host["min_memory_mb"] = draw(st.integers(256, 65536))
        hosts.append(host)
    return hosts


@given(hosts=host_lists(), quorum=st.sampled_from([1, 3, 5]))
@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_host_becomes_one_node_and_one_checked_spec(hosts: list[dict[str, Any]],
                                                          quorum: int) -> None:
    settings = settings_of(hosts, quorum_size=quorum, services=WITHOUT_MESOS)
    nodes = host_nodes(settings)
    specs = host_specs(settings, nodes)
    assert [n.name for n in nodes] == [h["name"] for h in hosts]
    assert [n.node_id for n in nodes] == [h["name"] for h in hosts]
    for host, node, s in zip(hosts, nodes, specs, strict=True):
        assert (node.address, node.ssh_port, node.ssh_user) == (
            host["address"], host["port"], host["user"])
        assert node.become == host["become"]
        assert s.min_memory_mb == host.get("min_memory_mb", 2048)
        assert HostSpec.from_props(s.to_props()) == s
        # Every port of every service the node runs is checked there, and only those.
        ports = {p.port for p in s.ports}
        assert ("kafka" in node.services) == (9092 in ports)
        assert ("zookeeper" in node.services) == (2181 in ports)
        assert all(1 <= p <= 65535 for p in ports)
    # ZooKeeper runs on the first odd number of hosts, at most quorum_size.
    zk = [n.name for n in nodes if "zookeeper" in n.services]
    assert zk == [h["name"] for h in hosts][: settings.quorum_members()]
    assert len(zk) % 2 == 1


@given(ports=st.dictionaries(st.integers(1, 65535),
                             st.sampled_from(["", "java", "python3"]), max_size=12),
       v6=st.booleans())
def test_listening_reads_back_what_ss_prints(ports: dict[int, str], v6: bool) -> None:
    lines = []
    for port, proc in ports.items():
        local = f"[::]:{port}" if v6 else f"0.0.0.0:{port}"
        users = f' users:(("{proc}",pid={port},fd=3))' if proc else ""
        lines.append(f"LISTEN 0 128 {local} *:*{users}")
    found = listening("\n".join(lines))
    assert found == {p: (f"{proc} (pid {p})" if proc else "") for p, proc in ports.items()}


@given(kb=st.integers(0, 2**40), mounts=st.lists(st.sampled_from(["/", "/var/lib", "/opt"]),
                                                 min_size=1, max_size=3, unique=True))
def test_memory_and_disk_parsing(kb: int, mounts: list[str]) -> None:
    assert memory_mb(f"MemFree: 1 kB\nMemTotal: {kb} kB\n") == kb // 1024
    df = "Filesystem 1024-blocks Used Available Capacity Mounted on\n" + "".join(
        f"/dev/x{i} 1 1 {kb + i} 1% {m}\n" for i, m in enumerate(mounts))
    assert disk_free(df) == {m: kb + i for i, m in enumerate(mounts)}


@given(major=st.integers(14, 30), minor=st.sampled_from([4, 10]))
def test_ubuntu_from_2204_on_is_allowed(major: int, minor: int) -> None:
    release = {"ID": "ubuntu", "VERSION_ID": f"{major}.{minor:02d}"}
    assert (os_problem(release) is None) == ((major, minor) >= (22, 4))


@given(states=st.lists(st.sampled_from(["active", "inactive", "failed", "activating"]),
                       min_size=1, max_size=10))
def test_active_units_pairs_states_with_units(states: list[str]) -> None:
    units = [f"u{i}" for i in range(len(states))]
    assert active_units(units, "\n".join(states)) == {
        u for u, s in zip(units, states, strict=True) if s == "active"}


# ------------------------------------------------------------ example files and the sample


def test_example_stack_file_is_valid_and_explains_every_key() -> None:
    settings = load_stack_file(PROJECT_DIR, "baremetal")
    assert settings.target == "baremetal" and settings.baremetal is not None
    assert [h.name for h in settings.baremetal.hosts] == ["node-1", "node-2", "node-3"]
    assert all(h.address.startswith("192.0.2.") for h in settings.baremetal.hosts)
    text = (PROJECT_DIR / "stacks" / "Pulumi.baremetal.yaml").read_text()
    comments = "\n".join(line for line in text.splitlines() if line.strip().startswith("#"))
    for key in [*BaremetalHost.model_fields, *BaremetalSettings.model_fields]:
        assert re.search(rf"\b{key}\b", comments), f"{key} is not explained"


def test_sample_inventory_parses_with_every_group(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i",
         str(PROJECT_DIR / "inventories" / "sample" / "hosts.yml"), "--list"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    data = json.loads(proc.stdout)
    for group in ("zookeeper", "mesos_masters", "mesos_agents", "marathon", "kafka",
                  "cassandra", "spark"):
        assert data[group]["hosts"], group
    assert len(data["zookeeper"]["hosts"]) % 2 == 1
    hostvars = data["_meta"]["hostvars"]
    assert all(v["smack_node_address"] == v["ansible_host"] for v in hostvars.values())
    assert all("smack_credentials" in v for v in hostvars.values())
    assert hostvars["worker-3"]["ansible_port"] == 2222
