"""Preflight of existing hosts: can smack log in, and can the host carry what it is given?

Checked over SSH (paramiko) before any Ansible run: login with the configured key (or the ssh
agent), passwordless sudo, OS family and version, architecture, memory, free disk and that the
ports of the host's services are free. Every problem becomes one line `<host>: <problem>`;
`PreflightError` carries all of them at once.

The checks are split in two: `check_host` runs commands through any `Shell` and judges their
output (unit tests feed it fake outputs), and `ssh_preflight` opens the real SSH session.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from infra.errors import SmackError

ALLOWED_OS = "Debian 12, Ubuntu 22.04 or newer, Rocky Linux 9 or AlmaLinux 9"
ARCHITECTURES = ("x86_64", "aarch64")
# Mount points whose free space counts: releases go to /opt, data to /var/lib.
DISK_PATHS = ("/", "/var/lib", "/opt")
KEY = "smack:baremetal"


class PreflightError(SmackError):
    """One or more hosts failed preflight; nothing was installed on any host."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        hosts = len({p.split(":", 1)[0] for p in problems})
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"preflight found {len(problems)} problem(s) on {hosts} host(s); nothing was "
            f"installed (Ansible did not run):\n{lines}"
        )


# ------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class PortNeed:
    """A TCP port a service of this host will listen on."""

    port: int
    what: str  # e.g. "ZooKeeper client port (zookeeper_client_port)"
    # systemd units that hold the port once smack's service runs: active means "ours".
    units: tuple[str, ...]


@dataclass(frozen=True)
class HostSpec:
    """One host as preflight sees it."""

    name: str
    index: int
    address: str
    port: int = 22
    user: str = "root"
    key_file: str = ""
    become: bool = True
    min_memory_mb: int = 2048
    min_disk_gb: int = 10
    ports: tuple[PortNeed, ...] = ()
    # Pinned in the settings; else the key the last successful preflight saw (may be empty).
    host_key: str = ""
    pinned: bool = False
    timeout: float = 15.0

    def to_props(self) -> dict[str, Any]:
        return {
            "name": self.name, "index": self.index, "address": self.address,
            "port": self.port, "user": self.user, "key_file": self.key_file,
            "become": self.become, "min_memory_mb": self.min_memory_mb,
            "min_disk_gb": self.min_disk_gb, "host_key": self.host_key,
            "pinned": self.pinned, "timeout": self.timeout,
            "ports": [{"port": p.port, "what": p.what, "units": list(p.units)}
                      for p in self.ports],
        }

    @classmethod
    def from_props(cls, props: dict[str, Any]) -> HostSpec:
        return cls(
            name=str(props["name"]), index=int(props.get("index", 0)),
            address=str(props["address"]), port=int(props.get("port", 22)),
            user=str(props.get("user", "root")), key_file=str(props.get("key_file") or ""),
            become=bool(props.get("become", True)),
            min_memory_mb=int(props.get("min_memory_mb", 2048)),
            min_disk_gb=int(props.get("min_disk_gb", 10)),
            host_key=str(props.get("host_key") or ""), pinned=bool(props.get("pinned", False)),
            timeout=float(props.get("timeout", 15)),
            ports=tuple(PortNeed(int(p["port"]), str(p["what"]), tuple(p["units"]))
                        for p in props.get("ports") or []),
        )

    @property
    def where(self) -> str:
        return f"{KEY}.hosts[{self.index}]"

    @property
    def login(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


@dataclass
class HostReport:
    name: str
    host_key: str = ""
    problems: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)

    def add(self, problem: str) -> None:
        self.problems.append(f"{self.name}: {problem}")


class Shell(Protocol):
    def run(self, command: str) -> tuple[int, str, str]:
        """Run `command` on the host; return exit status, stdout and stderr."""


# ----------------------------------------------------------------------------- parsing


def parse_os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            try:
                parts = shlex.split(value)
            except ValueError:
                parts = [value]
            out[key] = parts[0] if parts else ""
    return out


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def os_problem(release: dict[str, str]) -> str | None:
    """None when the OS is supported, else what is wrong."""
    os_id = release.get("ID", "").lower()
    version = release.get("VERSION_ID", "")
    major = _version(version)[:1]
    supported = (
        (os_id == "debian" and major == (12,))
        or (os_id == "ubuntu" and _version(version) >= (22, 4))
        or (os_id in ("rocky", "almalinux") and major == (9,))
    )
    if supported:
        return None
    name = release.get("PRETTY_NAME") or f"{os_id or 'unknown'} {version}".strip()
    return f"OS {name} is not supported; allowed: {ALLOWED_OS}"


