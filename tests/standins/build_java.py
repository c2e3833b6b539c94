"""Build the stand-in `libmesos-java.so` and its scheduler driver jar (smack TEST STAND-IN).

    from tests.standins.build_java import build_driver_jar, build_libmesos_java
    jar = build_driver_jar(out_dir)          # out_dir/mesos-standin-driver.jar
    lib = build_libmesos_java(out_dir)       # out_dir/libmesos-java.so.1.11.0
    lib = build_libmesos_java(out_dir, jar_path=str(jar))   # look for the jar elsewhere

The library's JNI natives hand every MesosSchedulerDriver call to
org.smack.standin.mesos.StandinDriver in the jar (libmesos/libmesos_java.c), which speaks the
stand-in master's private protocol (PROTOCOL.md), so a real Spark job can run on stand-in agents.
Needs javac (openjdk-17-jdk-headless: JDK 11+ with jni.h) and gcc. Both builds are
reproducible: same sources and toolchain, same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
JAVA_SOURCES = HERE / "java"
C_SOURCE = HERE / "libmesos" / "libmesos_java.c"
JAR_NAME = "mesos-standin-driver.jar"
LIBRARY_NAME = "libmesos-java.so.1.11.0"
DEFAULT_JAR_PATH = "/usr/lib/aventer-mesos-standin/mesos-standin-driver.jar"
# Same instant as build.EPOCH (2025-01-01 UTC), not imported from there so that build.py can
# import this module without a cycle.
EPOCH = 1735689600
JDK_PACKAGE = "openjdk-17-jdk-headless"
MANIFEST = (
    "Manifest-Version: 1.0\n"
    "Created-By: smack tests/standins/build_java.py\n"
    "Implementation-Title: smack TEST STAND-IN scheduler driver for libmesos-java.so "
    "(not Apache Mesos)\n"
    "\n"
)


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"{name} is needed to build the stand-in libmesos-java.so (apt-get install {package})"
        )
    return path


def _java_home() -> Path:
    """The JDK whose include/jni.h we compile against: $JAVA_HOME, else javac's."""
    candidates = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    javac = shutil.which("javac")
    if javac is not None:
        candidates.append(Path(os.path.realpath(javac)).parent.parent)
    for home in candidates:
        if (home / "include" / "jni.h").is_file():
            return home
    raise RuntimeError(
        f"no JDK with include/jni.h found (apt-get install {JDK_PACKAGE}, or set JAVA_HOME)"
    )


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=time.gmtime(EPOCH)[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever machine builds it
    info.external_attr = 0o644 << 16
    return info


def build_driver_jar(out_dir: Path) -> Path:
    """Compile tests/standins/java (javac --release 11, no class path) into out_dir/JAR_NAME."""
    javac = _tool("javac", JDK_PACKAGE)
    sources = sorted(str(p.relative_to(JAVA_SOURCES)) for p in JAVA_SOURCES.rglob("*.java"))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / JAR_NAME
    with tempfile.TemporaryDirectory(prefix="smack-driver-jar-") as tmp:
        classes = Path(tmp) / "classes"
        nothing = Path(tmp) / "empty-class-path"
        nothing.mkdir()
        # An empty class path on purpose: Mesos and protobuf are reached by reflection only.
        env = {k: v for k, v in os.environ.items() if k not in ("CLASSPATH", "JDK_JAVA_OPTIONS")}
        subprocess.run(
            [
                javac, "--release", "11", "-encoding", "UTF-8", "-Xlint:all", "-Werror",
                "-implicit:none", "-cp", str(nothing), "-sourcepath", ".",
                "-d", str(classes), *sources,
            ],
            check=True,
            cwd=JAVA_SOURCES,
            env=env,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        entries = sorted(p.relative_to(classes).as_posix() for p in classes.rglob("*.class"))
        partial = out.with_name(out.name + ".tmp")
        with zipfile.ZipFile(partial, "w") as jar:
            # The manifest first, as JarInputStream expects.
            jar.writestr(_zip_entry("META-INF/MANIFEST.MF"), MANIFEST)
            for name in entries:
                jar.writestr(_zip_entry(name), (classes / name).read_bytes())
        partial.chmod(0o644)
        partial.replace(out)
    return out


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_libmesos_java(out_dir: Path, jar_path: str = DEFAULT_JAR_PATH) -> Path:
    """Compile libmesos_java.c into out_dir/LIBRARY_NAME, looking for the jar at jar_path."""
    gcc = _tool("gcc", "gcc")
    home = _java_home()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / LIBRARY_NAME
    # Built next to the source and named relatively, so the object's file symbol does not
    # depend on where the checkout lives.
    subprocess.run(
        [
            gcc, "-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-Wall", "-Wextra",
            "-I", str(home / "include"), "-I", str(home / "include" / "linux"),
            f"-DSMACK_DRIVER_JAR={_c_string(jar_path)}",
            "-Wl,-soname,libmesos-java.so.0", "-Wl,--build-id=none",
            "-o", str(out.resolve()), C_SOURCE.name,
        ],
        check=True,
        cwd=C_SOURCE.parent,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    out.chmod(0o644)  # shared libraries are not executables
    return out
