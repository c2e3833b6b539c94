"""Local podman nodes for the integration tier: brought up by each module, always torn down."""

from __future__ import annotations

import ipaddress
import json
import os
import uuid
from functools import cache
from pathlib import Path

import pytest

from infra.config import Settings, parse_settings
from infra.nodes.local import local_specs
from infra.nodes.local_engine import open_engine
from tests.standins.build import HERE as STANDINS_DIR
from tests.standins.build import build_repository
from tests.support.direct import DirectLocalCluster
from tests.support.settings import with_test_jvm_opts

SUBNET = os.environ.get("SMACK_TEST_SUBNET", "198.18.0.0/24")


def integration_settings(count: int = 3, stack: str = "", **extra: object) -> Settings:
    """Settings of a fresh integration stack (or of `stack`, to change its settings);
    `extra` adds smack:<key> settings. The JVMs get the test clusters' options; metrics are
    off unless `extra` has `metrics`."""
    stack = stack or f"it{uuid.uuid4().hex[:6]}"
    raw = {"smack:target": "local",
           "smack:nodes": [{"name": "node", "count": count}],
           "smack:local": {"subnet": SUBNET},
           "smack:packages": {"source": "local_repository",
                              "repository_dir": str(standin_repository())}}
    # Metrics are proven on the shared cluster (test_services.py), which asks for them; the
    # other clusters leave Prometheus and its exporters out: on two cores every scrape is CPU
    # the clusters under test would miss.
    raw["smack:metrics"] = {"enabled": False}
    raw.update({f"smack:{k}": v for k, v in extra.items()})
    raw["smack:services"] = with_test_jvm_opts(dict(raw.get("smack:services") or {}))
    return parse_settings(stack, raw)


@cache
def standin_repository() -> Path:
    """The Mesos/Marathon stand-in apt repository (test doubles), built once per session."""
    return build_repository(STANDINS_DIR / "build" / "repo")


def new_cluster(settings: Settings) -> DirectLocalCluster:
    """A cluster object for `settings`, after checking no podman network overlaps the subnet."""
    engine = open_engine(local_specs(settings, "").network["engine"])
    ours = ipaddress.IPv4Network(SUBNET)
    taken = [f"{n['name']} ({s['subnet']})"
             for n in json.loads(engine.run("network", "ls", "--format", "json").stdout)
             for s in n.get("subnets") or []
             if ipaddress.ip_network(s["subnet"]).overlaps(ours)]
    if taken:
        pytest.fail(f"subnet {SUBNET} overlaps podman network(s) {taken}; destroy that stack "
                    f"or set SMACK_TEST_SUBNET")
    return DirectLocalCluster(settings)
