"""ZooKeeper helpers for the stand-ins (smack test stand-in), on top of kazoo.

Mesos masters contend by creating EPHEMERAL_SEQUENTIAL `json.info_<10 digits>` znodes holding
MasterInfo JSON under the --zk path; the lowest sequence leads (docs/high-availability.md,
real-mesos-samples/zk-mesos-tree.json). Agents and frameworks find the leader the same way.
Marathon's leader latch is Curator-style: `_c_<uuid>-latch-<seq>` under <path>/leader-curator.

ACLs follow the real clients' sources (the captured samples ran without ZooKeeper credentials):
with `zk://user:pass@` Mesos creates every znode, parents included, readable by anyone and
writable by the creator only (zookeeper::EVERYONE_READ_CREATOR_ALL); Marathon makes its state
the creator's only (ZooDefs.Ids.CREATOR_ALL_ACL) and adds world-read to its leader latch.
Without credentials both create open znodes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.security import (
    ACL,
    AUTH_IDS,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Permissions,
)

from . import glog
from .common import ZkUrl

MASTER_LABEL = "json.info_"


EVERYONE_READ_CREATOR_ALL = [*READ_ACL_UNSAFE, ACL(Permissions.ALL, AUTH_IDS)]


def mesos_acl(url: ZkUrl) -> list[ACL]:
    """What a Mesos master, agent or scheduler driver creates znodes with."""
    return EVERYONE_READ_CREATOR_ALL if url.auth else OPEN_ACL_UNSAFE


def marathon_acl(url: ZkUrl) -> list[ACL]:
    """What Marathon creates its state znodes with (its leader latch adds world-read)."""
    return CREATOR_ALL_ACL if url.auth else OPEN_ACL_UNSAFE


def connect(
    url: ZkUrl,
    session_timeout: float,
    on_lost: Callable[[], None] | None = None,
    acl: list[ACL] | None = None,
) -> KazooClient:
    """Connect, retrying until ZooKeeper answers (the real daemons wait for it too).

    `on_lost` runs when the session expires: ephemeral znodes are gone by then. `acl` is what
    the znodes this client creates get (default: Mesos').
    """
    auth = [("digest", url.auth)] if url.auth else None
    while True:
        client = KazooClient(
            hosts=url.hosts,
            timeout=session_timeout,
            auth_data=auth,
            default_acl=acl if acl is not None else mesos_acl(url),
            connection_retry={"max_tries": -1, "delay": 0.2, "max_delay": 2.0},
        )
        try:
            client.start(timeout=max(session_timeout, 5.0))
            break
        except KazooTimeoutError:
            glog.warning(
                "group.cpp:341", f"Timed out connecting to ZooKeeper at {url.hosts}; retrying"
            )
    if on_lost is not None:

        def listener(state: str) -> None:
            if state == KazooState.LOST:
                threading.Thread(target=on_lost, daemon=True).start()

        client.add_listener(listener)
    return client


def sequence_of(name: str) -> int:
    return int(name.rsplit("-", 1)[-1].rsplit("_", 1)[-1])


def master_nodes(client: KazooClient, path: str) -> list[str]:
    """The json.info_ children, lowest (leading) sequence first."""
    try:
        children = client.get_children(path)
    except NoNodeError:
        return []
    return sorted((c for c in children if c.startswith(MASTER_LABEL)), key=sequence_of)


def leading_master(client: KazooClient, path: str) -> tuple[str, dict] | None:
    """(znode name, MasterInfo) of the leading master, or None."""
    for name in master_nodes(client, path):
        try:
            data, _ = client.get(f"{path}/{name}")
        except NoNodeError:
            continue  # vanished between list and get; the next one may lead now
        return name, json.loads(data.decode("utf-8"))
    return None


def tolerant(step: Callable[[], None], what: str) -> None:
    """Run one round of a watch loop. While the client reconnects, operations fail with
    ConnectionLoss; the daemons keep their last view and try again (an expired session is
    handled by `connect(on_lost=...)`)."""
    try:
        step()
    except KazooException as exc:
        glog.warning("group.cpp:468", f"ZooKeeper {what} failed: {exc!r}; retrying")


class Wakeup:
    """An event set by a ZooKeeper children watch so loops react at once, not at the next poll."""

    def __init__(self, client: KazooClient, path: str) -> None:
        self.event = threading.Event()
        client.ensure_path(path)

        def changed(_children: list[str]) -> None:
            self.event.set()

        client.ChildrenWatch(path, changed)

    def wait(self, timeout: float) -> None:
        self.event.wait(timeout)
        self.event.clear()
