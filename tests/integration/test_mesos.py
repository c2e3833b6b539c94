"""Mesos masters and agents, Marathon and Marathon apps on 3 converged local nodes.

Mesos and Marathon are the STAND-IN packages under tests/standins (test doubles: no real
binary can be obtained on the machines these tests run on). The roles install them the way
they install AVENTER's packages; the stand-ins register in ZooKeeper, authenticate, and
answer the health and state endpoints like the real daemons, but run no tasks.
One cluster is shared by the tests of this module, in order.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from infra.credentials import credentials_file
from infra.errors import AnsibleRunError
from infra.nodes.engine import ContainerEngine
from infra.nodes.local import local_specs, open_engine
from tests.integration.conftest import integration_settings, new_cluster, standin_repository
from tests.support.direct import DirectLocalCluster

pytestmark = pytest.mark.integration

LABELS = {"rack": "r1", "resources.cpus": "3"}
SERVICES = {"zookeeper": {"heap_mb": 128},
            "kafka": {"enabled": False}, "cassandra": {"enabled": False},
            "spark": {"enabled": False}}
APP = {"id": "/smack/hello", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 64,
       "instances": 2, "constraints": [["hostname", "UNIQUE"]],
       "health_checks": [{"protocol": "HTTP", "path": "/", "port_index": 0}]}


class Mesos:
    def __init__(self, cluster: DirectLocalCluster) -> None:
        self.cluster = cluster
        self.engine: ContainerEngine = open_engine(
            local_specs(cluster.settings, "").network["engine"])
        self.credentials = yaml.safe_load(credentials_file(cluster.settings.stack).read_text())

    def address(self, n: int) -> str:
        return str(self.cluster.created[self.container(n)]["address"])

    def container(self, n: int) -> str:
        return f"smack-{self.cluster.settings.stack}-node-{n}"

    def get(self, url: str, user: str = "", secret: str = "") -> tuple[int, Any]:
        request = urllib.request.Request(url)  # noqa: S310 - http URLs of our own nodes
        if user:
            token = base64.b64encode(f"{user}:{secret}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                body = response.read()
                try:
                    return response.status, json.loads(body)
                except ValueError:
                    return response.status, body.decode()
        except urllib.error.HTTPError as err:
            return err.code, None
        except OSError:  # refused or timed out (URLError is an OSError)
            return 0, None

    def operator(self) -> tuple[str, str]:
        op = self.credentials["mesos"]["operator"]
        return op["principal"], op["secret"]

    def marathon_user(self) -> tuple[str, str]:
        http = self.credentials["marathon_http"]
        return http["user"], http["password"]

    def leader(self) -> str:
        elected = []
        for n in (1, 2, 3):
            status, metrics = self.get(f"http://{self.address(n)}:5050/metrics/snapshot",
                                       *self.operator())
            # A master that is down is not the leader.
            if status == 200 and metrics["master/elected"] == 1:
                elected.append(self.address(n))
        assert len(elected) == 1, elected
        return elected[0]

    def active_agents(self) -> dict[str, dict[str, Any]]:
        status, body = self.get(f"http://{self.leader()}:5050/master/slaves", *self.operator())
        assert status == 200
        return {a["hostname"]: a for a in body["slaves"] if a["active"]}

    def started_at(self, n: int, unit: str) -> int:
        out = self.engine.run("exec", self.container(n), "systemctl", "show", unit, "-p",
                              "ActiveEnterTimestampMonotonic", "--value").stdout
        return int(out.strip() or 0)


def settings_for(count: int, stack: str = "", packages: Any = None, **services: Any) -> Any:
    extra = {"packages": packages} if packages else {}
    settings = integration_settings(
        services={**SERVICES, **services},
        nodes=[{"name": "node", "count": count, "labels": LABELS}], apps=[APP], **extra)
    return settings.model_copy(update={"stack": stack}) if stack else settings


@pytest.fixture(scope="module")
def mesos() -> Iterator[Mesos]:
    c = new_cluster(settings_for(3))
    try:
        c.up()
        first = c.run("site.yml")
        assert first.changed > 0
        yield Mesos(c)
    finally:
        c.down()


def test_masters_elect_one_leader_and_every_agent_is_active_with_its_labels(
        mesos: Mesos) -> None:
    mesos.cluster.run("verify.yml")
    agents = mesos.active_agents()
    assert sorted(agents) == sorted(mesos.address(n) for n in (1, 2, 3))
    for agent in agents.values():
        assert agent["attributes"] == {"rack": "r1"}
        assert agent["resources"]["cpus"] == 3
    # The flags the role wrote reached the daemon: quorum of 3 masters is 2.
    status, flags = mesos.get(f"http://{mesos.leader()}:5050/flags", *mesos.operator())
    assert status == 200
    assert flags["flags"]["quorum"] == "2"
    assert flags["flags"]["zk"].endswith("/mesos") and flags["flags"]["zk"].startswith("zk://")


def test_authentication_is_on_by_default(mesos: Mesos) -> None:
    leader = mesos.leader()
    assert mesos.get(f"http://{leader}:5050/master/slaves")[0] == 401
    assert mesos.get(f"http://{leader}:5050/master/slaves", "smack-operator", "wrong")[0] == 401
    assert mesos.get(f"http://{mesos.address(1)}:5051/state")[0] == 401
    assert mesos.get(f"http://{mesos.address(1)}:8080/ping")[0] == 401
    assert mesos.get(f"http://{mesos.address(1)}:8080/ping", *mesos.marathon_user())[0] == 200
    # Secrets stay out of the inventory and the node's world-readable files.
    inventory = mesos.cluster.inventory.parent
    text = "".join(p.read_text() for p in inventory.rglob("*") if p.is_file())
    assert mesos.operator()[1] not in text and mesos.marathon_user()[1] not in text
    modes = mesos.engine.run(
        "exec", mesos.container(1), "stat", "-c", "%n %a %U:%G",
        "/etc/mesos/master-credentials.json", "/etc/mesos/agent-credential.json",
        "/etc/mesos/operator-credential.json", "/etc/default/marathon",
        "/etc/marathon/mesos-secret").stdout.splitlines()
    assert [m.split()[1] for m in modes] == ["600", "600", "600", "640", "640"], modes


def test_marathon_has_one_leader_registered_and_the_apps_are_listed(mesos: Mesos) -> None:
    user = mesos.marathon_user()
    leaders = {mesos.get(f"http://{mesos.address(n)}:8080/v2/leader", *user)[1]["leader"]
               for n in (1, 2, 3)}
    assert len(leaders) == 1
    status, info = mesos.get(f"http://{leaders.pop()}/v2/info", *user)
    assert status == 200 and info["frameworkId"]
    status, frameworks = mesos.get(f"http://{mesos.leader()}:5050/master/frameworks",
                                   *mesos.operator())
    assert [f["name"] for f in frameworks["frameworks"] if f["active"]] == ["marathon"]
    status, apps = mesos.get(f"http://{mesos.address(2)}:8080/v2/apps", *user)
    assert status == 200
    listed = {a["id"]: a for a in apps["apps"]}
    assert listed["/smack/hello"]["instances"] == 2
    assert listed["/smack/hello"]["constraints"] == [["hostname", "UNIQUE"]]


def test_rerun_changes_nothing_and_restarts_nothing(mesos: Mesos) -> None:
    units = ("mesos-master", "mesos-agent", "marathon")
    before = {(n, u): mesos.started_at(n, u) for n in (1, 2, 3) for u in units}
    again = mesos.cluster.run("site.yml")
    assert again.changed == 0, again.hosts
    assert {(n, u): mesos.started_at(n, u) for n in (1, 2, 3) for u in units} == before


def test_a_wrong_flag_fails_with_the_daemons_message_and_a_fix_converges(
        mesos: Mesos) -> None:
    stack = mesos.cluster.settings.stack
    mesos.cluster.settings = settings_for(
        3, stack, mesos_master={"flags": {"no_such_flag": "1"}})
    mesos.cluster.up()
    with pytest.raises(AnsibleRunError) as caught:
        mesos.cluster.run("site.yml")
    message = str(caught.value)
    assert "Failed to load unknown flag 'no_such_flag'" in message
    assert "node-1" in message and "mesos-master" in message
    # Only the first master went down: the rolling restart stopped there, and the other two
    # (a quorum) keep or elect a leader.
    deadline = time.monotonic() + 60
    while True:
        try:
            assert mesos.leader() in (mesos.address(2), mesos.address(3))
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    mesos.cluster.settings = settings_for(3, stack)
    mesos.cluster.up()
    fixed = mesos.cluster.run("site.yml")
    assert all(stats.failed == 0 for stats in fixed.hosts.values())
    mesos.cluster.run("verify.yml", tags="mesos_master,mesos_agent,marathon")


def test_a_fourth_agent_joins_by_running_only_the_agent_play(mesos: Mesos) -> None:
    # The new node installs from package files copied from this machine (source: files).
    debs = sorted(str(p) for p in standin_repository().glob("*.deb"))
    stack = mesos.cluster.settings.stack
    mesos.cluster.settings = settings_for(4, stack, packages={"source": "files", "files": debs})
    mesos.cluster.up()
    mesos.cluster.run("mesos-agent.yml", limit="node-4")
    installed = mesos.engine.run("exec", mesos.container(4), "dpkg-query", "-W",
                                 "aventer-mesos").stdout
    assert installed.split() == ["aventer-mesos", "1.11.0-0standin1"]
    agents = mesos.active_agents()
    assert mesos.address(4) in agents and len(agents) == 4
    # The new node got the agent only; quorum services stay on the first three nodes.
    units = mesos.engine.run("exec", mesos.container(4), "systemctl", "is-active",
                             "mesos-agent", "mesos-master", "marathon", check=False)
    assert units.stdout.split() == ["active", "inactive", "inactive"]
