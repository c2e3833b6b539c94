"""Scaling the local target down and tearing it down leave exactly nothing of ours behind.

Runs in its own module so the shared cluster of test_local_nodes.py is gone first (both use
the same test subnet).
"""

from __future__ import annotations

import pytest

from infra.nodes.engine import ContainerEngine
from infra.nodes.local import local_specs
from infra.nodes.local_disks import KEPT_PATHS, volume_name
from infra.nodes.local_engine import open_engine
from infra.paths import inventory_dir, state_dir
from tests.integration.conftest import integration_settings, new_cluster
from tests.support.leaks import footprint, leftovers

pytestmark = pytest.mark.integration


def test_lower_count_removes_exactly_the_surplus_and_teardown_leaves_nothing() -> None:
    settings = integration_settings(count=3)
    c = new_cluster(settings)
    engine = open_engine(local_specs(settings, "").network["engine"])
    try:
        c.up()
        before = footprint(engine, sorted(c.created))
        kept = {k: v["container_id"] for k, v in c.created.items() if not k.endswith("-3")}
        c.settings = integration_settings(count=2).model_copy(update={"stack": settings.stack})
        c.up()
        assert engine.containers(settings.stack) and sorted(engine.containers(settings.stack)) \
            == sorted(kept)
        assert {k: v["container_id"] for k, v in c.created.items()} == kept
        # The data volumes of the node that left went with it; the others keep theirs.
        assert sorted(engine.volumes(settings.stack)) == sorted(
            volume_name(container, path) for container in kept for path in KEPT_PATHS)
        # Removing a node must leave the others whole (a shared cgroup tree would not).
        for name in kept:
            assert engine.run("exec", name, "systemctl", "is-system-running",
                              check=False).stdout.strip() in ("running", "degraded")
        c.run("site.yml", tags="validate")
    finally:
        c.down()
    # smack's containers.conf went with the stack: look with the engine's own defaults.
    assert leftovers(ContainerEngine(settings.local.engine), settings.stack, before) == []
    assert not state_dir(settings.stack).exists()
    assert not inventory_dir(settings.stack).exists()
