"""`smack ssh` and `smack logs`: reach a stack's nodes the way Ansible does.

Everything comes from the generated inventory: address, port, user, the stack's key, the pinned
known_hosts, the jump host (aws) and whether commands need sudo. So a shell or a log stream
works on every target without a hand-built ssh line.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.errors import SmackError

if TYPE_CHECKING:
    # Types only: the CLI builds its parser from LOG_SOURCES without the status package.
    from infra.status.inventory import Host, StackInventory

# Shorter values of the credentials file are user names, not secrets.
MIN_SECRET_LENGTH = 16


@dataclass(frozen=True)
class LogSource:
    """Where a service's log lines are: its systemd units' journal, or a file a role set."""

    group: str
    units: tuple[str, ...]
    # (role, variable) naming a log file that replaces the journal when set (Marathon prints
    # its credentials at start-up, so its role sends stdout to a root-only file).
    file_var: tuple[str, str] | None = None


LOG_SOURCES: dict[str, LogSource] = {
    "zookeeper": LogSource("zookeeper", ("zookeeper",)),
    "mesos-master": LogSource("mesos_masters", ("mesos-master",)),
    "mesos-agent": LogSource("mesos_agents", ("mesos-agent",)),
    "marathon": LogSource("marathon", ("marathon",), ("marathon", "marathon_log_file")),
    "kafka": LogSource("kafka", ("kafka",)),
    "cassandra": LogSource("cassandra", ("cassandra",)),
    "spark": LogSource("spark", ("spark-master", "spark-worker", "spark-history",
                                 "spark-mesos-dispatcher")),
    "prometheus": LogSource("prometheus", ("prometheus",)),
}


def log_source(service: str) -> LogSource:
    found = LOG_SOURCES.get(service.replace("_", "-"))
    if found is None:
        raise SmackError(f"no service '{service}'; allowed: {', '.join(LOG_SOURCES)}")
    return found


def find_host(inv: StackInventory, name: str) -> Host:
    if name not in inv.hosts:
        raise SmackError(f"stack {inv.stack} has no node '{name}'; its nodes: "
                         f"{', '.join(inv.hosts) or 'none'}")
    return inv.hosts[name]


def ssh_argv(inv: StackInventory, host: Host, remote: Sequence[str] = (), *,
             interactive: bool = False, sudo: bool = False) -> list[str]:
    """The ssh command line Ansible's connection uses for `host` (same options, key, known
    hosts and proxy), running `remote` (with `sudo`, through sudo where the login is not
    root and Ansible becomes root there too)."""
    hv = host.vars
    argv = ["ssh", *shlex.split(str(inv.group_vars.get("ansible_ssh_common_args") or "")),
            *shlex.split(str(hv.get("ansible_ssh_extra_args") or ""))]
    if not interactive:
        # A log stream must fail, not wait at a password or host-key prompt.
        argv += ["-o", "BatchMode=yes"]
    key = hv.get("ansible_ssh_private_key_file")
    if key:
        argv += ["-i", str(key)]
    user = str(hv.get("ansible_user") or "root")
    argv += ["-p", str(hv.get("ansible_port") or 22), "-l", user]
    if interactive and not remote:
        argv.append("-t")
    argv.append(str(hv.get("ansible_host") or host.address))
    if remote:
        needs_sudo = sudo and user != "root" and hv.get("ansible_become", True) is not False
        argv += ["--", *(["sudo", "-n"] if needs_sudo else []), *remote]
    return argv


def log_command(inv: StackInventory, source: LogSource, host: Host, lines: int,
                follow: bool) -> list[str]:
    """The remote command that prints (and with `follow` keeps printing) the service's log."""
    log_file = inv.text(*source.file_var, host) if source.file_var else ""
    if log_file:
        return ["tail", "-n", str(lines), *(["-F"] if follow else []), log_file]
    units = [arg for unit in source.units for arg in ("-u", unit)]
    return ["journalctl", *units, "--no-pager", "-o", "short-iso", "-n", str(lines),
            *(["-f"] if follow else [])]


def log_hosts(inv: StackInventory, service: str, node: str | None) -> list[Host]:
    source = log_source(service)
    members = inv.members(source.group)
    if node is None:
        if not members:
            raise SmackError(f"stack {inv.stack}: no node runs {service}")
        return members
    host = find_host(inv, node)
    if host.name not in {m.name for m in members}:
        raise SmackError(f"stack {inv.stack}: {node} does not run {service}; it runs on "
                         f"{', '.join(m.name for m in members) or 'no node'}")
    return [host]


def secret_values(credentials: Any) -> list[str]:
    """Every value of the stack's credentials file long enough to be a secret (generated
    passwords and shared secrets are 32-character tokens, key material comes in long lines;
    user names are short), longest first."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.update(line.strip() for line in value.splitlines()
                         if len(line.strip()) >= MIN_SECRET_LENGTH)

    walk(credentials)
    return sorted(found, key=len, reverse=True)


def redact(line: str, secrets: list[str]) -> str:
    for secret in secrets:
        line = line.replace(secret, "[redacted]")
    return line


def stream_logs(inv: StackInventory, service: str, *, node: str | None, lines: int,
                follow: bool, out: Callable[[str], None]) -> list[str]:
    """Print each node's lines as they come, prefixed by the node's name and with the stack's
    secrets masked; return one line per node whose ssh or log command failed (empty when all
    answered)."""
    source = log_source(service)
    hosts = log_hosts(inv, service, node)
    width = max(len(h.name) for h in hosts)
    # Daemons may log a secret themselves (real Marathon 1.11 prints its HTTP credentials at
    # start-up): none of the stack's secrets reaches the terminal.
    hidden = secret_values(inv.credentials)
    lock = threading.Lock()
    failures: list[str] = []
    procs: list[subprocess.Popen[str]] = []

    def pump(host: Host, proc: subprocess.Popen[str]) -> None:
        if proc.stdout is None or proc.stderr is None:
            return
        for line in proc.stdout:
            with lock:
                out(f"{host.name:<{width}} | {redact(line.rstrip(), hidden)}")
        err = proc.stderr.read().strip().splitlines()
        if proc.wait() != 0:
            with lock:
                failures.append(f"{host.name}: exit {proc.returncode}: "
                                f"{err[-1] if err else 'no message'}")

    threads = []
    for host in hosts:
        argv = ssh_argv(inv, host, log_command(inv, source, host, lines, follow), sudo=True)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace")
        procs.append(proc)
        threads.append(threading.Thread(target=pump, args=(host, proc), daemon=True))
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        # Ctrl-C ends a follow: stop every stream this call started.
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
    return sorted(failures)


def open_shell(inv: StackInventory, node: str, command: Sequence[str]) -> int:
    """A login shell on `node` (or `command` there); returns ssh's exit status."""
    host = find_host(inv, node)
    sys.stdout.flush()
    return subprocess.call(ssh_argv(inv, host, command, interactive=True))
