"""The `local` target: nodes are containers with systemd as PID 1 and sshd, on one network.

Three Pulumi dynamic resources (key pair, network, node) do the work; `LocalCluster` groups
them. Their providers are plain classes, so tests and the CLI can drive them directly.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pulumi
import pulumi.dynamic as dyn

from infra.config import Settings
from infra.errors import EngineError
from infra.nodes.engine import STACK_LABEL, ContainerEngine
from infra.nodes.image import ImageRecipe, ensure_image
from infra.nodes.keypair import StackKeyPair
from infra.nodes.local_disks import LocalDisks, disk_props
from infra.nodes.local_engine import engine_props, open_engine
from infra.nodes.local_turns import pending_keys, take_turn
from infra.nodes.model import Node
from infra.paths import remove_if_empty, state_dir
from infra.topology import (
    LOCAL_BUNDLE_NODE_DIR,
    NodePlan,
    local_address,
    local_bundle_dir,
    local_gateway,
    plan_nodes,
)

READY_TIMEOUT_SECONDS = 90


def _replace_on_change(olds: dict[str, Any], news: dict[str, Any], keys: list[str]
                       ) -> dyn.DiffResult:
    changed = [k for k in keys if olds.get(k) != news.get(k)]
    return dyn.DiffResult(changes=bool(changed), replaces=changed,
                          delete_before_replace=bool(changed))


# ----------------------------------------------------------------------------- network


class LocalNetworkProvider(dyn.ResourceProvider):
    KEYS: ClassVar[list[str]] = ["name", "subnet", "gateway", "engine"]

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        engine = open_engine(props["engine"])
        existing = engine.inspect("network", props["name"])
        if existing is not None:
            # Left over from an interrupted run of this same stack: adopt it, don't fail.
            labels = existing.get("labels") or existing.get("Labels") or {}
            if labels.get(STACK_LABEL) != props["engine"]["stack"]:
                raise EngineError(
                    f"a network named {props['name']} exists and was not made by smack for "
                    f"stack {props['engine']['stack']}; remove it or rename the stack"
                )
        else:
            engine.run(
                "network", "create", "--subnet", props["subnet"], "--gateway", props["gateway"],
                "--label", f"{STACK_LABEL}={props['engine']['stack']}", props["name"],
            )
        return dyn.CreateResult(props["name"], dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return _replace_on_change(olds, news, self.KEYS)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        engine = open_engine(props["engine"])
        if engine.inspect("network", props["name"]) is not None:
            engine.run("network", "rm", props["name"])
        conf = Path(props["engine"]["containers_conf"])
        conf.unlink(missing_ok=True)
        remove_if_empty(conf.parent, conf.parent.parent)


class LocalNetwork(dyn.Resource):
    name: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(LocalNetworkProvider(), name, props, opts)


# -------------------------------------------------------------------------------- node


def _run_args(props: dict[str, Any], image: str) -> list[str]:
    engine = props["engine"]["name"]
    args = [
        "run", "--detach", "--name", props["container"], "--hostname", props["name"],
        "--network", props["network"], "--ip", props["address"],
        "--cap-add", "SYS_ADMIN", f"--cgroupns={props['cgroupns']}",
        "--label", f"{STACK_LABEL}={props['engine']['stack']}",
        "--label", f"io.smack.node={props['name']}",
    ]
    if engine == "podman":
        # --no-hosts leaves /etc/hosts a plain file the common role can manage.
        args += ["--systemd=always", "--no-hosts"]
    else:
        args += ["--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",  # noqa: S108
                 "--stop-signal", "SIGRTMIN+3"]
    for volume, path in props.get("volumes") or []:
        args += ["--volume", f"{volume}:{path}"]
    if props.get("bundle_dir"):
        args += ["--volume", f"{props['bundle_dir']}:{LOCAL_BUNDLE_NODE_DIR}:ro"]
    if props.get("cpus"):
        args += ["--cpus", str(props["cpus"])]
    if props.get("memory_mb"):
        args += ["--memory", f"{int(props['memory_mb'])}m"]
    return [*args, image, "/sbin/init", *props["init_args"]]


def _wait_ready(engine: ContainerEngine, props: dict[str, Any]) -> None:
    """Poll until systemd has started sshd and the SSH port answers with a banner."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last = "container did not start"
    while time.monotonic() < deadline:
        state = engine.run("exec", props["container"], "systemctl", "is-active", "ssh.service",
                           check=False)
        if state.stdout.strip() == "active":
            try:
                with socket.create_connection((props["address"], 22), timeout=3) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        return
            except OSError as exc:
                last = f"ssh port not answering: {exc}"
        else:
            last = f"ssh.service is {state.stdout.strip() or state.stderr.strip()}"
        time.sleep(0.3)
    journal = engine.run("exec", props["container"], "journalctl", "-b", "-n", "20",
                         "--no-pager", check=False).stdout
    raise EngineError(
        f"node {props['name']} was not SSH-ready after {READY_TIMEOUT_SECONDS}s ({last}); "
        f"last journal lines:\n{journal}"
    )


