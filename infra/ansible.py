"""Playbook runs through ansible-runner, and the Pulumi resources around them.

`run_playbook` runs one playbook with live progress and raises `AnsibleRunError` naming host,
task and message when a host fails. `AnsibleRun` makes that run a Pulumi resource that runs
again only when the inventory, the variables or the content of roles/ and playbooks/ change.
`InventoryFiles` keeps the generated inventory on disk for the life of the stack.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pulumi
import pulumi.dynamic as dyn
import yaml

from infra.errors import AnsibleRunError
from infra.inventory import remove_inventory, write_inventory
from infra.paths import PROJECT_DIR, state_dir
from infra.progress import LineProgress, Progress, Writer, default_progress
from infra.retire import removal_extravars

CONTENT_DIRS = ("roles", "playbooks", "plugins")
CONTENT_FILES = ("ansible.cfg",)
STATUS_BY_EVENT = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0


@dataclass
class PlaybookResult:
    playbook: str
    hosts: dict[str, HostStats]
    duration_seconds: float
    changed_tasks: list[str] = field(default_factory=list)
    # (play name, seconds it took), in the order the plays ran.
    plays: list[tuple[str, float]] = field(default_factory=list)
    # What checks reported with set_stats under smack_checks (check name -> figures).
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    def as_outputs(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "duration_seconds": round(self.duration_seconds, 1),
            "hosts": {h: vars(s) for h, s in sorted(self.hosts.items())},
        }


def content_digest(project_dir: Path = PROJECT_DIR) -> str:
    """Hash of what Ansible reads from the project (roles, playbooks, plugins, ansible.cfg),
    in a form where comments and layout do not count: a new digest makes `up` run site.yml
    on every node, which must follow a change in what the roles do or render, not in how
    their source is written."""
    h = hashlib.sha256()
    paths: list[Path] = [project_dir / f for f in CONTENT_FILES]
    for directory in CONTENT_DIRS:
        paths += [p for p in (project_dir / directory).rglob("*") if p.is_file()]
    for path in sorted(paths):
        if "__pycache__" in path.parts or not path.exists():
            continue
        h.update(str(path.relative_to(project_dir)).encode() + b"\0")
        h.update(_meaning(path) + b"\0")
    return h.hexdigest()


# The C loader when libyaml is there: every `up` digests ~200 YAML files.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_JINJA_COMMENT = re.compile(r"\{#.*?#\}\n?", re.DOTALL)


def _meaning(path: Path) -> bytes:
    """A file's content without what cannot change a run: YAML as the data it loads to, Python
    as its syntax tree, Jinja templates without {# comments #}, ansible.cfg without comment
    lines. Files copied to the nodes as they are (roles' files/) count byte for byte, comments
    included: they land on the nodes. Anything that does not parse counts as its bytes."""
    raw = path.read_bytes()
    try:
        text = raw.decode()
        if path.suffix in (".yml", ".yaml") and "files" not in path.parts:
            return json.dumps(yaml.load(text, Loader=_YAML_LOADER), sort_keys=True,  # noqa: S506 - a safe loader
                              default=str).encode()
        if path.suffix == ".py":
            return ast.dump(ast.parse(text)).encode()
        if path.suffix == ".j2":
            return _JINJA_COMMENT.sub("", text).encode()
        if path.name == "ansible.cfg":
            return "\n".join(line for line in text.splitlines()
                             if line.strip() and not line.lstrip().startswith(("#", ";"))).encode()
    except (UnicodeDecodeError, yaml.YAMLError, SyntaxError, ValueError):
        pass
    return raw


def control_path_dir(stack: str) -> Path:
    # Kept short: ssh control sockets must fit in a unix socket path.
    return Path.home() / ".ansible" / "cp" / f"smack-{stack}"


def close_connections(stack: str) -> None:
    """Stop the ssh control masters of a stack (they would otherwise linger for a minute)."""
    directory = control_path_dir(stack)
    if not directory.is_dir():
        return
    for sock in directory.iterdir():
        subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={sock}", "smack-node"],
                       capture_output=True, check=False, timeout=10)
        sock.unlink(missing_ok=True)
    shutil.rmtree(directory, ignore_errors=True)


def forget_runs(stack: str) -> None:
    """Remove what playbook runs of a stack leave: connections, artifacts, facts, logs."""
    close_connections(stack)
    base = state_dir(stack)
    for name in ("runner", "facts"):
        shutil.rmtree(base / name, ignore_errors=True)
    for log in base.glob("*.log"):
        log.unlink()
    for directory in (base, base.parent):
        try:
            directory.rmdir()
        except OSError:
            break


def _changed_path(res: dict[str, Any]) -> str:
    """The file a changed task wrote (or would write, in check mode), never its content: the
    diffs of configuration files can hold credentials."""
    if res.get("dest") or res.get("path"):
        return str(res.get("dest") or res.get("path"))
    # A template's diff: before_header is the file on the node, after_header the rendered
    # source on the controller.
    diffs = res.get("diff")
    for diff in diffs if isinstance(diffs, list) else [diffs]:
        if isinstance(diff, dict) and diff.get("before_header"):
            return str(diff["before_header"])
    return ""


class _Events:
    """Turns ansible-runner events into progress updates, stats and failure messages."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.failures: dict[str, str] = {}
        self.changed_tasks: list[str] = []
        self.play_starts: list[tuple[str, float]] = []
        self.checks: dict[str, str] = {}

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            name = str(data.get("play") or data.get("name") or "")
            self.play_starts.append((name, time.monotonic()))
            self.progress.play(name)
        elif kind == "playbook_on_stats":
            reported = (data.get("artifact_data") or {}).get("smack_checks") or {}
            self.checks = {str(k): " ".join(str(v).split()) for k, v in reported.items()}
        elif kind == "playbook_on_task_start":
            self.progress.task(data.get("task") or data.get("name") or "")
        elif kind in STATUS_BY_EVENT:
            host = data.get("host", "?")
            status = STATUS_BY_EVENT[kind]
            res = data.get("res") or {}
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                status = "ok"
            if status in ("failed", "unreachable"):
                self.failures[host] = (
                    f"{host}: task '{data.get('task', '?')}' "
                    f"({_where(data)}): {_message(res)}"
                )
            if status == "ok" and res.get("changed"):
                target = _changed_path(res)
                self.changed_tasks.append(f"{host}: {data.get('task', '?')}"
                                          + (f" ({target})" if target else ""))
            self.progress.result(host, status)
        return True


def _where(data: dict[str, Any]) -> str:
    path = str(data.get("task_path", "")).replace(str(PROJECT_DIR) + "/", "")
    return path or str(data.get("role", "playbook"))


def _message(res: dict[str, Any]) -> str:
    """The module's own words: msg, else the tail of stderr/stdout, else the first failed item."""
    for item in res.get("results") or []:
        if isinstance(item, dict) and item.get("failed"):
            return _message(item)
    msg = str(res.get("msg") or "").strip()
    detail = str(res.get("stderr") or res.get("stdout") or "").strip()
    if detail:
        tail = " | ".join(detail.splitlines()[-3:])
        msg = f"{msg}: {tail}" if msg else tail
    return msg or "failed without a message"


def run_playbook(
    playbook: str,
    inventory: Path,
    *,
    stack: str,
    limit: str | None = None,
    tags: str | None = None,
    extravars: dict[str, Any] | None = None,
    forks: int = 20,
    verbosity: int = 0,
    check: bool = False,
    progress: Progress | None = None,
) -> PlaybookResult:
    """Run playbooks/<playbook> against `inventory`; raise AnsibleRunError if a host fails."""
    import ansible_runner  # noqa: PLC0415 - heavy import, only needed when a run happens

    progress = progress or default_progress()
    base = state_dir(stack)
    private = base / "runner"
    private.mkdir(parents=True, exist_ok=True)
    private.chmod(0o700)
    facts = base / "facts"
    env = {
        "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg"),
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(facts),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_path_dir(stack)),
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_NOCOLOR": "1",
        # ansible-playbook from the same virtualenv as this program, wherever it runs from.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    hosts = _forget_replaced_nodes(facts, inventory)
    events = _Events(progress)
    progress.start(playbook, hosts)
    started = time.monotonic()
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(PROJECT_DIR),
        playbook=str(PROJECT_DIR / "playbooks" / playbook),
        inventory=str(inventory.resolve()),
        envvars=env,
        extravars=extravars or {},
        limit=limit,
        tags=tags,
        verbosity=verbosity or None,
        cmdline="--check --diff" if check else None,
        event_handler=events,
        quiet=True,
        suppress_env_files=True,
        rotate_artifacts=5,
    )
    duration = time.monotonic() - started
    stats = runner.stats or {}
    per_host: dict[str, HostStats] = {}
    for key, attr in (("ok", "ok"), ("changed", "changed"), ("failures", "failed"),
                      ("dark", "unreachable"), ("skipped", "skipped"), ("rescued", "rescued")):
        for host, count in (stats.get(key) or {}).items():
            setattr(per_host.setdefault(host, HostStats()), attr, count)
    # A playbook Ansible refuses to load starts no play at all.
    ends = [t for _, t in events.play_starts[1:]] + [started + duration][:len(events.play_starts)]
    plays = [(name, end - begin) for (name, begin), end in
             zip(events.play_starts, ends, strict=True)]
    result = PlaybookResult(playbook, per_host, duration, events.changed_tasks, plays,
                            events.checks)
    failed = [h for h, s in per_host.items() if s.failed or s.unreachable]
    summary = (f"{playbook}: {len(per_host)} host(s), {result.changed} changed, "
               f"{len(failed)} failed, {duration:.0f}s")
    progress.finish(summary)
    if failed or runner.rc != 0:
        messages = [events.failures[h] for h in sorted(failed) if h in events.failures]
        if not messages:
            out = (runner.stdout.read() if runner.stdout else "").strip().splitlines()
            messages = [f"ansible-playbook exited with {runner.rc} ({runner.status}): "
                        + (" | ".join(out[-5:]) or "no output")]
        raise AnsibleRunError(playbook, messages)
    return result


