"""Build the stand-in Debian packages and a flat apt repository.

    from tests.standins.build import build_packages, build_repository
    debs = build_packages(out_dir)     # [aventer-mesos_..._amd64.deb, marathon_..._all.deb]
    repo = build_repository(out_dir)   # out_dir with the .debs, Packages[.gz], Release
    build_repository(out_dir, jni=False)          # no libmesos-java.so (no Java bindings at all)
    build_repository(out_dir, etc_defaults=True)  # also Apache-style /etc/mesos* defaults

or from the repository root (DIR defaults to tests/standins/build/repo):
    .venv/bin/python -m tests.standins.build [--no-jni] [--etc-defaults] [DIR]

Needs gcc, javac (for libmesos-java.so and its driver jar) and dpkg-deb. Builds are
reproducible: same sources, same bytes.
Package names, paths and unit files are the real ones (real-mesos-samples/install-layout.txt);
the Description of both packages says they are smack TEST STAND-INS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.standins.aptrepo import write_repository
from tests.standins.build_java import build_driver_jar, build_libmesos_java

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = HERE / "package"
SOURCE_DIR = HERE / "standin"
MESOS_PACKAGE = "aventer-mesos"
# The default build is laid out like the real aventer-mesos 1.11.0 (libmesos.so without Java
# bindings, libmesos-java.so with them); ~nojni sorts before it and lacks libmesos-java.so.
MESOS_VERSION = "1.11.0-0standin2"
MESOS_NOJNI_VERSION = "1.11.0-0standin2~nojni1"
MARATHON_PACKAGE = "marathon"
MARATHON_VERSION = "1.11.24-0standin2"
# Fixed timestamp for file mtimes and the Release Date (2025-01-01): a date in the past, so
# apt never calls the repository "not valid yet" on a machine with an older clock.
EPOCH = 1735689600
MESOS_LIB = "usr/lib/aventer-mesos-standin"
MARATHON_LIB = "usr/share/marathon/lib"
MESOS_MODULES = (
    "__init__.py", "acls.py", "agent_checks.py", "agent_tasks.py", "auth.py", "client.py",
    "common.py", "flags.py", "glog.py", "httpd.py", "lifecycle.py", "maintenance.py",
    "master_model.py", "master_registry.py", "master_scheduling.py", "mesos_agent.py",
    "mesos_executor.py", "mesos_master.py", "metrics.py", "resources.py", "zk.py",
    "data/mesos-master-flags.json", "data/mesos-agent-flags.json",
)  # fmt: skip
MARATHON_MODULES = (
    "__init__.py", "auth.py", "client.py", "common.py", "glog.py", "httpd.py", "lifecycle.py",
    "marathon.py", "marathon_api.py", "marathon_apps.py", "marathon_flags.py",
    "marathon_http.py", "marathon_launcher.py", "marathon_scheduler.py", "zk.py",
    "data/marathon-flags.json", "data/marathon-app.schema.json", "data/marathon-metrics.json",
)  # fmt: skip

LAUNCHER = '''#!/usr/bin/python3 -I
"""{name} -- smack TEST STAND-IN launcher ({what}); see /usr/share/doc/{package}/README.standin."""
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, {lib!r}))
from standin.{module} import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
'''

README = """{package} -- smack TEST STAND-IN, not {real}.

This package was built by the smack project's test suite (tests/standins/build.py). It installs
the same package name, paths and systemd unit names as the real {real} package, accepts the
same flags and answers the same HTTP endpoints, so deployment roles can be tested on machines
where the real software cannot be installed.
"""

MESOS_DESCRIPTION = """smack TEST STAND-IN for Apache Mesos 1.11 (not Mesos)
 Test double built by the smack project's test suite. It has the paths and
 systemd units of the real aventer-mesos (clusterd 1.11) package: mesos-master,
 mesos-agent and mesos-init-wrapper in /usr/bin, the command executor in
 /usr/libexec/mesos, libmesos.so in /usr/lib, mesos-master.service and
 mesos-agent.service. The daemons are small Python programs that accept the
 real flags, register in ZooKeeper like real masters, answer the HTTP endpoints
 and run command tasks as their users. It is NOT Apache Mesos.
 Java bindings: {variant}."""

MARATHON_DESCRIPTION = """smack TEST STAND-IN for Marathon 1.11 (not Marathon)
 Test double built by the smack project's test suite. It has the paths of the
 real marathon package (/usr/share/marathon/bin/marathon, /usr/bin/marathon,
 marathon.service reading /etc/default/marathon). It elects a leader in
 ZooKeeper, registers with the (stand-in) Mesos master, runs apps as tasks with
 health checks and deployments, and answers the REST API. It is NOT Marathon."""


def _run(*cmd: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(list(cmd), check=True, env=env, stdout=subprocess.DEVNULL)


def _architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _copy_modules(modules: tuple[str, ...], dest: Path) -> None:
    for name in modules:
        target = dest / "standin" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOURCE_DIR / name, target)


def _launcher(path: Path, *, name: str, module: str, lib: str, what: str, package: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LAUNCHER.format(name=name, module=module, lib=lib, what=what, package=package))
    path.chmod(0o755)


def build_libmesos(dest_dir: Path) -> Path:
    """Compile libmesos.so.1.11.0 (no Java entry points, like the real one) into dest_dir."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("gcc is needed to build the stand-in libmesos.so (apt-get install gcc)")
    out = dest_dir / "libmesos.so.1.11.0"
    _run(
        gcc, "-shared", "-fPIC", "-O2", "-fvisibility=hidden",
        "-Wl,-soname,libmesos.so.0", "-Wl,--build-id=none",
        "-o", str(out), str(HERE / "libmesos" / "libmesos.c"),
    )  # fmt: skip
    out.chmod(0o644)  # shared libraries are not executables
    return out


