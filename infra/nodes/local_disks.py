"""Volumes that hold a local node's data directories, apart from its container.

A change that replaces a node's container (limits, init arguments, the image) keeps them: the
new container mounts the same volumes and its services come back as the same members (the
same Cassandra host id and tokens, Kafka node id, ZooKeeper myid, Mesos master log). They go
only when the node goes (scale-in, `remove-node`, destroy): one `LocalDisks` per node, which the
node depends on, so the engine deletes the container first and the volumes after it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
import pulumi.dynamic as dyn

from infra.errors import EngineError
from infra.nodes.engine import STACK_LABEL
from infra.nodes.local_engine import open_engine

# What the services keep, at the roles' default paths. The Mesos agent's work directory is
# left out on purpose: its tasks die with the container as they do in a reboot, and an agent
# that finds the old container's checkpoints would try to recover executors that are gone.
KEPT_PATHS: tuple[str, ...] = (
    "/var/lib/zookeeper",
    "/var/lib/kafka",
    "/var/lib/cassandra",
    "/var/lib/mesos/master",
    "/var/lib/spark",
    "/var/lib/spark-events",
)


def volume_name(container: str, path: str) -> str:
    """`smack-<stack>-<node>-var-lib-kafka` for /var/lib/kafka in that node's container."""
    return f"{container}-{path.strip('/').replace('/', '-')}"


def disk_props(container: str, node: str, engine: dict[str, Any]) -> dict[str, Any]:
    return {"node": node, "engine": engine,
            "volumes": [[volume_name(container, path), path] for path in KEPT_PATHS]}


class LocalDisksProvider(dyn.ResourceProvider):
    # The container engine's settings (ulimits, runtime) do not shape a volume.
    KEYS: ClassVar[list[str]] = ["node", "volumes"]

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        engine = open_engine(props["engine"])
        stack = props["engine"]["stack"]
        for name, _path in props["volumes"]:
            found = engine.inspect("volume", name)
            if found is None:
                engine.run("volume", "create", "--label", f"{STACK_LABEL}={stack}",
                           "--label", f"io.smack.node={props['node']}", name)
            elif (found.get("Labels") or {}).get(STACK_LABEL) != stack:
                raise EngineError(f"a volume named {name} exists and was not made by smack for "
                                  f"stack {stack}; remove it or rename the stack")
            # else: kept from an interrupted run of this stack: adopt it with its data.
        return dyn.CreateResult(f"{props['node']}-disks", dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = [k for k in self.KEYS if olds.get(k) != news.get(k)]
        return dyn.DiffResult(changes=bool(changed), replaces=changed,
                              delete_before_replace=bool(changed))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        engine = open_engine(props["engine"])
        for name, _path in props["volumes"]:
            if engine.inspect("volume", name) is not None:
                engine.run("volume", "rm", name)


class LocalDisks(dyn.Resource):
    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(LocalDisksProvider(), name, props, opts)