def memory_mb(meminfo: str) -> int:
    """MemTotal of /proc/meminfo in MiB (0 when missing)."""
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", meminfo, re.MULTILINE)
    return int(match.group(1)) // 1024 if match else 0


def cgroup_limit_mb(text: str) -> int | None:
    """A cgroup memory limit (memory.max or memory.limit_in_bytes) in MiB; None when unlimited."""
    values = [int(v) for v in re.findall(r"^\s*(\d+)\s*$", text, re.MULTILINE)]
    limited = [v for v in values if v < 2**60]
    return min(limited) // (1024 * 1024) if limited else None


def disk_free(df_text: str) -> dict[str, int]:
    """`df -Pk` output → mount point → free KiB."""
    out: dict[str, int] = {}
    for line in df_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 6 and fields[3].isdigit():
            out[fields[5]] = int(fields[3])
    return out


def listening(ss_text: str) -> dict[int, str]:
    """`ss -Hltn[p]` output → port → owning process name (empty when ss could not tell)."""
    out: dict[int, str] = {}
    for line in ss_text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].startswith("LISTEN"):
            continue
        _, sep, port = fields[3].rpartition(":")
        if not sep or not port.isdigit():
            continue
        procs = re.findall(r'\("([^"]+)",pid=(\d+)', line)
        who = ", ".join(f"{name} (pid {pid})" for name, pid in procs)
        if who or int(port) not in out:
            out[int(port)] = who
    return out


def active_units(units: list[str], text: str) -> set[str]:
    """`systemctl is-active u1 u2 …` prints one state per unit, in order."""
    states = text.split()
    return {u for u, state in zip(units, states, strict=False) if state == "active"}


# ------------------------------------------------------------------------------ checks


def _short(text: str) -> str:
    lines = [x.strip() for x in text.strip().splitlines() if x.strip()]
    return lines[-1] if lines else "no output"


def check_host(spec: HostSpec, shell: Shell, report: HostReport) -> HostReport:
    """Run every check after a successful login; problems are added to `report`."""
    sudo = "sudo -n " if spec.become else ""
    if spec.become:
        rc, out, err = shell.run("sudo -n true")
        if rc != 0:
            report.add(f"sudo without a password does not work for {spec.user} "
                       f"(sudo -n true: {_short(err or out)}); allow it in /etc/sudoers.d, "
                       f"or log in as root with become: false ({spec.where})")
            sudo = ""
    else:
        rc, out, _ = shell.run("id -u")
        if out.strip() != "0":
            report.add(f"become is false, but {spec.user} is not root; the roles need root: "
                       f"set become: true (with passwordless sudo) or user: root ({spec.where})")

    _, out, _ = shell.run("cat /etc/os-release")
    release = parse_os_release(out)
    report.facts["os"] = release.get("PRETTY_NAME", "")
    problem = os_problem(release)
    if problem:
        report.add(problem)

    _, out, _ = shell.run("uname -m")
    arch = out.strip()
    report.facts["arch"] = arch
    if arch not in ARCHITECTURES:
        report.add(f"architecture {arch or 'unknown'} is not supported; allowed: "
                   f"{' or '.join(ARCHITECTURES)}")

    _, out, _ = shell.run("cat /proc/meminfo")
    total = memory_mb(out)
    _, out, _ = shell.run("cat /sys/fs/cgroup/memory.max "
                          "/sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null")
    limit = cgroup_limit_mb(out)
    usable = min(total, limit) if limit is not None else total
    report.facts["memory_mb"] = str(usable)
    if usable < spec.min_memory_mb:
        report.add(f"{usable} MiB of memory, less than the {spec.min_memory_mb} MiB required "
                   f"({KEY}.min_memory_mb, or min_memory_mb of {spec.where})")

    _, out, _ = shell.run(f"df -Pk {' '.join(DISK_PATHS)} 2>/dev/null")
    free = disk_free(out)
    need_kb = spec.min_disk_gb * 1024 * 1024
    if not free:
        report.add(f"could not read free disk space (df -Pk {' '.join(DISK_PATHS)})")
    for mount, kb in sorted(free.items()):
        if kb < need_kb:
            report.add(f"{kb / 1024 / 1024:.1f} GiB free on {mount}, less than the "
                       f"{spec.min_disk_gb} GiB required ({KEY}.min_disk_gb, or min_disk_gb "
                       f"of {spec.where})")

    if spec.ports:
        _check_ports(spec, shell, report, sudo)
    return report


