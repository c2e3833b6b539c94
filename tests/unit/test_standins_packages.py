"""The stand-in Debian packages and apt repository, and mesos-init-wrapper (no nodes, no ZK).

Compared with: real-mesos-samples/install-layout.txt (paths, unit files, package name), the
real build's libraries as issue 13 describes them (libmesos.so without the Java bindings,
libmesos-java.so with them), mesos-packaging-notes.md (wrapper contract, as corrected after a
real 3-master deploy: /etc/mesos/zk is not read), the reference flag tables (data files up to
date).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.standins import gen_flag_tables
from tests.standins.aptrepo import parse_packages
from tests.standins.build import (
    MARATHON_VERSION,
    MESOS_NOJNI_VERSION,
    MESOS_VERSION,
    build_packages,
    build_repository,
)
from tests.standins.harness import reference_dir, samples

pytestmark = pytest.mark.unit

WRAPPER = (
    Path(__file__).resolve().parents[1]
    / "standins/package/aventer-mesos/root/usr/bin/mesos-init-wrapper"
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def variant_debs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The variant without Java bindings, with Apache-style /etc defaults."""
    return build_packages(tmp_path_factory.mktemp("nojni"), jni=False, etc_defaults=True)


def deb(repo: Path, package: str) -> Path:
    return next(repo.glob(f"{package}_*.deb"))


def field(path: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(path), name], check=True, capture_output=True, text=True
    ).stdout.strip()


def listing(path: Path) -> dict[str, str]:
    """path -> 'd', 'f' or 'l -> target' from dpkg-deb -c."""
    out = subprocess.run(
        ["dpkg-deb", "-c", str(path)], check=True, capture_output=True, text=True
    ).stdout
    entries = {}
    for line in out.splitlines():
        mode, _, _, _, _, rest = line.split(None, 5)
        name, _, target = rest.partition(" -> ")
        entries[name.removeprefix(".").rstrip("/") or "/"] = {
            "d": "d",
            "-": "f",
            "l": f"l -> {target}",
        }[mode[0]]
    return entries


def unpack(path: Path, dest: Path) -> Path:
    subprocess.run(["dpkg-deb", "-x", str(path), str(dest)], check=True)
    return dest


