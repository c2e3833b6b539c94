"""The local node provider's pure parts: container arguments, diffs, containers.conf, keys."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from infra.config import parse_settings
from infra.errors import EngineError
from infra.inventory import role_variables
from infra.nodes.engine import STACK_LABEL, ContainerEngine
from infra.nodes.image import ImageRecipe
from infra.nodes.keypair import StackKeyPairProvider
from infra.nodes.local import (
    LocalNodeProvider,
    _run_args,
    local_specs,
)
from infra.nodes.local_disks import KEPT_PATHS, LocalDisksProvider, disk_props
from infra.nodes.local_engine import open_engine
from infra.nodes.local_turns import pending_keys, take_turn
from infra.nodes.sshkey import ensure_key_pair
from infra.topology import LOCAL_BUNDLE_NODE_DIR
from tests.support.settings import parse_only

pytestmark = pytest.mark.unit


def node_props(engine: str = "podman", **local: object) -> dict[str, object]:
    settings = parse_settings("unit", parse_only({"smack:target": "local",
                                                  "smack:local": {"engine": engine, **local}}))
    return local_specs(settings, public_key="ssh-ed25519 AAAA k").nodes[0][1]


def volumes(args: list[str]) -> list[str]:
    """The --volume arguments of an engine command line, in order."""
    return [args[i + 1] for i, a in enumerate(args) if a == "--volume"]


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


def test_same_inputs_mean_no_change_and_a_change_replaces_on_the_nodes_turn(
        monkeypatch: pytest.MonkeyPatch) -> None:
    props = node_props()
    provider = LocalNodeProvider()
    asked: list[str] = []

    def turn(_engine: object, stack: str, container: str) -> str | None:
        asked.append(f"{stack}/{container}")
        return None

    monkeypatch.setattr("infra.nodes.local.take_turn", turn)
    assert not provider.diff("id", props, dict(props)).changes
    assert asked == []  # no change, no turn taken
    changed = {**props, "cgroupns": "private"}
    diff = provider.diff("id", props, changed)
    assert diff.changes and diff.replaces == ["cgroupns"] and diff.delete_before_replace
    assert asked == ["unit/smack-unit-node-1"]


def test_a_node_whose_turn_has_not_come_keeps_its_container(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The replacement becomes an update that returns the old outputs: the state keeps what
    the running container has, so the next run sees the change again."""
    monkeypatch.setattr("infra.nodes.local.take_turn", lambda *_a: "node-1 is replaced first")
    props = {**node_props(), "container_id": "abc", "host_key": "ssh-ed25519 K"}
    changed = {**props, "cpus": 1}
    provider = LocalNodeProvider()
    diff = provider.diff("id", props, changed)
    assert diff.changes and not diff.replaces and not diff.delete_before_replace
    assert provider.update("id", props, changed).outs == props


def test_a_node_made_before_data_volumes_is_not_replaced_for_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("infra.nodes.local.take_turn", lambda *_a: None)
    props = node_props()
    legacy = {k: v for k, v in props.items() if k != "volumes"}
    provider = LocalNodeProvider()
    assert not provider.diff("id", legacy, props).changes
    assert provider.diff("id", legacy, {**props, "cpus": 2}).replaces == ["cpus"]


def test_data_directories_are_mounted_from_the_nodes_volumes() -> None:
    props = node_props()
    args = _run_args(props, "img")
    mounts = volumes(args)
    assert mounts[:-1] == [f"smack-unit-node-1-{path.strip('/').replace('/', '-')}:{path}"
                           for path in KEPT_PATHS]
    assert "/var/lib/mesos/agent" not in " ".join(mounts)
    settings = parse_settings("unit", parse_only({"smack:target": "local",
                                                  "smack:local": {"data_volumes": False}}))
    specs = local_specs(settings, public_key="k")
    assert specs.disks == {} and all(p["volumes"] == [] for _, p in specs.nodes)
    args = _run_args(specs.nodes[0][1], "img")
    assert volumes(args) == [mounts[-1]]


def test_the_artifact_bundle_is_mounted_read_only_and_named_in_the_inventory() -> None:
    settings = parse_settings("unit", parse_only({"smack:target": "local"}))
    props = local_specs(settings, public_key="k").nodes[0][1]
    bundle = str(settings.artifacts.bundle_path())
    args = _run_args(props, "img")
    assert volumes(args)[-1] == f"{bundle}:{LOCAL_BUNDLE_NODE_DIR}:ro"
    assert role_variables(settings)["smack_artifact_bundle_node_dir"] == LOCAL_BUNDLE_NODE_DIR
    # Releases from elsewhere: no mount, and the roles copy nothing from one.
    upstream = parse_settings("unit", parse_only({"smack:target": "local",
                                                  "smack:artifacts": {"source": "upstream"}}))
    props = local_specs(upstream, public_key="k").nodes[0][1]
    assert f":{LOCAL_BUNDLE_NODE_DIR}:ro" not in " ".join(_run_args(props, "img"))
    assert role_variables(upstream)["smack_artifact_bundle_node_dir"] == ""