def _stage_mesos(root: Path, *, jni: bool, etc_defaults: bool) -> list[str]:
    """Fill the aventer-mesos tree; returns its conffiles."""
    shutil.copytree(PACKAGE_DIR / MESOS_PACKAGE / "root", root, dirs_exist_ok=True)
    _copy_modules(MESOS_MODULES, root / MESOS_LIB)
    for role in ("master", "agent"):
        _launcher(
            root / "usr/bin" / f"mesos-{role}",
            name=f"mesos-{role}",
            module=f"mesos_{role}",
            lib=os.path.join(os.pardir, "lib", "aventer-mesos-standin"),
            what="not Apache Mesos",
            package=MESOS_PACKAGE,
        )
    # The command executor, where the agent's --launcher_dir default looks for it.
    _launcher(
        root / "usr/libexec/mesos/mesos-executor",
        name="mesos-executor",
        module="mesos_executor",
        lib=os.path.join(os.pardir, os.pardir, "lib", "aventer-mesos-standin"),
        what="not Apache Mesos",
        package=MESOS_PACKAGE,
    )
    lib = root / "usr/lib"
    build_libmesos(lib)
    (lib / "libmesos.so.0").symlink_to("libmesos.so.1.11.0")
    (lib / "libmesos.so").symlink_to("libmesos.so.0")
    if jni:
        # Like the real build: the Java bindings in a library of their own, whose driver
        # (the stand-in's, a jar) speaks to the stand-in master.
        build_driver_jar(root / MESOS_LIB)
        build_libmesos_java(lib, jar_path=f"/{MESOS_LIB}/mesos-standin-driver.jar")
        (lib / "libmesos-java.so.0").symlink_to("libmesos-java.so.1.11.0")
        (lib / "libmesos-java.so").symlink_to("libmesos-java.so.0")
    _readme(root, MESOS_PACKAGE, "Apache Mesos")
    conffiles: list[str] = []
    if etc_defaults:
        shutil.copytree(PACKAGE_DIR / MESOS_PACKAGE / "etc-defaults", root, dirs_exist_ok=True)
        conffiles = sorted(
            "/" + str(p.relative_to(root)) for p in (root / "etc").rglob("*") if p.is_file()
        )
    return conffiles


def _stage_marathon(root: Path) -> None:
    shutil.copytree(PACKAGE_DIR / MARATHON_PACKAGE / "root", root, dirs_exist_ok=True)
    _copy_modules(MARATHON_MODULES, root / MARATHON_LIB)
    _launcher(
        root / "usr/share/marathon/bin/marathon",
        name="marathon",
        module="marathon",
        lib=os.path.join(os.pardir, "lib"),
        what="not Marathon",
        package=MARATHON_PACKAGE,
    )
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    (root / "usr/bin/marathon").symlink_to("../share/marathon/bin/marathon")
    _readme(root, MARATHON_PACKAGE, "Marathon")


def _readme(root: Path, package: str, real: str) -> None:
    doc = root / "usr/share/doc" / package
    doc.mkdir(parents=True, exist_ok=True)
    (doc / "README.standin").write_text(README.format(package=package, real=real))