def _authorize(engine: ContainerEngine, props: dict[str, Any]) -> None:
    user = props["ssh_user"]
    script = (
        f"install -d -m 0700 -o {user} -g {user} /home/{user}/.ssh && "
        f"cat > /home/{user}/.ssh/authorized_keys && "
        f"chown {user}:{user} /home/{user}/.ssh/authorized_keys && "
        f"chmod 0600 /home/{user}/.ssh/authorized_keys"
    )
    engine.run("exec", "-i", props["container"], "sh", "-c", script,
               input_text=props["public_key"] + "\n")


def remove_container(engine: ContainerEngine, container: str) -> None:
    """Remove a node's container; tolerate the engine's race when it stops on its own.

    podman can report "could not be stopped ... state improper: stopped" when the container
    finishes stopping while `rm --force` signals it; a second attempt then succeeds.
    """
    deadline = time.monotonic() + 60
    while True:
        proc = engine.run("rm", "--force", "--ignore", "--time", "5", container, check=False)
        if proc.returncode == 0 or engine.inspect("container", container) is None:
            return
        if time.monotonic() > deadline:
            raise EngineError(f"could not remove {container}: {proc.stderr.strip()}")
        time.sleep(1)


class LocalNodeProvider(dyn.ResourceProvider):
    # Every input shapes the container, so any change replaces it (same name, address and
    # volumes), one node per engine run (local_turns).
    KEYS: ClassVar[list[str]] = [
        "name", "container", "image", "network", "address", "public_key", "cpus", "memory_mb",
        "cgroupns", "init_args", "ssh_user", "engine", "volumes",
    ]

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        engine = open_engine(props["engine"])
        recipe = ImageRecipe(**props["image_recipe"])
        image = ensure_image(engine, recipe)
        if engine.inspect("container", props["container"]) is not None:
            # A container of ours from an interrupted run: start over from the image.
            remove_container(engine, props["container"])
        if props.get("bundle_dir"):
            # The engine refuses to mount a directory that is not there yet.
            Path(props["bundle_dir"]).mkdir(parents=True, exist_ok=True)
        engine.run(*_run_args(props, image))
        try:
            _wait_ready(engine, props)
            _authorize(engine, props)
            host_key = engine.run(
                "exec", props["container"], "cat", "/etc/ssh/ssh_host_ed25519_key.pub"
            ).stdout.split()
        except Exception:
            engine.run("rm", "--force", "--time", "0", props["container"], check=False)
            raise
        info = engine.inspect("container", props["container"]) or {}
        outs = {
            **props,
            "container_id": str(info.get("Id", "")),
            "host_key": " ".join(host_key[:2]),
        }
        return dyn.CreateResult(props["container"], outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = pending_keys(olds, news, self.KEYS)
        if not changed:
            return dyn.DiffResult(changes=False)
        wait = take_turn(open_engine(news["engine"]), news["engine"]["stack"], news["container"])
        if wait is None:
            return dyn.DiffResult(changes=True, replaces=changed, delete_before_replace=True)
        # Not this node's turn: an update (below) that keeps the container.
        return dyn.DiffResult(changes=True, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], _news: dict[str, Any]
               ) -> dyn.UpdateResult:
        # Waiting for its turn: the outputs stay those of the running container, so the next
        # run sees the change again (and `replacements_waiting` names this node).
        return dyn.UpdateResult(outs=dict(olds))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        engine = open_engine(props["engine"])
        info = engine.inspect("container", id_)
        if info is None:
            # An empty id tells the engine the container is gone.
            return dyn.ReadResult("", {})
        return dyn.ReadResult(id_, {**props, "container_id": str(info.get("Id", ""))})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        remove_container(open_engine(props["engine"]), props["container"])


class LocalNode(dyn.Resource):
    container_id: pulumi.Output[str]
    host_key: pulumi.Output[str]
    address: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(LocalNodeProvider(), name,
                         {**props, "container_id": None, "host_key": None}, opts)


# ------------------------------------------------------------------- specs and cluster


@dataclass(frozen=True)
class LocalSpecs:
    """Inputs of every local resource, derived from the settings alone."""

    key: dict[str, Any]
    network: dict[str, Any]
    nodes: list[tuple[NodePlan, dict[str, Any]]]
    # node name -> its LocalDisks inputs (none when smack:local.data_volumes is off)
    disks: dict[str, dict[str, Any]]