def install_layout_units() -> dict[str, str]:
    """The unit files quoted in install-layout.txt."""
    text = (samples() / "install-layout.txt").read_text()
    parts = re.split(r"^# ---- <prefix>/lib/systemd/system/(\S+) ----\n", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_package_names_versions_and_descriptions(repo: Path) -> None:
    layout = (samples() / "install-layout.txt").read_text()
    real_name = re.search(r'CPACK_PACKAGE_NAME "([^"]+)"', layout).group(1)  # type: ignore[union-attr]
    mesos, marathon = deb(repo, real_name), deb(repo, "marathon")
    assert field(mesos, "Package") == real_name == "aventer-mesos"
    assert field(mesos, "Version") == MESOS_VERSION
    assert field(mesos, "Version").startswith("1.11.0-") and "standin" in MESOS_VERSION
    assert (
        field(mesos, "Architecture")
        == subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    assert field(marathon, "Version") == MARATHON_VERSION and MARATHON_VERSION.startswith("1.11.")
    assert field(marathon, "Architecture") == "all"
    assert field(mesos, "Depends") == "python3 (>= 3.11), python3-kazoo"
    assert (
        field(marathon, "Depends") == "python3 (>= 3.11), python3-kazoo, python3-jsonschema, passwd"
    )
    for path in (mesos, marathon):
        assert "TEST STAND-IN" in field(path, "Description")


def test_mesos_paths_match_the_real_install_layout(repo: Path) -> None:
    files = listing(deb(repo, "aventer-mesos"))
    for name in ("mesos-master", "mesos-agent", "mesos-init-wrapper"):
        assert files[f"/usr/bin/{name}"] == "f"
    assert files["/usr/lib/libmesos.so.1.11.0"] == "f"
    assert files["/usr/lib/libmesos.so.0"] == "l -> libmesos.so.1.11.0"
    assert files["/usr/lib/libmesos.so"] == "l -> libmesos.so.0"
    assert files["/usr/lib/libmesos-java.so.1.11.0"] == "f"
    assert files["/usr/lib/libmesos-java.so.0"] == "l -> libmesos-java.so.1.11.0"
    assert files["/usr/lib/libmesos-java.so"] == "l -> libmesos-java.so.0"
    assert files["/usr/libexec/mesos/mesos-executor"] == "f"
    layout = (samples() / "install-layout.txt").read_text()
    assert "<prefix>/libexec/mesos\tEXECUTABLE\tmesos-executor" in layout
    assert files["/usr/lib/systemd/system/mesos-master.service"] == "f"
    assert files["/usr/lib/systemd/system/mesos-agent.service"] == "f"
    assert files["/usr/share/mesos/webui"] == "d"
    assert not [p for p in files if p.startswith("/etc")], (
        "the real aventer-mesos ships no /etc files"
    )


def test_unit_files_are_the_real_ones(repo: Path, tmp_path: Path) -> None:
    root = unpack(deb(repo, "aventer-mesos"), tmp_path)
    for name, content in install_layout_units().items():
        assert (root / "usr/lib/systemd/system" / name).read_text().strip() == content.strip(), name


def test_marathon_paths_and_unit(repo: Path, tmp_path: Path) -> None:
    files = listing(deb(repo, "marathon"))
    assert files["/usr/share/marathon/bin/marathon"] == "f"
    assert files["/usr/bin/marathon"] == "l -> ../share/marathon/bin/marathon"
    assert files["/etc/default/marathon"] == "f"
    root = unpack(deb(repo, "marathon"), tmp_path)
    unit = (root / "usr/lib/systemd/system/marathon.service").read_text()
    assert "EnvironmentFile=-/etc/default/marathon" in unit
    assert "ExecStart=/usr/share/marathon/bin/marathon" in unit
    assert "User=marathon" in unit
    control = subprocess.run(
        ["dpkg-deb", "-e", str(deb(repo, "marathon")), str(tmp_path / "ctl")], check=True
    )
    assert control.returncode == 0
    assert (tmp_path / "ctl/conffiles").read_text() == "/etc/default/marathon\n"
    assert "useradd --system" in (tmp_path / "ctl/postinst").read_text()


def jni_symbols(path: Path) -> list[str]:
    out = subprocess.run(
        ["nm", "-D", "--defined-only", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return [line.split()[-1] for line in out.splitlines() if "Java_org_apache_mesos" in line]


def test_the_java_bindings_are_in_libmesos_java_only(
    repo: Path, variant_debs: list[Path], tmp_path: Path
) -> None:
    """As in the real aventer-mesos: libmesos.so has none, libmesos-java.so has them (with the
    entry points Marathon and Spark call first, and JNI_OnLoad); the ~nojni variant has no
    libmesos-java.so at all."""
    root = unpack(deb(repo, "aventer-mesos"), tmp_path / "default")
    assert jni_symbols(root / "usr/lib/libmesos.so") == []
    bindings = jni_symbols(root / "usr/lib/libmesos-java.so")
    for name in ("Java_org_apache_mesos_MesosNativeLibrary__1version",
                 "Java_org_apache_mesos_MesosSchedulerDriver_initialize",
                 "Java_org_apache_mesos_MesosSchedulerDriver_launchTasks",
                 "Java_org_apache_mesos_MesosExecutorDriver_initialize"):
        assert name in bindings
    assert (root / "usr/lib/aventer-mesos-standin/mesos-standin-driver.jar").is_file()
    assert "libmesos-java.so" in field(deb(repo, "aventer-mesos"), "Description")
    variant = unpack(variant_debs[0], tmp_path / "nojni")
    assert not (variant / "usr/lib/libmesos-java.so").exists()
    assert jni_symbols(variant / "usr/lib/libmesos.so") == []
    assert field(variant_debs[0], "Version") == MESOS_NOJNI_VERSION
    assert "none (no libmesos-java.so" in field(variant_debs[0], "Description")


def test_etc_defaults_option_ships_apache_style_conffiles(
    variant_debs: list[Path], tmp_path: Path
) -> None:
    subprocess.run(["dpkg-deb", "-e", str(variant_debs[0]), str(tmp_path)], check=True)
    conffiles = (tmp_path / "conffiles").read_text().split()
    assert conffiles == [
        "/etc/default/mesos",
        "/etc/default/mesos-agent",
        "/etc/default/mesos-master",
        "/etc/mesos-agent/work_dir",
        "/etc/mesos-master/quorum",
        "/etc/mesos-master/work_dir",
        "/etc/mesos/zk",
    ]


def test_repository_indexes(repo: Path) -> None:
    packages = (repo / "Packages").read_text()
    assert gzip.decompress((repo / "Packages.gz").read_bytes()).decode() == packages
    stanzas = {s["Package"]: s for s in parse_packages(packages)}
    assert set(stanzas) == {"aventer-mesos", "marathon"}
    for stanza in stanzas.values():
        path = repo / stanza["Filename"]
        data = path.read_bytes()
        assert stanza["Size"] == str(len(data))
        assert stanza["SHA256"] == hashlib.sha256(data).hexdigest()
    release = (repo / "Release").read_text()
    for name in ("Packages", "Packages.gz"):
        digest = hashlib.sha256((repo / name).read_bytes()).hexdigest()
        assert re.search(rf"^ {digest} +\d+ {re.escape(name)}$", release, re.MULTILINE)


def test_builds_are_reproducible(repo: Path, tmp_path: Path) -> None:
    again = build_repository(tmp_path)
    for name in (
        "Packages",
        "Release",
        deb(repo, "aventer-mesos").name,
        deb(repo, "marathon").name,
    ):
        assert (again / name).read_bytes() == (repo / name).read_bytes(), name


def test_apt_reads_the_repository(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "lists/partial").mkdir(parents=True)
    (tmp_path / "cache/archives/partial").mkdir(parents=True)
    sources = tmp_path / "sources.list"
    sources.write_text(f"deb [trusted=yes] file:{repo} ./\n")
    options = [
        f"-oDir::State::Lists={tmp_path}/lists",
        f"-oDir::Cache={tmp_path}/cache",
        f"-oDir::Etc::SourceList={sources}",
        "-oDir::Etc::SourceParts=/nonexistent",
    ]
    subprocess.run(["apt-get", "-q", "update", *options], check=True, capture_output=True)
    policy = subprocess.run(
        ["apt-cache", *options, "policy", "aventer-mesos", "marathon"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert f"Candidate: {MESOS_VERSION}" in policy
    assert f"Candidate: {MARATHON_VERSION}" in policy


def test_flag_tables_are_generated_from_the_reference() -> None:
    for name, content in gen_flag_tables.generate(reference_dir()).items():
        assert (gen_flag_tables.DATA_DIR / name).read_text() == content, (
            f"run gen_flag_tables: {name}"
        )
    assert gen_flag_tables.DAEMON_FLAGS.read_text() == gen_flag_tables.daemon_flags(
        reference_dir()), "run gen_flag_tables: infra/daemon_flags.py"


# ----- mesos-init-wrapper -------------------------------------------------------------------

FAKE_DAEMON = """#!/bin/sh
for a in "$@"; do echo "ARG $a"; done
env | grep '^MESOS_' | sort | sed 's/^/ENV /'
echo "ULIMIT $(ulimit -n)"
"""


@pytest.fixture
def wrapper(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the wrapper next to fake daemons that print what they were given."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "mesos-init-wrapper").write_bytes(WRAPPER.read_bytes())
    for name in ("mesos-init-wrapper", "mesos-master", "mesos-agent"):
        if name != "mesos-init-wrapper":
            (bindir / name).write_text(FAKE_DAEMON)
        (bindir / name).chmod(0o755)
    etc = tmp_path / "etc"
    for sub in (
        "mesos",
        "default",
        "mesos-master",
        "mesos-agent/attributes",
        "mesos-agent/resources",
    ):
        (etc / sub).mkdir(parents=True)
    return bindir / "mesos-init-wrapper", etc


def run_wrapper(
    script: Path, etc: Path, *args: str, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path or os.environ["PATH"], "SMACK_STANDIN_SYSCONFDIR": str(etc)}
    command = [str(script), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=10, check=False)


def test_wrapper_turns_config_files_into_flags(wrapper: tuple[Path, Path]) -> None:
    script, etc = wrapper
    (etc / "mesos/zk").write_text("zk://10.9.9.9:2181/not-read\n")
    (etc / "default/mesos").write_text(
        'ULIMIT="-n 4096"\nMESOS_LOGGING_LEVEL=WARNING\nLOGS=/var/log/mesos\n'
    )
    (etc / "default/mesos-agent").write_text(
        "IP=10.0.0.5\nMASTER=zk://10.0.0.1:2181,10.0.0.2:2181/mesos\n")
    (etc / "mesos-agent/work_dir").write_text("/var/lib/mesos/agent\n")
    (etc / "mesos-agent/work_dir.dpkg-dist").write_text("/ignored\n")
    (etc / "mesos-agent/containerizers.rpmnew").write_text("docker\n")
    (etc / "mesos-agent/?no-switch_user").touch()
    (etc / "mesos-agent/?hostname_lookup").touch()
    (etc / "mesos-agent/attributes/rack").write_text("r1\n")
    (etc / "mesos-agent/attributes/zone").write_text("z1\n")
    (etc / "mesos-agent/resources/cpus").write_text("4\n")
    (etc / "mesos-agent/resources/ports").write_text("[31000-31100]\n")
    result = run_wrapper(script, etc, "--no-logger", "agent")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        "ARG --ip=10.0.0.5",
        "ARG --log_dir=/var/log/mesos",
        "ARG --master=zk://10.0.0.1:2181,10.0.0.2:2181/mesos",
        "ARG --hostname_lookup",
        "ARG --no-switch_user",
        "ARG --attributes=rack:r1;zone:z1",
        "ARG --resources=cpus:4;ports:[31000-31100]",
        "ARG --work_dir=/var/lib/mesos/agent",
        "ENV MESOS_LOGGING_LEVEL=WARNING",
        "ULIMIT 4096",
    ]


def test_wrapper_master_and_file_precedence(wrapper: tuple[Path, Path]) -> None:
    script, etc = wrapper
    (etc / "default/mesos-master").write_text("PORT=5050\nCLUSTER=smack\nZK=zk://zk1:2181/mesos\n")
    (etc / "mesos-master/quorum").write_text("2\n")
    (etc / "mesos-master/port").write_text("5055\n")  # a per-flag file wins over PORT
    result = run_wrapper(script, etc, "master", "--no-logger")
    assert result.returncode == 0, result.stderr
    args = [line for line in result.stdout.splitlines() if line.startswith("ARG")]
    assert args == [
        "ARG --zk=zk://zk1:2181/mesos",
        "ARG --cluster=smack",
        "ARG --port=5055",
        "ARG --quorum=2",
    ]


@pytest.mark.parametrize("role", ["master", "agent"])
def test_the_wrapper_never_reads_etc_mesos_zk(wrapper: tuple[Path, Path], role: str) -> None:
    """A real 3-master deploy with only /etc/mesos/zk written: every master ran without --zk
    (and elected itself), issue 13. The ZooKeeper URL comes from ZK / MASTER or a flag file."""
    script, etc = wrapper
    (etc / "mesos/zk").write_text("zk://zk1:2181/mesos\n")
    args = [line for line in run_wrapper(script, etc, "--no-logger", role).stdout.splitlines()
            if line.startswith("ARG")]
    assert not [a for a in args if a.startswith(("ARG --zk", "ARG --master"))], args
    flag = "zk" if role == "master" else "master"
    (etc / f"mesos-{role}" / flag).write_text("zk://zk2:2181/mesos\n")
    args = [line for line in run_wrapper(script, etc, "--no-logger", role).stdout.splitlines()
            if line.startswith("ARG")]
    assert f"ARG --{flag}=zk://zk2:2181/mesos" in args


def test_the_apache_style_defaults_pass_etc_mesos_zk_on(
    variant_debs: list[Path], tmp_path: Path
) -> None:
    """The etc_defaults variant is what the Apache/Mesosphere packages shipped: their
    /etc/default files hand /etc/mesos/zk to the wrapper through ZK and MASTER."""
    root = unpack(variant_debs[0], tmp_path / "root")
    assert "ZK=`cat /etc/mesos/zk`" in (root / "etc/default/mesos-master").read_text()
    assert "MASTER=`cat /etc/mesos/zk`" in (root / "etc/default/mesos-agent").read_text()


def test_wrapper_logs_through_logger(wrapper: tuple[Path, Path], tmp_path: Path) -> None:
    script, etc = wrapper
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "logger").write_text(
        f'#!/bin/sh\nwhile read -r line; do echo "$*: $line" >> {tmp_path}/syslog; done\n'
    )
    (fake / "logger").chmod(0o755)
    result = run_wrapper(script, etc, "master", path=f"{fake}:{os.environ['PATH']}")
    assert result.returncode == 0 and result.stdout == ""
    syslog = (tmp_path / "syslog").read_text() if (tmp_path / "syslog").exists() else ""
    for _ in range(100):  # the logger processes finish after the daemon
        if "ULIMIT" in syslog:
            break
        time.sleep(0.05)
        syslog = (tmp_path / "syslog").read_text() if (tmp_path / "syslog").exists() else ""
    assert re.search(r"^-p user\.info -t mesos-master\[\d+\]: ULIMIT \d+$", syslog, re.MULTILINE), (
        syslog
    )


def test_wrapper_usage(wrapper: tuple[Path, Path]) -> None:
    script, etc = wrapper
    result = run_wrapper(script, etc, "scheduler")
    assert result.returncode == 1
    assert "Usage: mesos-init-wrapper [--no-logger] master|agent" in result.stderr


def test_a_rebuild_in_place_touches_no_file(repo: Path) -> None:
    # The suite's two lanes may build the repository at the same time nodes read it.
    before = {p.name: p.stat().st_mtime_ns for p in repo.iterdir()}
    build_repository(repo)
    assert {p.name: p.stat().st_mtime_ns for p in repo.iterdir()} == before
    assert not list(repo.parent.glob(f".{repo.name}-*"))  # the staging directory is gone