def _check_ports(spec: HostSpec, shell: Shell, report: HostReport, sudo: str) -> None:
    units = sorted({u for need in spec.ports for u in need.units})
    _, out, _ = shell.run("systemctl is-active " + " ".join(units))
    ours = active_units(units, out)
    rc, out, err = shell.run(f"{sudo}ss -Hltn{'p' if sudo else ''}")
    if rc != 0:
        report.add(f"could not list the listening ports (ss -Hltn: {_short(err or out)}); "
                   f"install iproute2")
        return
    taken = listening(out)
    for need in sorted(spec.ports, key=lambda n: n.port):
        if need.port not in taken or ours & set(need.units):
            continue
        who = f" by {taken[need.port]}" if taken[need.port] else ""
        report.add(f"port {need.port} ({need.what}) is already in use{who}; stop that "
                   f"program or choose another port in the service's vars")


# --------------------------------------------------------------------------------- ssh


class HostKeyMismatch(Exception):
    pass


def _key_line(key: Any) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def _abbrev(key: str) -> str:
    kind, _, data = key.partition(" ")
    return f"{kind} …{data[-12:]}" if data else key


def _wanted_key_types(expected: str) -> list[str] | None:
    """Host key algorithms that can show the expected key (None: any)."""
    kind = expected.split(" ", 1)[0]
    if not kind:
        return None
    if kind == "ssh-rsa":
        return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
    return [kind]


class _ParamikoShell:
    def __init__(self, client: Any, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    def run(self, command: str) -> tuple[int, str, str]:
        _, stdout, stderr = self.client.exec_command(
            f"LC_ALL=C sh -c {shlex.quote(command)}", timeout=self.timeout)
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        return stdout.channel.recv_exit_status(), out, err


def ssh_preflight(spec: HostSpec) -> HostReport:
    """Log into the host with paramiko and run every check."""
    import paramiko  # noqa: PLC0415 - only the provider process needs it

    report = HostReport(spec.name)
    key_file = str(Path(spec.key_file).expanduser()) if spec.key_file else ""
    if key_file and not Path(key_file).is_file():
        report.add(f"key file {spec.key_file} does not exist on this machine "
                   f"(key_file of {spec.where})")
        return report
    seen: list[str] = []

    class _Pin(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            line = _key_line(key)
            seen.append(line)
            if spec.host_key and line != spec.host_key:
                raise HostKeyMismatch(line)

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_Pin())
    wanted = _wanted_key_types(spec.host_key)
    disabled = ({"keys": [k for k in paramiko.Transport._preferred_keys if k not in wanted]}
                if wanted else None)
    how = f"with key {spec.key_file}" if key_file else "with the ssh agent's keys"
    try:
        client.connect(
            spec.address, port=spec.port, username=spec.user,
            key_filename=key_file or None, allow_agent=not key_file, look_for_keys=not key_file,
            timeout=spec.timeout, banner_timeout=spec.timeout, auth_timeout=spec.timeout,
            disabled_algorithms=disabled,
        )
        report.host_key = seen[0] if seen else _key_line(
            client.get_transport().get_remote_server_key())
        check_host(spec, _ParamikoShell(client, spec.timeout), report)
    except HostKeyMismatch as exc:
        if spec.pinned:
            report.add(f"host key {_abbrev(str(exc))} is not the pinned {_abbrev(spec.host_key)} "
                       f"(host_key of {spec.where}); if the host was reinstalled, put its new "
                       f"key there")
        else:
            report.add(f"host key changed since the last preflight (was "
                       f"{_abbrev(spec.host_key)}, now {_abbrev(str(exc))}); if the host was "
                       f"reinstalled, set host_key of {spec.where} to its new key")
    except paramiko.PasswordRequiredException:
        report.add(f"key file {spec.key_file} is protected by a passphrase; load it into "
                   f"ssh-agent and leave key_file of {spec.where} empty")
    except paramiko.AuthenticationException as exc:
        report.add(f"SSH login as {spec.login} {how} was refused ({exc}); check user and "
                   f"key_file of {spec.where}, and that the public key is in the user's "
                   f"~/.ssh/authorized_keys")
    except paramiko.SSHException as exc:
        report.add(f"SSH to {spec.address}:{spec.port} failed: {exc}")
    except TimeoutError:
        report.add(f"no SSH answer from {spec.address}:{spec.port} within {spec.timeout:.0f}s "
                   f"(address and port of {spec.where})")
    except OSError as exc:
        report.add(f"cannot reach SSH at {spec.address}:{spec.port}: "
                   f"{exc.strerror or exc} (address and port of {spec.where})")
    finally:
        client.close()
    return report


def run_preflight(specs: Iterable[HostSpec],
                  check: Callable[[HostSpec], HostReport] = ssh_preflight) -> list[HostReport]:
    """Check every host (in parallel); raise PreflightError listing every problem."""
    specs = list(specs)
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(specs)))) as pool:
        reports = list(pool.map(check, specs))
    problems = [p for r in reports for p in r.problems]
    if problems:
        raise PreflightError(problems)
    return reports
