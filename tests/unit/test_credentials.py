"""Generated service credentials: 0600, stable across runs, never in the inventory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from infra.config import parse_settings
from infra.credentials import (
    MESOS_PRINCIPALS,
    StackCredentialsProvider,
    credentials_file,
    ensure_credentials,
)
from infra.inventory import render_inventory
from infra.nodes.model import Node
from tests.support.settings import parse_only

pytestmark = pytest.mark.unit


def test_made_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "stack" / "credentials.yml"
    first = ensure_credentials(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert set(first["mesos"]) == set(MESOS_PRINCIPALS)
    secrets = [e["secret"] for e in first["mesos"].values()] + [first["marathon_http"]["password"]]
    assert len(set(secrets)) == len(secrets) and all(len(s) >= 24 for s in secrets)
    assert ensure_credentials(path) == first


def test_missing_entries_are_added_and_loose_modes_tightened(tmp_path: Path) -> None:
    path = tmp_path / "credentials.yml"
    path.write_text(yaml.safe_dump({"mesos": {"agent": {"principal": "a", "secret": "kept"}}}))
    path.chmod(0o644)
    values = ensure_credentials(path)
    assert values["mesos"]["agent"] == {"principal": "a", "secret": "kept"}
    assert "operator" in values["mesos"] and values["marathon_http"]["user"] == "smack"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_refresh_restores_a_deleted_file_from_the_state(tmp_path: Path) -> None:
    provider = StackCredentialsProvider()
    path = tmp_path / "credentials.yml"
    made = provider.create({"file": str(path)}).outs
    path.unlink()
    read = provider.read(str(path), made)
    assert read.outs is not None and read.outs["values"] == made["values"]
    assert yaml.safe_load(path.read_text()) == made["values"]
    provider.delete(str(path), made)
    assert not path.exists()


def test_inventory_names_the_file_but_holds_no_secret(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMACK_STATE_DIR", str(tmp_path))
    settings = parse_settings("cred", parse_only({"smack:target": "local"}))
    values = ensure_credentials(credentials_file(settings.stack))
    node = Node(name="node-1", address="198.18.0.11", ssh_user="smack", ssh_key_file="/k",
                group="node", services=["mesos_master"], labels={}, host_key="ssh-ed25519 AAAA",
                node_id="x")
    files = render_inventory(settings, [node], tmp_path / "inv")
    text = "\n".join(files.values())
    assert str(credentials_file("cred")) in text
    for entry in values["mesos"].values():
        assert entry["secret"] not in text
    assert values["marathon_http"]["password"] not in text