def test_a_node_made_before_the_bundle_mount_is_not_replaced_for_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The roles copy releases to such a node; replacing it would restart every service."""
    monkeypatch.setattr("infra.nodes.local.take_turn", lambda *_a: None)
    props = node_props()
    assert props["bundle_dir"]
    legacy = {k: v for k, v in props.items() if k != "bundle_dir"}
    assert not LocalNodeProvider().diff("id", legacy, props).changes


class FakeEngine:
    """Containers of one stack: their states, which carry the converged marker, and every
    engine call made."""

    def __init__(self, states: dict[str, str], converged: set[str],
                 volumes: dict[str, dict[str, str]] | None = None) -> None:
        self.states = states
        self.marked = converged
        self.volume_labels = volumes or {}
        self.calls: list[tuple[str, ...]] = []

    def container_states(self, _stack: str) -> dict[str, str]:
        return dict(self.states)

    def run(self, *args: str, check: bool = True) -> SimpleNamespace:
        self.calls.append(args)
        if args[:1] == ("exec",):
            return SimpleNamespace(returncode=0 if args[1] in self.marked else 1)
        return SimpleNamespace(returncode=0, stdout="")

    def inspect(self, kind: str, name: str) -> dict[str, object] | None:
        assert kind == "volume"
        labels = self.volume_labels.get(name)
        return None if labels is None else {"Labels": labels}


def nodes(stack: str, *numbers: int) -> list[str]:
    return [f"smack-{stack}-node-{n}" for n in numbers]


def test_one_node_of_a_stack_gets_the_turn_per_run() -> None:
    one, two, three = nodes("turns1", 1, 2, 3)
    engine = FakeEngine(dict.fromkeys((one, two, three), "running"), {one, two, three})
    assert take_turn(engine, "turns1", two) is None  # type: ignore[arg-type]
    assert take_turn(engine, "turns1", one) == "node-2 is replaced first"  # type: ignore[arg-type]
    assert take_turn(engine, "turns1", three) == "node-2 is replaced first"  # type: ignore[arg-type]
    assert take_turn(engine, "turns1", two) is None  # type: ignore[arg-type]
    # The converged markers of the others were looked at once, for the turn given.
    assert sorted(c[1] for c in engine.calls) == [one, three]


def test_a_replaced_node_not_converged_yet_holds_the_next_turn() -> None:
    one, two, three = nodes("turns2", 1, 2, 3)
    engine = FakeEngine(dict.fromkeys((one, two, three), "running"), {two, three})
    assert take_turn(engine, "turns2", two) == (  # type: ignore[arg-type]
        "node-1 has not completed site.yml since it was replaced: this run converges it first")
    # A stack that never completed a converge has nothing to protect.
    fresh = FakeEngine(dict.fromkeys(nodes("turns3", 1, 2, 3), "running"), set())
    assert take_turn(fresh, "turns3", nodes("turns3", 2)[0]) is None  # type: ignore[arg-type]


def test_no_node_is_replaced_while_another_is_down() -> None:
    one, two, three = nodes("turns4", 1, 2, 3)
    engine = FakeEngine({one: "running", two: "running", three: "exited"}, {one, two, three})
    with pytest.raises(EngineError, match=r"node-3 is not running, so replacing node-1 now "
                                          r"would take one more node down: start it again and "
                                          r"rerun, or remove a node that is gone for good with "
                                          r"`smack remove-node NODE --dead`"):
        take_turn(engine, "turns4", one)  # type: ignore[arg-type]
    # The node being replaced may itself be down: the others are what counts.
    assert take_turn(engine, "turns4", three) is None  # type: ignore[arg-type]


def test_pending_keys_name_what_the_container_lacks() -> None:
    keys = ["cpus", "volumes"]
    assert pending_keys({"cpus": 1, "volumes": [["v", "/p"]]},
                        {"cpus": 2, "volumes": [["v", "/p"]]}, keys) == ["cpus"]
    assert pending_keys({"cpus": 1}, {"cpus": 1, "volumes": [["v", "/p"]]}, keys) == []


def test_disks_are_made_adopted_and_removed_with_the_stacks_labels(
        monkeypatch: pytest.MonkeyPatch) -> None:
    props = disk_props("smack-unit-node-1", "node-1", dict(node_props()["engine"]))  # type: ignore[arg-type]
    first, second = props["volumes"][0][0], props["volumes"][1][0]
    engine = FakeEngine({}, set(), volumes={first: {STACK_LABEL: "unit"}})
    monkeypatch.setattr("infra.nodes.local_disks.open_engine", lambda _p: engine)
    provider = LocalDisksProvider()
    provider.create(props)
    made = [c for c in engine.calls if c[:2] == ("volume", "create")]
    assert [c[-1] for c in made] == [v for v, _ in props["volumes"][1:]]  # the first is adopted
    assert made[0] == ("volume", "create", "--label", f"{STACK_LABEL}=unit",
                       "--label", "io.smack.node=node-1", second)
    # Another stack's volume of the same name is not taken over.
    engine.volume_labels[second] = {STACK_LABEL: "other"}
    with pytest.raises(EngineError, match=f"a volume named {second} exists and was not made "
                                          "by smack for stack unit"):
        provider.create(props)
    # The engine settings (ulimits) do not replace volumes; their names do.
    bumped = {**props, "engine": {**props["engine"], "nofile": 1}}
    assert not provider.diff("id", props, bumped).changes
    engine.calls.clear()
    engine.volume_labels = {v: {STACK_LABEL: "unit"} for v, _ in props["volumes"]}
    provider.delete("id", props)
    assert [c for c in engine.calls if c[:2] == ("volume", "rm")] == [
        ("volume", "rm", v) for v, _ in props["volumes"]]


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