def _forget_replaced_nodes(facts: Path, inventory: Path) -> int:
    """Drop cached facts of hosts whose node was replaced; return the number of hosts.

    Facts are cached between runs (gathering = smart), keyed by inventory name; a node that
    was recreated under the same name must not inherit its predecessor's facts.
    """
    import json  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    try:
        doc = yaml.safe_load(inventory.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return 0
    hosts = (doc.get("all") or {}).get("hosts") or {}
    ids = {name: str((hv or {}).get("smack_node_id", "")) for name, hv in hosts.items()}
    record = facts / "node-ids.json"
    try:
        known = json.loads(record.read_text())
    except (OSError, ValueError):
        known = {}
    facts.mkdir(parents=True, exist_ok=True)
    for name, node_id in ids.items():
        if known.get(name) != node_id:
            (facts / name).unlink(missing_ok=True)
    record.write_text(json.dumps({**known, **ids}, sort_keys=True))
    return len(hosts)


# --------------------------------------------------------------------- pulumi resources


def _hosts_of(files: dict[str, str] | None) -> list[str]:
    data = yaml.safe_load((files or {}).get("hosts.yml") or "") or {}
    return list(((data.get("all") or {}).get("hosts") or {}).keys())


def _retire(olds: dict[str, Any], news: dict[str, Any]) -> None:
    """Hosts the last inventory (kept in the state) has and the new one does not leave the
    cluster through `retire.playbook`, run on that last inventory, before anything else of
    this update; the engine deletes their nodes only after every update. Nothing here reads
    the inventory on this machine's disk: a lost or stale directory does not change the
    decision."""
    retire = news.get("retire") or {}
    keep = set(_hosts_of(news.get("files")))
    leaving = [h for h in _hosts_of(olds.get("files")) if h not in keep]
    if not retire or not leaving:
        return
    directory = Path(news["dir"])
    write_inventory(directory, olds["files"])
    dead = [h for h in retire.get("dead") or [] if h in leaving]
    sys.stderr.write(f"{', '.join(leaving)} leave the cluster before deletion "
                     f"(playbooks/{retire['playbook']}"
                     + (f"; gone for good, not connected to: {', '.join(dead)}" if dead else "")
                     + ")\n")
    _run_logged({"playbook": retire["playbook"], "inventory": str(directory / "hosts.yml"),
                 "stack": retire["stack"], "limit": None, "tags": None,
                 "extravars": removal_extravars(leaving, retire.get("dead") or []),
                 "forks": int(retire.get("forks", 20)),
                 "verbosity": int(retire.get("verbosity", 0))})


def _run_logged(args: dict[str, Any]) -> dict[str, Any]:
    """run_in_worker with its lines on the provider's stderr (the engine shows them as the
    update runs) and in .smack/stacks/<stack>/<playbook>.log (<playbook>.check.log for a
    check-mode run) for later."""
    kind = ".check" if args.get("check") else ""
    log = state_dir(args["stack"]) / f"{Path(args['playbook']).stem}{kind}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as stream:
        return run_in_worker(args, _Tee(stream, sys.stderr))


class InventoryFilesProvider(dyn.ResourceProvider):
    """The stack's inventory files; an update that drops hosts first retires them (`retire`:
    playbook, stack, forks, verbosity) on the inventory the state kept."""

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        digest = write_inventory(Path(props["dir"]), props["files"])
        return dyn.CreateResult(props["dir"], {**props, "digest": digest})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = olds.get("files") != news.get("files")
        return dyn.DiffResult(changes=changed or olds.get("dir") != news.get("dir"),
                              replaces=["dir"] if olds.get("dir") != news.get("dir") else [])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        _retire(olds, news)
        digest = write_inventory(Path(news["dir"]), news["files"])
        return dyn.UpdateResult({**news, "digest": digest})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        remove_inventory(Path(props["dir"]))


class InventoryFiles(dyn.Resource):
    digest: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(InventoryFilesProvider(), name, {**props, "digest": None}, opts)


def run_in_worker(args: dict[str, Any], stream: Writer) -> dict[str, Any]:
    """Run `run_playbook(**args)` in a fresh Python process; progress lines go to `stream`.

    A Pulumi provider process holds gRPC threads, and ansible-runner forks with pexpect,
    which runs Python in the child before exec: that child can die there. The worker is
    started with a plain fork+exec and runs ansible-runner in a process of its own.
    Arguments travel on stdin (they may hold secrets), the result on stdout.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.ansible"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_DIR,
    )
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    if stdin is None or stdout is None or stderr is None:
        raise AnsibleRunError(args["playbook"], ["could not start the ansible worker"])
    stdin.write(json.dumps(args))
    stdin.close()
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stdout.read()), daemon=True)
    reader.start()
    for line in stderr:
        stream.write(line)
        stream.flush()
    proc.wait()
    reader.join()
    try:
        answer = json.loads(result[0] if result else "")
    except ValueError:
        raise AnsibleRunError(args["playbook"], [
            f"the ansible worker exited with {proc.returncode} without a result"]) from None
    if not answer.get("ok"):
        raise AnsibleRunError(args["playbook"], answer.get("failures") or ["unknown failure"])
    return dict(answer["outputs"])


def _worker() -> int:
    args = json.loads(sys.stdin.read())
    args["inventory"] = Path(args["inventory"])
    try:
        result = run_playbook(**args, progress=LineProgress(sys.stderr))
    except AnsibleRunError as err:
        print(json.dumps({"ok": False, "failures": err.failures}))
        return 1
    outputs = result.as_outputs()
    if args.get("check"):
        outputs["would_change"] = result.changed_tasks
    print(json.dumps({"ok": True, "outputs": outputs}))
    return 0


class _Tee:
    def __init__(self, *streams: Writer) -> None:
        self.streams = streams

    def write(self, text: str, /) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


# What `up` runs instead of site.yml when only nodes of the growing services came or went.
SCALE_PLAYBOOK = "scale.yml"


def only_membership_changed(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """Whether the last successful site.yml run and this one differ only in nodes added or
    removed (their `membership` shapes, infra/inventory.membership_shape): the same content,
    variables, fixed quorums, and every remaining host as it was. Then scale.yml does: full roles
    where they are needed, nothing for the fixed quorums. Anything else, a repair (--converge)
    or drift found by a refresh included, runs site.yml."""
    if news.get("playbook") != "site.yml" or olds.get("drift"):
        return False
    if news.get("converge") and news.get("converge") != olds.get("converge"):
        return False
    if any(olds.get(k) != news.get(k) for k in AnsibleRunProvider.TRIGGERS
           if k != "inventory_digest"):
        return False
    old, new = olds.get("membership") or {}, news.get("membership") or {}
    if not old or not new or old.get("shared") != new.get("shared") \
            or old.get("fixed") != new.get("fixed"):
        return False
    old_hosts, new_hosts = dict(old.get("hosts") or {}), dict(new.get("hosts") or {})
    if any(old_hosts[h] != new_hosts[h] for h in old_hosts.keys() & new_hosts.keys()):
        return False
    return old_hosts.keys() != new_hosts.keys() and bool(old_hosts.keys() & new_hosts.keys())


class AnsibleRunProvider(dyn.ResourceProvider):
    # A run is repeated when one of these differs from the last successful run.
    TRIGGERS: ClassVar[list[str]] = [
        "playbook", "inventory", "inventory_digest", "content_digest", "extravars", "limit", "tags",
    ]

    @staticmethod
    def _args(props: dict[str, Any], *, check: bool = False) -> dict[str, Any]:
        """run_playbook's arguments for this resource's run (or its check-mode twin)."""
        return {
            "playbook": props["playbook"], "inventory": str(props["inventory"]),
            "stack": props["stack"], "limit": props.get("limit") or None,
            "tags": props.get("tags") or None, "extravars": props.get("extravars") or {},
            "forks": int(props.get("forks", 20)), "verbosity": int(props.get("verbosity", 0)),
            **({"check": True} if check else {}),
        }

    def _run(self, props: dict[str, Any], playbook: str | None = None) -> dict[str, Any]:
        """The run's figures over the resource's inputs; `playbook` runs instead of the
        resource's own, which stays its input (what the next diff compares) and `ran` says so."""
        args = self._args(props)
        if playbook:
            args["playbook"] = playbook
        outputs = _run_logged(args)
        return {**props, **outputs, "playbook": props["playbook"],
                "ran": outputs.get("playbook", args["playbook"])}

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(f"{props['stack']}-{props['playbook']}", self._run(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = [k for k in self.TRIGGERS if olds.get(k) != news.get(k)]
        # `smack up --converge` (a new token each time) runs it although nothing changed here,
        # to repair what drifted on the nodes; a run without the token does not count as one.
        if news.get("converge") and news.get("converge") != olds.get("converge"):
            changed.append("converge")
        # What the last refresh found drifted on the nodes (see read) is repaired by a run.
        if olds.get("drift"):
            changed.append("drift")
        return dyn.DiffResult(changes=bool(changed), replaces=[])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        playbook = SCALE_PLAYBOOK if only_membership_changed(olds, news) else None
        return dyn.UpdateResult({**self._run(news, playbook), "drift": []})

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """`pulumi refresh` and `up --refresh`: the playbook in check mode on the nodes as they
        are now. What it would change (host, task and file; never content) is kept as `drift`,
        which makes the next update run the playbook again: the engine cannot see a file
        edited by hand or a stopped unit otherwise."""
        inventory = Path(str(props.get("inventory") or ""))
        if not props.get("hosts") or not inventory.is_file():
            sys.stderr.write(f"{props.get('playbook')}: no inventory at {inventory} on this "
                             "machine yet, so no drift check (`pulumi up` writes it)\n")
            return dyn.ReadResult(id_, props)
        try:
            outputs = _run_logged(self._args(props, check=True))
            drift = sorted(outputs.get("would_change") or [])
        except AnsibleRunError as err:
            # A node the check cannot reach or run on is drift too: the next update tries
            # the real run, which converges it or fails naming host, task and message.
            drift = [f"check failed: {line}" for line in err.failures]
        for line in drift:
            sys.stderr.write(f"drift: {line}\n")
        return dyn.ReadResult(id_, {**props, "drift": drift})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if not props.get("keep_on_delete"):
            forget_runs(props["stack"])


class AnsibleRun(dyn.Resource):
    hosts: pulumi.Output[dict[str, Any]]
    duration_seconds: pulumi.Output[float]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(AnsibleRunProvider(), name,
                         {**props, "hosts": None, "duration_seconds": None, "drift": None},
                         opts)


if __name__ == "__main__":
    sys.exit(_worker())
