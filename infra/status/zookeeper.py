"""ZooKeeper's rows from each node's `srvr` answer; an ensemble needs exactly one leader."""

from __future__ import annotations

import re
from collections.abc import Mapping

from infra.status.inventory import StackInventory, _endpoint
from infra.status.results import Outcome, ProbeError, ProbeKey, Row, ServiceStatus, _viewed

ZOOKEEPER_MODES = ("leader", "follower", "standalone", "observer", "read-only")


def parse_srvr(text: str) -> tuple[str, str]:
    """(mode, version) from ZooKeeper's `srvr` answer; ProbeError when it does not serve."""
    if "not currently serving requests" in text:
        raise ProbeError("not serving requests (no quorum)")
    if "not in the whitelist" in text:
        raise ProbeError("srvr is not an allowed four-letter word (4lw.commands.whitelist)")
    version = re.search(r"^Zookeeper version: ([^\s,-]+)", text, re.MULTILINE)
    mode = re.search(r"^Mode: (\S+)", text, re.MULTILINE)
    if not version or not mode:
        raise ProbeError("unexpected srvr answer: " + (text.strip().splitlines() or [""])[0][:60])
    return mode.group(1), version.group(1)


def zookeeper_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> ServiceStatus:
    rows: list[Row] = []
    modes: list[str] = []
    for h in inv.members("zookeeper"):
        endpoint = _endpoint(h, inv.port("zookeeper", "zookeeper_client_port", h))
        srvr, failed = _viewed(outcomes.get(("zookeeper", h.name)),
                               lambda raw: parse_srvr(raw.decode(errors="replace")))
        if srvr is None:
            rows.append(Row(h.name, "-", failed, "-", endpoint, False))
            continue
        mode, version = srvr
        modes.append(mode)
        rows.append(Row(h.name, mode, "up", version, endpoint, mode in ZOOKEEPER_MODES))
    return ServiceStatus("zookeeper", "ZooKeeper", rows, zookeeper_problems(modes, len(rows)))


def zookeeper_problems(modes: list[str], members: int) -> list[str]:
    """An ensemble needs exactly one leader; a single node runs standalone."""
    if members <= 1 or not modes:
        return []
    leaders = modes.count("leader")
    if leaders == 1:
        return []
    return [f"{leaders} of the {len(modes)} answering nodes lead; an ensemble needs exactly one"]