def local_specs(settings: Settings, public_key: Any) -> LocalSpecs:
    s = settings.local
    engine = engine_props(settings)
    network_name = f"smack-{settings.stack}"
    key = {"stack": settings.stack,
           "key_file": str(state_dir(settings.stack) / "ssh" / "id_ed25519")}
    network = {"name": network_name, "subnet": s.subnet, "gateway": local_gateway(settings),
               "engine": engine}
    recipe = ImageRecipe(suite=s.debian_suite, ssh_user=s.ssh_user, mirror=s.debian_mirror)
    groups = {g.name: g for g in settings.nodes}
    nodes = []
    disks = {}
    for plan in plan_nodes(settings):
        group = groups[plan.group]
        container = f"smack-{settings.stack}-{plan.name}"
        if s.data_volumes:
            disks[plan.name] = disk_props(container, plan.name, engine)
        nodes.append((plan, {
            "name": plan.name,
            "container": container,
            "image": recipe.tag,
            "image_recipe": {"suite": recipe.suite, "ssh_user": recipe.ssh_user,
                             "mirror": recipe.mirror},
            "network": network_name,
            "address": local_address(settings, plan),
            "public_key": public_key,
            "ssh_user": s.ssh_user,
            "cpus": group.cpus or 0,
            "memory_mb": group.memory_mb or 0,
            "cgroupns": s.cgroupns,
            "init_args": list(s.init_args),
            "engine": engine,
            "volumes": disks[plan.name]["volumes"] if plan.name in disks else [],
            # Not in LocalNodeProvider.KEYS: nodes made before the mount existed are kept
            # (the roles copy releases to them instead).
            "bundle_dir": local_bundle_dir(settings),
        }))
    return LocalSpecs(key, network, nodes, disks)


def node_record(plan: NodePlan, outs: dict[str, Any], key_file: str) -> Node:
    return Node(
        name=plan.name,
        address=outs["address"],
        ssh_user=outs["ssh_user"],
        ssh_key_file=key_file,
        group=plan.group,
        services=plan.services,
        labels=plan.labels,
        host_key=outs["host_key"],
        node_id=outs["container_id"],
    )


class LocalCluster(pulumi.ComponentResource):
    """Key pair, network and nodes of one local stack."""

    nodes: pulumi.Output[list[dict[str, Any]]]
    # Nodes whose container still lacks a change, waiting for their turn (local_turns).
    waiting: pulumi.Output[list[str]]

    def __init__(self, name: str, settings: Settings,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("smack:local:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key_spec = local_specs(settings, public_key="").key
        key = StackKeyPair("ssh-key", key_spec, child)
        specs = local_specs(settings, public_key=key.public_key)
        network = LocalNetwork("network", specs.network, child)
        records = []
        waits = []
        for plan, props in specs.nodes:
            needs: list[pulumi.Resource] = [network]
            if plan.name in specs.disks:
                # After the network in creation, so before it in deletion: the network's
                # delete removes the containers.conf the volumes' delete still needs.
                needs.append(LocalDisks(f"{plan.name}-disks", specs.disks[plan.name],
                                        pulumi.ResourceOptions(parent=self,
                                                               depends_on=[network])))
            node = LocalNode(plan.name, props,
                             pulumi.ResourceOptions(parent=self, depends_on=needs))
            records.append(_record_of(plan, props, node, key_spec["key_file"]))
            waits.append(_waiting(plan.name, props, node))
        self.nodes = pulumi.Output.all(*records)
        self.waiting = pulumi.Output.all(*waits).apply(lambda names: [n for n in names if n])
        self.register_outputs({"nodes": self.nodes, "waiting": self.waiting})


def _waiting(name: str, props: dict[str, Any], node: LocalNode) -> pulumi.Output[str]:
    """`name` when the node's container (its outputs) lacks some of `props`, else ""."""
    keys = LocalNodeProvider.KEYS
    wanted = pulumi.Output.from_input({k: props.get(k) for k in keys})
    applied = pulumi.Output.all(*[getattr(node, k) for k in keys]).apply(
        lambda values: dict(zip(keys, values, strict=True)))
    return pulumi.Output.all(applied, wanted).apply(
        lambda pair: name if pending_keys(pair[0], pair[1], keys) else "")


def _record_of(plan: NodePlan, props: dict[str, Any], node: LocalNode, key_file: str
               ) -> pulumi.Output[dict[str, Any]]:
    def build(values: list[Any]) -> dict[str, Any]:
        outs = {"address": props["address"], "ssh_user": props["ssh_user"],
                "host_key": values[0], "container_id": values[1]}
        return node_record(plan, outs, key_file).to_dict()

    return pulumi.Output.all(node.host_key, node.container_id).apply(build)
