"""The local target and the common role on real podman nodes, through the Python API.

Brings up three nodes with systemd and sshd, converges site.yml twice (the second run must
change nothing), proves it with verify.yml, checks failure reporting, scaling and teardown.
"""

from __future__ import annotations

import pytest

from infra.errors import AnsibleRunError
from infra.nodes.local import local_specs, open_engine
from tests.support.direct import DirectLocalCluster

pytestmark = pytest.mark.integration


def engine_of(c: DirectLocalCluster):  # type: ignore[no-untyped-def]
    return open_engine(local_specs(c.settings, "").network["engine"])


def test_nodes_run_systemd_and_have_their_own_host_keys(cluster: DirectLocalCluster) -> None:
    engine = engine_of(cluster)
    keys = set()
    for container, outs in cluster.created.items():
        pid1 = engine.run("exec", container, "cat", "/proc/1/comm").stdout.strip()
        assert pid1 == "systemd"
        state = engine.run("exec", container, "systemctl", "is-system-running",
                           check=False).stdout.strip()
        assert state in ("running", "degraded"), state
        keys.add(outs["host_key"])
    assert len(keys) == 3


def test_site_converges_then_changes_nothing(cluster: DirectLocalCluster) -> None:
    first = cluster.run("site.yml")
    assert set(first.hosts) == {"node-1", "node-2", "node-3"}
    assert first.changed > 0
    second = cluster.run("site.yml")
    assert second.changed == 0, second.changed_tasks
    assert all(s.failed == 0 and s.unreachable == 0 for s in second.hosts.values())


def test_verify_proves_what_common_promises(cluster: DirectLocalCluster) -> None:
    result = cluster.run("verify.yml")
    assert all(s.failed == 0 for s in result.hosts.values())
    engine = engine_of(cluster)
    hosts = engine.run("exec", "smack-" + cluster.settings.stack + "-node-1",
                       "cat", "/etc/hosts").stdout
    for outs in cluster.created.values():
        assert f"{outs['address']} {outs['name']}" in hosts


def test_a_bad_value_fails_naming_host_task_and_message(cluster: DirectLocalCluster) -> None:
    with pytest.raises(AnsibleRunError) as caught:
        cluster.run("site.yml", extravars={"common_swappiness": 500}, limit="node-1")
    text = str(caught.value)
    assert "node-1: task 'Refuse out-of-range kernel and limit settings'" in text
    assert "common_swappiness must be 0-100 (is 500)" in text


def test_check_mode_after_converge_reports_no_changes(cluster: DirectLocalCluster) -> None:
    result = cluster.run("site.yml", check=True)
    assert result.changed == 0, result.changed_tasks
