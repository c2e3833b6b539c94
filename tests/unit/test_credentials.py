"""Generated service credentials: 0600, stable across runs, never in the inventory."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from infra.config import parse_settings
from infra.credentials import (
    MESOS_PRINCIPALS,
    StackCredentialsProvider,
    credentials_file,
    ensure_credentials,
)
from infra.inventory import render_inventory
from infra.nodes.model import Node
from infra.pki import is_authority
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


def test_the_stack_has_one_ca_kept_across_runs_and_restored_from_the_state(
        tmp_path: Path) -> None:
    path = tmp_path / "lab" / "credentials.yml"
    first = ensure_credentials(path)
    cert = x509.load_pem_x509_certificate(first["ca"]["cert"].encode())
    assert cert.subject.rfc4514_string() == "CN=smack lab CA,O=smack"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > dt.timedelta(days=3000)
    # The key signs what the certificate names: a leaf made with it verifies against the CA.
    key = serialization.load_pem_private_key(first["ca"]["key"].encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([]))
            .issuer_name(cert.subject).public_key(leaf_key.public_key())
            .serial_number(1).not_valid_before(cert.not_valid_before_utc)
            .not_valid_after(cert.not_valid_after_utc).sign(key, hashes.SHA256()))
    leaf.verify_directly_issued_by(cert)
    assert ensure_credentials(path)["ca"] == first["ca"]
    # Lost with .smack/: the state's copy brings the same CA back.
    provider = StackCredentialsProvider()
    path.unlink()
    read = provider.read(str(path), {"file": str(path), "values": first})
    assert read.outs is not None and read.outs["values"]["ca"] == first["ca"]


def test_a_stack_from_before_the_ca_gets_one_on_the_next_up(tmp_path: Path) -> None:
    provider = StackCredentialsProvider()
    path = tmp_path / "old" / "credentials.yml"
    made = provider.create({"file": str(path)}).outs
    older = {k: v for k, v in made["values"].items() if k != "ca"}
    olds = {"file": str(path), "values": older}
    assert provider.diff(str(path), olds, {"file": str(path), "values": None}).changes
    updated = provider.update(str(path), olds, {"file": str(path), "values": None}).outs
    assert updated is not None
    assert updated["values"]["mesos"] == older["mesos"]  # every earlier secret kept
    assert is_authority(updated["values"]["ca"])
    again = {"file": str(path), "values": updated["values"]}
    assert not provider.diff(str(path), again, {"file": str(path), "values": None}).changes
    # A broken CA entry (a key that does not match) is not kept.
    other = ensure_credentials(tmp_path / "other" / "credentials.yml")["ca"]
    mixed = {**updated["values"], "ca": {"cert": other["cert"], "key": updated["values"]["ca"][
        "key"]}}
    assert not is_authority(mixed["ca"])
    assert provider.diff(str(path), {"file": str(path), "values": mixed},
                         {"file": str(path), "values": None}).changes


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