def _installed_size(root: Path) -> int:
    total = sum(
        p.lstat().st_size for p in root.rglob("*") if p.is_file() and "DEBIAN" not in p.parts
    )
    return max(1, (total + 1023) // 1024)


def _normalise(root: Path) -> None:
    """Modes and mtimes fixed, so the .deb bytes only depend on the content."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_symlink():
            os.utime(path, (EPOCH, EPOCH), follow_symlinks=False)
            continue
        executable = path.is_dir() or bool(path.stat().st_mode & 0o111)
        path.chmod(0o755 if executable else 0o644)
        os.utime(path, (EPOCH, EPOCH))
    os.utime(root, (EPOCH, EPOCH))


def _control(root: Path, fields: dict[str, str]) -> None:
    debian = root / "DEBIAN"
    debian.mkdir(exist_ok=True)
    fields = {**fields, "Installed-Size": str(_installed_size(root))}
    order = ("Package", "Version", "Architecture", "Maintainer", "Installed-Size", "Depends",
             "Section", "Priority", "Description")  # fmt: skip
    text = "".join(f"{k}: {fields[k]}\n" for k in order if k in fields)
    (debian / "control").write_text(text)


def _dpkg_deb(root: Path, out_dir: Path, name: str) -> Path:
    _normalise(root)
    target = out_dir / name
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
    _run("dpkg-deb", "--build", "--root-owner-group", "-Zxz", str(root), str(target), env=env)
    return target


def build_packages(
    out_dir: Path | str, *, jni: bool = True, etc_defaults: bool = False
) -> list[Path]:
    """Build aventer-mesos and marathon into out_dir; returns the two .deb paths.

    jni: ship libmesos-java.so with the Java (JNI) bindings next to libmesos.so, as the real
    aventer-mesos 1.11.0 does; jni=False leaves it out (version ...~nojni1), a package whose
    Marathon and Spark cannot start.
    etc_defaults: also ship /etc/mesos/zk, /etc/default/mesos*, /etc/mesos-master/{work_dir,
    quorum} and /etc/mesos-agent/work_dir as the Apache/Mesosphere packages did. The real
    aventer-mesos (install-layout.txt) ships no /etc files, so the default is not to.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arch = _architecture()
    maintainer = "smack test suite <smack-standins@localhost>"
    with tempfile.TemporaryDirectory(prefix="standin-build-") as tmp:
        mesos_root = Path(tmp) / MESOS_PACKAGE
        conffiles = _stage_mesos(mesos_root, jni=jni, etc_defaults=etc_defaults)
        version = MESOS_VERSION if jni else MESOS_NOJNI_VERSION
        variant = (
            "libmesos-java.so (libmesos.so has none, like the real build)"
            if jni
            else "none (no libmesos-java.so; libmesos.so has no Java entry points)"
        )
        _control(
            mesos_root,
            {
                "Package": MESOS_PACKAGE,
                "Version": version,
                "Architecture": arch,
                "Maintainer": maintainer,
                "Depends": "python3 (>= 3.11), python3-kazoo",
                "Section": "misc",
                "Priority": "optional",
                "Description": MESOS_DESCRIPTION.format(variant=variant),
            },
        )
        if conffiles:
            (mesos_root / "DEBIAN/conffiles").write_text("".join(f"{c}\n" for c in conffiles))
        mesos_deb = _dpkg_deb(mesos_root, out, f"{MESOS_PACKAGE}_{version}_{arch}.deb")

        marathon_root = Path(tmp) / MARATHON_PACKAGE
        _stage_marathon(marathon_root)
        shutil.copytree(PACKAGE_DIR / MARATHON_PACKAGE / "DEBIAN", marathon_root / "DEBIAN")
        _control(
            marathon_root,
            {
                "Package": MARATHON_PACKAGE,
                "Version": MARATHON_VERSION,
                "Architecture": "all",
                "Maintainer": maintainer,
                "Depends": "python3 (>= 3.11), python3-kazoo, python3-jsonschema, passwd",
                "Section": "misc",
                "Priority": "optional",
                "Description": MARATHON_DESCRIPTION,
            },
        )
        marathon_deb = _dpkg_deb(
            marathon_root, out, f"{MARATHON_PACKAGE}_{MARATHON_VERSION}_all.deb"
        )
    return [mesos_deb, marathon_deb]


def build_repository(out_dir: Path | str, *, jni: bool = True, etc_defaults: bool = False) -> Path:
    """Build both packages into out_dir and make it a flat apt repository; returns out_dir.

    apt source line:  deb [trusted=yes] file:<out_dir> ./
    The repository is built aside and published file by file, each replaced atomically and
    only when its bytes differ: builds are reproducible, so a rebuild touches nothing, and a
    build running beside another (the suite's two lanes) never shows a node a half-written
    or missing file. Other .debs of these packages are removed, so the index lists one version.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent) as tmp:
        staged = Path(tmp)
        write_repository(staged, build_packages(staged, jni=jni, etc_defaults=etc_defaults),
                         EPOCH)
        built = sorted(p for p in staged.iterdir() if p.is_file())
        # Packages before the indexes that name them.
        for path in sorted(built, key=lambda p: p.suffix != ".deb"):
            target = out / path.name
            if not target.exists() or target.read_bytes() != path.read_bytes():
                path.replace(target)
        names = {p.name for p in built}
    for old in [*out.glob(f"{MESOS_PACKAGE}_*.deb"), *out.glob(f"{MARATHON_PACKAGE}_*.deb")]:
        if old.name not in names:
            old.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the smack Mesos/Marathon stand-in apt repository."
    )
    parser.add_argument("out_dir", type=Path, nargs="?", default=HERE / "build" / "repo")
    parser.add_argument(
        "--no-jni", dest="jni", action="store_false",
        help="leave libmesos-java.so (the Java bindings) out",
    )
    parser.add_argument(
        "--etc-defaults", action="store_true", help="ship Apache-style /etc/mesos* defaults"
    )
    args = parser.parse_args(argv)
    repo = build_repository(args.out_dir, jni=args.jni, etc_defaults=args.etc_defaults)
    for path in sorted(repo.iterdir()):
        print(path)
    print(f"apt source: deb [trusted=yes] file:{repo.resolve()} ./")
    return 0


if __name__ == "__main__":
    sys.exit(main())
