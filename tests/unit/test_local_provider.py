"""The local node provider's pure parts: container arguments, diffs, containers.conf, keys."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from infra.config import parse_settings
from infra.nodes.engine import ContainerEngine
from infra.nodes.image import ImageRecipe
from infra.nodes.keypair import StackKeyPairProvider
from infra.nodes.local import (
    LocalNodeProvider,
    _run_args,
    local_specs,
    open_engine,
)
from infra.nodes.sshkey import ensure_key_pair
from tests.support.settings import parse_only

pytestmark = pytest.mark.unit


def node_props(engine: str = "podman", **local: object) -> dict[str, object]:
    settings = parse_settings("unit", parse_only({"smack:target": "local",
                                                  "smack:local": {"engine": engine, **local}}))
    return local_specs(settings, public_key="ssh-ed25519 AAAA k").nodes[0][1]


def test_podman_run_arguments_carry_the_machine_settings() -> None:
    args = _run_args(node_props(), "localhost/smack-node:x")
    joined = " ".join(args)
    for expected in ("--systemd=always", "--no-hosts", "--cap-add SYS_ADMIN",
                     "--cgroupns=host", "--ip 198.18.0.10", "--network smack-unit",
                     "--label io.smack.stack=unit", "--hostname node-1"):
        assert expected in joined
    assert args[-3:] == ["/sbin/init", "systemd.unified_cgroup_hierarchy=0",
                         "systemd.legacy_systemd_cgroup_controller=1"]


def test_docker_gets_systemd_mounts_instead_of_podman_flags() -> None:
    joined = " ".join(_run_args(node_props("docker"), "img"))
    assert "--systemd" not in joined
    assert "--tmpfs /run" in joined and "--stop-signal SIGRTMIN+3" in joined


def test_limits_reach_the_container() -> None:
    props = node_props()
    props.update(cpus=1.5, memory_mb=2048)
    joined = " ".join(_run_args(props, "img"))
    assert "--cpus 1.5" in joined and "--memory 2048m" in joined


def test_same_inputs_mean_no_change_and_any_change_replaces() -> None:
    props = node_props()
    provider = LocalNodeProvider()
    assert not provider.diff("id", props, dict(props)).changes
    changed = {**props, "cgroupns": "private"}
    diff = provider.diff("id", props, changed)
    assert diff.changes and diff.replaces == ["cgroupns"] and diff.delete_before_replace


def test_containers_conf_holds_the_engine_settings(tmp_path: Path) -> None:
    props = dict(node_props()["engine"])  # type: ignore[arg-type]
    props["containers_conf"] = str(tmp_path / "containers.conf")
    engine = open_engine(props)
    assert isinstance(engine, ContainerEngine)
    assert engine.containers_conf == props["containers_conf"]
    text = (tmp_path / "containers.conf").read_text()
    assert 'runtime = "runc"' in text
    assert 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' in text


def test_image_tag_follows_the_recipe() -> None:
    a = ImageRecipe("bookworm", "smack")
    assert a.tag == ImageRecipe("bookworm", "smack").tag
    assert a.tag != ImageRecipe("bookworm", "other").tag
    assert a.tag.startswith("localhost/smack-node:bookworm-")


def test_key_pair_is_private_and_reused(tmp_path: Path) -> None:
    key = tmp_path / "ssh" / "id_ed25519"
    public = ensure_key_pair(key, "smack-test")
    assert public.startswith("ssh-ed25519 ") and public.endswith(" smack-test")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert ensure_key_pair(key, "smack-test") == public
    assert "PRIVATE KEY" in key.read_text()


def test_key_pair_resource_keeps_the_key_and_writes_it_back_when_lost(tmp_path: Path) -> None:
    provider = StackKeyPairProvider()
    key = tmp_path / "stacks" / "unit" / "ssh" / "id"
    props = {"stack": "unit", "key_file": str(key)}
    outs = provider.create(props).outs
    assert outs["private_key"] == key.read_text() and "PRIVATE KEY" in outs["private_key"]
    assert not provider.diff("", outs, props).changes  # files in place: nothing to do
    # .smack/ lost (a fresh clone): an update writes the same key back, 0600.
    for path in (key, key.with_name("id.pub")):
        path.unlink()
    assert provider.diff("", outs, props).changes
    assert not provider.diff("", outs, props).replaces
    again = provider.update("", outs, props).outs
    assert (again["public_key"], again["private_key"]) == (outs["public_key"], outs["private_key"])
    assert key.read_text() == outs["private_key"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.with_name("id.pub").read_text().strip() == outs["public_key"]
    # A state from before the key was kept: the update takes the files' key into the state.
    older = {k: v for k, v in outs.items() if k != "private_key"}
    assert provider.diff("", older, props).changes
    assert provider.update("", older, props).outs["private_key"] == outs["private_key"]
    # Another path: a new key pair in the new place.
    moved = provider.diff("", outs, {**props, "key_file": str(tmp_path / "other")})
    assert moved.replaces == ["key_file"]


def test_key_pair_resource_removes_its_files(tmp_path: Path) -> None:
    provider = StackKeyPairProvider()
    props = {"stack": "unit", "key_file": str(tmp_path / "stacks" / "unit" / "ssh" / "id")}
    outs = provider.create(props).outs
    assert outs["public_key"].startswith("ssh-ed25519 ")
    provider.delete("", outs)
    assert not (tmp_path / "stacks" / "unit").exists()
