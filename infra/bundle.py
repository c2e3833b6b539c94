"""`smack bundle`: the offline artifact bundle the roles install from.

The Apache download sites are out of reach on the machines this project is built on, so the
JVM services are assembled from Maven artifacts (every runtime dependency, resolved by `mvn`)
and Spark from the `pyspark` source distribution on PyPI, which carries Spark's jars and
scripts. Each service becomes one deterministic tarball whose top directory has the name and
layout of the Apache release (`kafka_2.13-4.1.1/libs/*.jar`, …), so a role installs an Apache
tarball and a bundle tarball the same way: unpack, then `java -cp '<top>/<classpath_dir>/*'
<MainClass>`. `manifest.json` records what each tarball holds, with sha256 sums.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich import box
from rich.console import Console
from rich.table import Table

from infra.config import ArtifactSettings, Settings
from infra.errors import SmackError
from infra.render import render

MANIFEST_NAME = "manifest.json"
FORMAT = 1
# Part of every service's recipe id: bump it when packing or layout changes, so bundles made
# by older code are rebuilt instead of trusted.
RECIPE_REVISION = 1
# Pinned so resolution does not depend on whatever plugin versions Maven would pick.
DEPENDENCY_PLUGIN_VERSION = "3.11.0"
HELP_PLUGIN_VERSION = "3.5.1"
POM_NAMESPACE = "http://maven.apache.org/POM/4.0.0"
# Fixed timestamp for every tar entry; 2000-01-01 because GNU tar warns about 1970 dates.
FIXED_MTIME = 946_684_800
BUNDLED_SERVICES = ("zookeeper", "kafka", "cassandra", "spark")
# Bundle entries that are not services of their own: Spark's Kafka source and the Spark
# Cassandra Connector (on every Spark node's class path), and the reference IoT pipeline's
# jars (pipelines/iot, built here with Maven). The nodes never download either.
SPARK_CONNECTORS = "spark_connectors"
IOT_PIPELINE = "iot_pipeline"
IOT_PIPELINE_PROJECT = "pipelines/iot"
# The metrics role's parts: the JMX exporter java agent (Maven) and the dashboards' chart
# library (npm).
JMX_EXPORTER = "jmx_exporter"
UPLOT = "uplot"
_CHUNK = 1 << 20


class BundleError(SmackError):
    """The bundle could not be built, or what is on disk does not match its manifest."""


# ----------------------------------------------------------------------------- manifest


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MavenSource(_Model):
    kind: Literal["maven"] = "maven"
    # What the POM asked for, the POMs it imported for their dependency management, and
    # every jar that ended up on the classpath.
    requested: list[str]
    boms: list[str] = []
    resolved: list[str]
    # Resolved jars left out because the entry they extend (Spark) ships them already.
    provided: list[str] = []


class BuildSource(_Model):
    kind: Literal["build"] = "build"
    # The Maven project built, relative to the smack checkout, and the digest of its sources.
    project: str
    sources: str


class PypiSource(_Model):
    kind: Literal["pypi"] = "pypi"
    requirement: str
    file: str
    sha256: str


class NpmSource(_Model):
    kind: Literal["npm"] = "npm"
    package: str
    file: str
    sha256: str


class ServiceEntry(_Model):
    version: str
    # The tarball's file name in the bundle directory.
    file: str
    sha256: str
    size: int
    top_dir: str
    # Relative to top_dir; roles run `java -cp '<top_dir>/<classpath_dir>/*' <main class>`.
    classpath_dir: str
    main_classes: dict[str, str]
    source: Annotated[MavenSource | PypiSource | BuildSource | NpmSource,
                      Field(discriminator="kind")]
    # Digest of everything that decides the tarball's content except the registries' answers.
    recipe: str
    # sha256 of every regular file in the tarball, by path relative to top_dir.
    files: dict[str, str]


class Manifest(_Model):
    format: Literal[1] = 1
    # By service (role) name.
    artifacts: dict[str, ServiceEntry] = {}


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(f"{path}: no bundle manifest here; run `smack bundle` to make one")
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BundleError(
            f"{path}: not a bundle manifest of format {FORMAT} ({where}: {first['msg']})"
        ) from None


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Replace manifest.json atomically: a reader sees the old or the new one, never half."""
    text = json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n"
    tmp = directory / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(text)
    tmp.replace(directory / MANIFEST_NAME)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(directory: Path, *, deep: bool = False) -> list[str]:
    """Problems with the bundle in `directory`: missing tarballs and checksum mismatches.

    `deep` also reads every tarball and checks each file in it against the manifest.
    """
    manifest = read_manifest(directory)
    problems: list[str] = []
    for name, entry in manifest.artifacts.items():
        path = directory / entry.file
        if not path.is_file():
            problems.append(f"{name}: {path} is missing (the manifest records sha256 "
                            f"{entry.sha256})")
            continue
        actual = file_sha256(path)
        if actual != entry.sha256:
            problems.append(f"{name}: {path} has sha256 {actual}, the manifest records "
                            f"{entry.sha256}")
            continue
        if deep:
            problems += [f"{name}: {p}" for p in _check_members(path, entry)]
    return problems


def _check_members(path: Path, entry: ServiceEntry) -> list[str]:
    seen: dict[str, str] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            rel = member.name.removeprefix(f"{entry.top_dir}/")
            stream = tar.extractfile(member)
            if stream is None:  # cannot happen for a regular file; keeps the types honest
                continue
            h = hashlib.sha256()
            while chunk := stream.read(_CHUNK):
                h.update(chunk)
            seen[rel] = h.hexdigest()
    problems = []
    for rel, expected in entry.files.items():
        if rel not in seen:
            problems.append(f"{entry.top_dir}/{rel} is missing from {path.name} (the manifest "
                            f"records sha256 {expected})")
        elif seen[rel] != expected:
            problems.append(f"{entry.top_dir}/{rel} in {path.name} has sha256 {seen[rel]}, "
                            f"the manifest records {expected}")
    problems += [f"{entry.top_dir}/{rel} in {path.name} is not in the manifest"
                 for rel in sorted(seen.keys() - entry.files.keys())]
    return problems


def require_valid(directory: Path, *, deep: bool = False) -> Manifest:
    """The manifest of a bundle that passes `verify`; BundleError listing every problem."""
    problems = verify(directory, deep=deep)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise BundleError(f"bundle {directory} does not match its manifest:\n{lines}\n"
                          "run `smack bundle` to rebuild what is wrong")
    return read_manifest(directory)


# ------------------------------------------------------------------------------ packing


class _HashingReader:
    """Hands a file to tarfile while hashing it, so each file is read once."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        return data


def _tar_info(name: str, path: Path) -> tarfile.TarInfo:
    # Only what the content decides goes in: no owner, no time, modes reduced to 755/644.
    info = tarfile.TarInfo(name)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if path.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = path.stat().st_size
        info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
    return info


def _walk(root: Path) -> Iterator[Path]:
    """Every directory and regular file under root, in a fixed (sorted) order."""
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            raise BundleError(f"{path}: only regular files and directories can be bundled")
        yield path
        if path.is_dir():
            yield from _walk(path)


def pack_tree(top: Path, dest: Path) -> dict[str, str]:
    """Pack directory `top` as `dest` (.tar.gz) with `top.name` as its single top directory.

    The same files give the same bytes: entries are sorted, times, owners and gzip header
    fixed. `dest` is replaced atomically. Returns sha256 per file, relative to `top`.
    """
    files: dict[str, str] = {}
    tmp = dest.with_name(f".{dest.name}.tmp")
    with tmp.open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_tar_info(top.name, top))
        for path in _walk(top):
            rel = path.relative_to(top).as_posix()
            info = _tar_info(f"{top.name}/{rel}", path)
            if info.isdir():
                tar.addfile(info)
                continue
            with path.open("rb") as f:
                reader = _HashingReader(f)
                tar.addfile(info, reader)  # tarfile only calls read()
            files[rel] = reader.hash.hexdigest()
    tmp.replace(dest)
    return files


# ------------------------------------------------------------------------------ recipes


@dataclass(frozen=True, order=True)
class Coordinate:
    """A Maven artifact; an empty version is left to the imported BOMs."""

    group: str
    artifact: str
    version: str = ""
    classifier: str = ""

    @property
    def key(self) -> str:
        return f"{self.group}:{self.artifact}"

    def __str__(self) -> str:
        # Maven's order, group:artifact[:version[:classifier]].
        parts = [self.group, self.artifact, self.version, self.classifier]
        return ":".join(p for p in parts if p)


def coordinate(text: str, version: str = "") -> Coordinate:
    group, artifact, *rest = text.split(":")
    return Coordinate(group, artifact, rest[0] if rest else version)


Companions = Callable[[Mapping[str, str]], list[Coordinate]]


@dataclass(frozen=True)
class MavenRecipe:
    # group:artifact, taken at the service's version.
    artifacts: tuple[str, ...]
    # group:artifact POMs imported at the service's version; they set the versions of `managed`.
    boms: tuple[str, ...] = ()
    # group:artifact the release tarball ships although the POMs leave them out, at the
    # version the BOMs manage; "a|b" when the artifact moved between versions of the line.
    managed: tuple[str, ...] = ()
    # group:artifact that must end up on the classpath.
    required: tuple[str, ...] = ()
    # More artifacts chosen from what the first resolution found (group:artifact -> version).
    companions: Companions | None = None
    # Bundle entry whose class path this one extends: jars it ships already are left out.
    provided_by: str = ""
    # Names of the parts of a composite version "a-b" (`{a}` in artifacts takes part a).
    version_parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class PypiRecipe:
    project: str


@dataclass(frozen=True)
class NpmRecipe:
    """An npm package, packed by npm itself; `files` maps paths inside it to the entry's."""

    package: str
    files: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class BuildRecipe:
    """A Maven project of this checkout, packaged; `jars` maps each built jar (relative to
    the project) to its name under the entry's class path directory."""

    project: str
    jars: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    recipe: MavenRecipe | PypiRecipe | BuildRecipe | NpmRecipe
    top_dir: str  # `{version}` is replaced
    classpath_dir: str
    main_classes: dict[str, str] = field(default_factory=dict)

    def recipe_id(self, version: str) -> str:
        recipe = self.recipe
        described: dict[str, object] = {
            "revision": RECIPE_REVISION, "service": self.name, "version": version,
            "top_dir": self.top_dir, "classpath_dir": self.classpath_dir,
            "main_classes": self.main_classes}
        if isinstance(recipe, MavenRecipe):
            described |= {"plugins": [DEPENDENCY_PLUGIN_VERSION, HELP_PLUGIN_VERSION],
                          "artifacts": recipe.artifacts,
                          "boms": recipe.boms, "managed": recipe.managed,
                          "companions": getattr(recipe.companions, "__name__", "")}
            if recipe.provided_by:
                described |= {"provided_by": recipe.provided_by}
        elif isinstance(recipe, BuildRecipe):
            # The sources are part of the recipe: an edited pipeline is rebuilt.
            described |= {"build": recipe.project, "jars": recipe.jars,
                          "sources": project_digest(recipe.project)}
        elif isinstance(recipe, NpmRecipe):
            described |= {"npm": recipe.package, "files": recipe.files}
        else:
            described |= {"pypi": recipe.project}
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


# Kafka 4.0's POMs name no log4j at all; its release tarball ships log4j2 at this version.
KAFKA_4_0_LOG4J = "2.24.3"


def kafka_logging(resolved: Mapping[str, str]) -> list[Coordinate]:
    """Kafka's release tarball adds log4j2's SLF4J binding and log4j-1.2-api to what its
    POMs name (from 4.1 on they stop at log4j-core). The binding must match SLF4J's major."""
    slf4j = resolved.get("org.slf4j:slf4j-api")
    if not slf4j:
        raise BundleError("kafka: slf4j-api is not among Kafka's runtime dependencies any "
                          "more; the recipe in infra/bundle.py needs updating")
    log4j = resolved.get("org.apache.logging.log4j:log4j-core", KAFKA_4_0_LOG4J)
    binding = "log4j-slf4j-impl" if slf4j.startswith("1.") else "log4j-slf4j2-impl"
    return [Coordinate("org.apache.logging.log4j", name, log4j)
            for name in ("log4j-api", "log4j-core", binding, "log4j-1.2-api")]


SPECS: dict[str, ServiceSpec] = {
    "zookeeper": ServiceSpec(
        name="zookeeper",
        # The parent POM manages the versions of what the release tarball adds: logback (ZK 3.9
        # logs through SLF4J and declares logback optional), the admin server (jetty,
        # jackson), zkCli's jline, commons-cli, metrics and snappy.
        recipe=MavenRecipe(
            artifacts=("org.apache.zookeeper:zookeeper",),
            boms=("org.apache.zookeeper:parent",),
            managed=("ch.qos.logback:logback-classic", "commons-cli:commons-cli",
                     "org.eclipse.jetty:jetty-server", "org.eclipse.jetty:jetty-servlet",
                     "org.eclipse.jetty:jetty-client",
                     "com.fasterxml.jackson.core:jackson-databind",
                     # jline 3 from 3.9.5 on, jline 2 before.
                     "org.jline:jline|jline:jline",
                     "io.dropwizard.metrics:metrics-core", "org.xerial.snappy:snappy-java"),
            required=("ch.qos.logback:logback-classic", "ch.qos.logback:logback-core"),
        ),
        top_dir="apache-zookeeper-{version}-bin",
        classpath_dir="lib",
        main_classes={"server": "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                      "cli": "org.apache.zookeeper.ZooKeeperMain",
                      "version": "org.apache.zookeeper.version.VersionInfoMain"},
    ),
    "kafka": ServiceSpec(
        name="kafka",
        # kafka_2.13 is the broker; kafka-tools holds topics, console producer/consumer and
        # metadata-quorum; kafka-storage the log layer the format tool writes.
        recipe=MavenRecipe(
            artifacts=("org.apache.kafka:kafka_2.13", "org.apache.kafka:kafka-tools",
                       "org.apache.kafka:kafka-storage"),
            required=("org.apache.logging.log4j:log4j-core",),
            companions=kafka_logging,
        ),
        top_dir="kafka_2.13-{version}",
        classpath_dir="libs",
        main_classes={"server": "kafka.Kafka",
                      "storage": "kafka.tools.StorageTool",
                      "topics": "org.apache.kafka.tools.TopicCommand",
                      "console_producer": "org.apache.kafka.tools.ConsoleProducer",
                      "console_consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
                      "metadata_quorum": "org.apache.kafka.tools.MetadataQuorumCommand"},
    ),
    "cassandra": ServiceSpec(
        name="cassandra",
        recipe=MavenRecipe(
            artifacts=("org.apache.cassandra:cassandra-all",),
            required=("ch.qos.logback:logback-classic", "ch.qos.logback:logback-core"),
        ),
        top_dir="apache-cassandra-{version}",
        classpath_dir="lib",
        main_classes={"daemon": "org.apache.cassandra.service.CassandraDaemon",
                      "nodetool": "org.apache.cassandra.tools.NodeTool"},
    ),
    "spark": ServiceSpec(
        name="spark",
        recipe=PypiRecipe(project="pyspark"),
        top_dir="spark-{version}-bin-hadoop3",
        classpath_dir="jars",
        main_classes={"master": "org.apache.spark.deploy.master.Master",
                      "worker": "org.apache.spark.deploy.worker.Worker",
                      "submit": "org.apache.spark.deploy.SparkSubmit",
                      "history_server": "org.apache.spark.deploy.history.HistoryServer",
                      "mesos_dispatcher": "org.apache.spark.deploy.mesos.MesosClusterDispatcher"},
    ),
}

SPECS[SPARK_CONNECTORS] = ServiceSpec(
    name=SPARK_CONNECTORS,
    # Built for Spark 3.5's Scala line (2.12, what the pyspark release carries). The Kafka
    # source follows Spark's own release numbers; the connector has its own.
    recipe=MavenRecipe(
        artifacts=("org.apache.spark:spark-sql-kafka-0-10_2.12:{kafka}",
                   "com.datastax.spark:spark-cassandra-connector_2.12:{cassandra}"),
        required=("org.apache.kafka:kafka-clients",
                  "com.datastax.spark:spark-cassandra-connector-driver_2.12"),
        provided_by="spark",
        version_parts=("kafka", "cassandra"),
    ),
    top_dir="spark-connectors-{version}",
    classpath_dir="jars",
    # Not programs: the data sources `format("kafka")` and `format("org.apache.spark.sql.
    # cassandra")` name, which must be on the class path.
    main_classes={"kafka_source": "org.apache.spark.sql.kafka010.KafkaSourceProvider",
                  "cassandra_source": "org.apache.spark.sql.cassandra.DefaultSource"},
)
SPECS[IOT_PIPELINE] = ServiceSpec(
    name=IOT_PIPELINE,
    recipe=BuildRecipe(
        project=IOT_PIPELINE_PROJECT,
        jars=(("generator/target/iot-generator-{version}.jar", "iot-generator.jar"),
              ("stream/target/iot-stream-{version}.jar", "iot-stream.jar")),
    ),
    top_dir="iot-pipeline-{version}",
    classpath_dir="lib",
    main_classes={"generator": "org.smack.pipelines.iot.generator.Generator",
                  "stream": "org.smack.pipelines.iot.stream.StreamJob"},
)

SPECS[JMX_EXPORTER] = ServiceSpec(
    name=JMX_EXPORTER,
    # A shaded jar: the agent and everything it needs in one file.
    recipe=MavenRecipe(artifacts=("io.prometheus.jmx:jmx_prometheus_javaagent",)),
    top_dir="jmx-exporter-{version}",
    classpath_dir="lib",
    main_classes={"agent": "io.prometheus.jmx.JavaAgent"},
)
SPECS[UPLOT] = ServiceSpec(
    name=UPLOT,
    recipe=NpmRecipe(package="uplot", files=(
        ("package/dist/uPlot.iife.min.js", "dist/uPlot.iife.min.js"),
        ("package/dist/uPlot.min.css", "dist/uPlot.min.css"),
        ("package/LICENSE", "LICENSE"))),
    top_dir="uplot-{version}",
    classpath_dir="dist",
)


def connectors_version(kafka_source: str, cassandra_connector: str) -> str:
    """The bundle version of the connectors entry: both releases, in version_parts order."""
    return f"{kafka_source}-{cassandra_connector}"


def pipeline_version(project: str = IOT_PIPELINE_PROJECT) -> str:
    """The version the project's parent POM declares (its jars are named with it)."""
    from infra.paths import PROJECT_DIR  # noqa: PLC0415

    root = ET.parse(PROJECT_DIR / project / "pom.xml").getroot()  # noqa: S314 - our own file
    version = root.findtext(f"{{{POM_NAMESPACE}}}version")
    if not version:
        raise BundleError(f"{project}/pom.xml declares no version")
    return version


def project_digest(project: str) -> str:
    """sha256 over the sources of a Maven project of this checkout (build output left out)."""
    from infra.paths import PROJECT_DIR  # noqa: PLC0415

    root = PROJECT_DIR / project
    h = hashlib.sha256()
    for path in sorted(project_files(root)):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def project_files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        rel = path.relative_to(root).parts
        if path.is_file() and "target" not in rel and not rel[-1].startswith("."):
            yield path


def wanted_entries(settings: Settings) -> list[tuple[str, str]]:
    """(entry, version) of everything the stack's nodes install from the bundle, in build order
    (an entry extending another comes after it)."""
    services = settings.services
    entries = [(name, getattr(services, name).version) for name in BUNDLED_SERVICES
               if getattr(services, name).enabled]
    if services.spark.enabled:
        entries.append((SPARK_CONNECTORS, connectors_version(
            services.spark.kafka_connector_version, services.spark.cassandra_connector_version)))
    if services.spark.enabled and services.kafka.enabled and services.cassandra.enabled:
        entries.append((IOT_PIPELINE, pipeline_bundle_version()))
    if settings.metrics.enabled:
        entries.append((JMX_EXPORTER, settings.metrics.jmx_exporter_version))
        entries.append((UPLOT, settings.metrics.uplot_version))
    return entries


def pipeline_bundle_version(project: str = IOT_PIPELINE_PROJECT) -> str:
    """The POM's version and a digest of the sources: an edited pipeline is a new release on
    the nodes (a new directory, its driver resubmitted, its app redeployed) without anyone
    remembering to bump the POM."""
    return f"{pipeline_version(project)}-{project_digest(project)[:12]}"


# Where each part of the pyspark sdist goes in the Apache layout (sdist path -> bundle path).
SPARK_LAYOUT = (
    ("deps/jars", "jars"),
    ("deps/bin", "bin"),
    ("deps/sbin", "sbin"),
    ("deps/licenses", "licenses"),
    ("pyspark", "python/pyspark"),
    ("lib", "python/lib"),
)


# ------------------------------------------------------------------------------- maven


def render_pom(service: str, version: str, dependencies: list[Coordinate],
               boms: list[Coordinate]) -> str:
    plugins = {"maven-dependency-plugin": DEPENDENCY_PLUGIN_VERSION,
               "maven-help-plugin": HELP_PLUGIN_VERSION}
    return render("bundle/pom.xml.j2", service=service, version=version,
                  dependencies=dependencies, boms=boms, plugins=plugins)


def render_maven_settings(url: str) -> str:
    return render("bundle/maven-settings.xml.j2", url=url)


def maven_command(pom: Path, work: Path, artifacts: ArtifactSettings) -> list[str]:
    """mvn on `pom`, quiet and batch, with a settings.xml in `work` mirroring every repository
    to smack:artifacts.maven_repository_url when that is set."""
    cmd = ["mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(pom)]
    if artifacts.maven_repository_url:
        settings_xml = work / "settings.xml"
        settings_xml.write_text(render_maven_settings(artifacts.maven_repository_url))
        cmd += ["-s", str(settings_xml)]
    return cmd


def _run(cmd: list[str], what: str, missing_hint: str, failure_hint: str) -> None:
    if shutil.which(cmd[0]) is None:
        raise BundleError(f"{what}: `{cmd[0]}` is not on PATH; {missing_hint}")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return
    output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    lines = [ln for ln in output.splitlines() if ln.strip()]
    # Maven follows its message with generic advice (re-run with -e or -X, help links).
    advice = re.compile(r"^\[ERROR\]\s*$|-e switch|-X switch|please read the following|"
                        r"^\[ERROR\] \[Help \d+\]|^\[ERROR\] ->")
    errors = [re.sub(r" -> \[Help \d+\]$", "", ln) for ln in lines
              if ln.startswith(("[ERROR]", "ERROR:")) and not advice.search(ln)]
    shown = "\n".join(f"    {ln}" for ln in (errors or lines)[-12:])
    raise BundleError(f"{what} failed (exit {proc.returncode}):\n{shown}\n{failure_hint}")


def parse_repository_path(rel: Path) -> Coordinate:
    """group/path/artifact/version/artifact-version[-classifier].jar -> its coordinate."""
    *group, artifact, version, name = rel.parts
    stem = name.removesuffix(".jar")
    base = f"{artifact}-{version}"
    if not group or not stem.startswith(base):
        raise BundleError(f"{rel}: not a Maven repository path of a jar")
    return Coordinate(".".join(group), artifact, version, stem[len(base):].lstrip("-"))


@dataclass(frozen=True)
class _Resolution:
    jars: dict[Coordinate, Path]
    # group:artifact -> version from the effective POM's dependencyManagement (the BOMs).
    managed: dict[str, str]


def _mvn_copy(spec: ServiceSpec, version: str, dependencies: list[Coordinate],
              boms: list[Coordinate], *, work: Path, artifacts: ArtifactSettings,
              with_management: bool = False) -> _Resolution:
    work.mkdir(parents=True)
    pom = work / "pom.xml"
    pom.write_text(render_pom(spec.name, version, dependencies, boms))
    out = work / "repository"
    effective = work / "effective-pom.xml"
    cmd = maven_command(pom, work, artifacts)
    # The repository layout keeps group, artifact and version apart, so each jar's coordinate
    # is known exactly (flat file names are ambiguous); the jars are flattened afterwards.
    cmd += ["dependency:copy-dependencies", "-DincludeScope=runtime",
            "-Dmdep.useRepositoryLayout=true", f"-DoutputDirectory={out}"]
    if with_management:
        cmd += ["help:effective-pom", f"-Doutput={effective}"]
    _run(cmd, f"{spec.name} {version}: resolving with Maven",
         "install Apache Maven (Debian: apt-get install maven) and rerun",
         f"check that {spec.name} {version} is published; smack:artifacts.maven_repository_url "
         "selects another Maven repository")
    jars = {parse_repository_path(p.relative_to(out)): p for p in sorted(out.rglob("*.jar"))}
    managed = managed_versions(effective.read_text()) if with_management else {}
    return _Resolution(jars=jars, managed=managed)


def managed_versions(effective_pom: str) -> dict[str, str]:
    """group:artifact -> version of every entry in an effective POM's dependencyManagement."""
    root = ET.fromstring(effective_pom)  # noqa: S314 - Maven's own serialised model, no DTD
    ns = {"m": POM_NAMESPACE}
    managed = root.find(".//m:dependencyManagement/m:dependencies", ns)
    versions: dict[str, str] = {}
    for dep in [] if managed is None else managed.findall("m:dependency", ns):
        group, artifact, version = (dep.findtext(f"m:{tag}", "", ns)
                                    for tag in ("groupId", "artifactId", "version"))
        versions.setdefault(f"{group}:{artifact}", version)
    return versions


def maven_request(recipe: MavenRecipe, version: str) -> tuple[list[Coordinate],
                                                               list[Coordinate]]:
    """The artifacts and the imported BOMs of a recipe's first resolution."""
    parts: dict[str, str] = {}
    if recipe.version_parts:
        parts = dict(zip(recipe.version_parts, version.split("-"), strict=False))
        if len(parts) != len(recipe.version_parts) or "-".join(parts.values()) != version:
            raise BundleError(f"version {version!r}: expected "
                              f"{'-'.join(recipe.version_parts)}")
    return ([coordinate(a.format(**parts), version) for a in recipe.artifacts],
            [coordinate(b, version) for b in recipe.boms])


def pick_managed(spec: ServiceSpec, recipe: MavenRecipe, version: str,
                 managed: Mapping[str, str]) -> list[Coordinate]:
    """The recipe's `managed` artifacts at the versions its BOMs give them."""
    picked: list[Coordinate] = []
    missing: list[str] = []
    for choice in recipe.managed:
        options = choice.split("|")
        key = next((o for o in options if o in managed), None)
        if key is None:
            missing.append(" or ".join(options))
        else:
            picked.append(coordinate(key, managed[key]))
    if missing:
        raise BundleError(f"{spec.name} {version}: {', '.join(recipe.boms)} manage no version "
                          f"of {', '.join(missing)}; the recipe in infra/bundle.py needs "
                          "updating for this version")
    return picked


def fetch_maven(spec: ServiceSpec, recipe: MavenRecipe, version: str, classpath: Path, *,
                work: Path, artifacts: ArtifactSettings) -> MavenSource:
    """Resolve the recipe with Maven and put every runtime jar into `classpath`.

    A first resolution takes the artifacts (and reads what the BOMs manage); when the managed
    artifacts or the companions add anything, a second one resolves the whole set together so
    Maven mediates one version of everything.
    """
    deps, boms = maven_request(recipe, version)
    first = _mvn_copy(spec, version, deps, boms, work=work / "resolve-1", artifacts=artifacts,
                      with_management=bool(recipe.managed))
    found = {c.key: c.version for c in first.jars}
    extra = pick_managed(spec, recipe, version, first.managed)
    if recipe.companions is not None:
        extra += recipe.companions(found)
    extra = [c for c in extra if found.get(c.key) != c.version]
    jars = first.jars
    if extra:
        deps += extra
        jars = _mvn_copy(spec, version, deps, boms, work=work / "resolve-2",
                         artifacts=artifacts).jars
    found_keys = {c.key for c in jars}
    missing = [r for r in recipe.required if r not in found_keys]
    if missing:
        raise BundleError(f"{spec.name} {version}: {', '.join(missing)} not among the resolved "
                          "jars; the recipe in infra/bundle.py needs updating for this version")
    classpath.mkdir(parents=True)
    names = [p.name for p in jars.values()]
    for coord, path in jars.items():
        # Two groups may publish the same artifact-version name; keep both, told apart.
        name = path.name if names.count(path.name) == 1 else f"{coord.group}.{path.name}"
        shutil.move(path, classpath / name)
    return MavenSource(requested=[str(d) for d in deps], boms=[str(b) for b in boms],
                       resolved=sorted(str(c) for c in jars))


# -------------------------------------------------------------------------------- pypi


def _only_archive(spec: ServiceSpec, version: str, tool: str, directory: Path,
                  pattern: str) -> Path:
    """The one archive a download left in `directory`; more or none is an error."""
    found = sorted(directory.glob(pattern))
    if len(found) != 1:
        raise BundleError(f"{spec.name} {version}: {tool} left {len(found)} archives in "
                          f"{directory}; expected exactly one")
    return found[0]


def fetch_pypi(spec: ServiceSpec, recipe: PypiRecipe, version: str, top: Path,
               work: Path) -> PypiSource:
    """Lay out Spark from the pyspark sdist (PyPI serves no wheel of it) like Apache's tarball."""
    requirement = f"{recipe.project}=={version}"
    download = work / "download"
    # --no-binary: always the sdist, whose deps/ holds jars, bin and sbin like the release.
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", recipe.project,
          "--disable-pip-version-check", "-d", str(download), requirement],
         f"{spec.name} {version}: downloading {requirement} with pip",
         "run smack from its virtualenv",
         f"check that {requirement} is on the package index pip is configured for")
    sdist = _only_archive(spec, version, "pip", download, "*.tar.gz")
    unpacked = work / "unpacked"
    with tarfile.open(sdist, "r:gz") as tar:
        tar.extractall(unpacked, filter="data")
    root = unpacked / f"{recipe.project}-{version}"
    for src, dest in SPARK_LAYOUT:
        if not (root / src).is_dir():
            raise BundleError(f"{spec.name} {version}: {sdist.name} has no {src}/; the layout "
                              "in infra/bundle.py needs updating for this version")
        (top / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(root / src, top / dest)
    return PypiSource(requirement=requirement, file=sdist.name, sha256=file_sha256(sdist))


# ------------------------------------------------------------------------------- build


def build_project(spec: ServiceSpec, recipe: BuildRecipe, version: str, top: Path, *,
                  work: Path, artifacts: ArtifactSettings) -> BuildSource:
    """`mvn package` a copy of a Maven project of this checkout; its jars go to the class path
    directory. The copy keeps the build's output out of the checkout."""
    from infra.paths import PROJECT_DIR  # noqa: PLC0415

    source = PROJECT_DIR / recipe.project
    copy = work / "project"
    for path in project_files(source):
        dest = copy / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    cmd = maven_command(copy / "pom.xml", work, artifacts)
    # The unit tests run in smack's own test suite, not on every bundle build.
    cmd += ["-DskipTests", "package"]
    _run(cmd, f"{spec.name} {version}: building {recipe.project} with Maven",
         "install Apache Maven (Debian: apt-get install maven) and rerun",
         f"fix the build of {recipe.project}; smack:artifacts.maven_repository_url selects "
         "another Maven repository")
    classpath = top / spec.classpath_dir
    classpath.mkdir(parents=True)
    built_version = pipeline_version(recipe.project)
    for built, name in recipe.jars:
        jar = copy / built.format(version=built_version)
        if not jar.is_file():
            raise BundleError(f"{spec.name} {version}: the build made no "
                              f"{built.format(version=built_version)}")
        shutil.copyfile(jar, classpath / name)
    return BuildSource(project=recipe.project, sources=project_digest(recipe.project))


# -------------------------------------------------------------------------------- npm


def fetch_npm(spec: ServiceSpec, recipe: NpmRecipe, version: str, top: Path,
              work: Path) -> NpmSource:
    """`npm pack` the package (npm's own registry setting decides where from), then take the
    files the recipe names out of it."""
    work.mkdir(parents=True)
    requirement = f"{recipe.package}@{version}"
    _run(["npm", "pack", "--silent", "--pack-destination", str(work), requirement],
         f"{spec.name} {version}: downloading {requirement} with npm",
         "install Node.js and npm (Debian: apt-get install npm) and rerun",
         f"check that {requirement} is on the registry npm is configured for")
    packed = _only_archive(spec, version, "npm", work, "*.tgz")
    with tarfile.open(packed, "r:gz") as tar:
        for inside, dest in recipe.files:
            try:
                member = tar.extractfile(inside)
            except KeyError:
                member = None
            if member is None:
                raise BundleError(f"{spec.name} {version}: {packed.name} has no {inside}; "
                                  "the recipe in infra/bundle.py needs updating")
            (top / dest).parent.mkdir(parents=True, exist_ok=True)
            (top / dest).write_bytes(member.read())
    return NpmSource(package=requirement, file=packed.name, sha256=file_sha256(packed))


Fetcher = Callable[[ServiceSpec, str, Path, Path, ArtifactSettings],
                   MavenSource | PypiSource | BuildSource | NpmSource]


def _fetch(spec: ServiceSpec, version: str, top: Path, work: Path,
           artifacts: ArtifactSettings) -> MavenSource | PypiSource | BuildSource | NpmSource:
    if isinstance(spec.recipe, MavenRecipe):
        return fetch_maven(spec, spec.recipe, version, top / spec.classpath_dir, work=work,
                           artifacts=artifacts)
    if isinstance(spec.recipe, BuildRecipe):
        return build_project(spec, spec.recipe, version, top, work=work, artifacts=artifacts)
    if isinstance(spec.recipe, NpmRecipe):
        return fetch_npm(spec, spec.recipe, version, top, work)
    return fetch_pypi(spec, spec.recipe, version, top, work)


def jar_artifact(name: str) -> str:
    """The artifact part of a flat jar name: scala-library-2.12.18.jar -> scala-library."""
    return re.sub(r"-\d[^-]*(-.*)?\.jar$", "", name)


def provided_artifacts(entry: ServiceEntry) -> set[str]:
    """Artifact names of the jars on an entry's class path."""
    prefix = f"{entry.classpath_dir}/"
    return {jar_artifact(f.removeprefix(prefix)) for f in entry.files
            if f.startswith(prefix) and f.endswith(".jar") and "/" not in f.removeprefix(prefix)}


def drop_provided(classpath: Path, source: MavenSource, provided: set[str]) -> MavenSource:
    """Remove the jars whose artifact the extended entry ships (its version wins: it is what
    that class path runs with) and record them."""
    dropped = []
    for jar in sorted(classpath.glob("*.jar")):
        if jar_artifact(jar.name) in provided:
            jar.unlink()
            dropped.append(jar.name)
    return source.model_copy(update={"provided": dropped})


# ------------------------------------------------------------------------------ building


def missing_main_classes(classpath: Path, main_classes: Mapping[str, str]) -> list[str]:
    """The main classes (role: class) that no jar in `classpath` contains."""
    wanted = {c.replace(".", "/") + ".class": role for role, c in main_classes.items()}
    for jar in sorted(classpath.glob("*.jar")):
        with zipfile.ZipFile(jar) as z:
            for name in wanted.keys() & set(z.namelist()):
                del wanted[name]
        if not wanted:
            break
    return [f"{role}: {main_classes[role]}" for role in wanted.values()]


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with (directory / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BundleError(f"{directory}: another `smack bundle` is writing this bundle; "
                              "wait for it to finish") from None
        yield


def _why_rebuild(directory: Path, entry: ServiceEntry | None, version: str,
                 recipe: str) -> str | None:
    if entry is None:
        return "not in the bundle yet"
    if entry.version != version:
        return f"version {entry.version} -> {version}"
    if entry.recipe != recipe:
        return "the bundle recipe changed"
    path = directory / entry.file
    if not path.is_file():
        return f"{path.name} is missing"
    actual = file_sha256(path)
    if actual != entry.sha256:
        return f"{path.name} has sha256 {actual}, the manifest records {entry.sha256}"
    return None


def _why_provided_changed(entry: ServiceEntry, base: ServiceEntry | None) -> str | None:
    """A jar left out because the extended entry shipped it must still be shipped there."""
    if base is None:
        return None
    assert isinstance(entry.source, MavenSource)  # noqa: S101 - provided_by is Maven only
    missing = {jar_artifact(j) for j in entry.source.provided} - provided_artifacts(base)
    return f"{base.top_dir} no longer ships {', '.join(sorted(missing))}" if missing else None


def _clean_leftovers(directory: Path) -> None:
    """Work directories and temporary files of an interrupted run (only our own names)."""
    for path in directory.glob(".work-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in directory.glob(".*.tmp"):
        path.unlink(missing_ok=True)


def build_service(spec: ServiceSpec, version: str, directory: Path,
                  artifacts: ArtifactSettings, fetch: Fetcher | None = None, *,
                  provided: set[str] | None = None) -> ServiceEntry:
    top_dir = spec.top_dir.format(version=version)
    with tempfile.TemporaryDirectory(prefix=f".work-{spec.name}-", dir=directory) as tmp:
        work = Path(tmp)
        top = work / "stage" / top_dir
        top.mkdir(parents=True)
        source = (fetch or _fetch)(spec, version, top, work / "fetch", artifacts)
        if provided and isinstance(source, MavenSource):
            source = drop_provided(top / spec.classpath_dir, source, provided)
        missing = missing_main_classes(top / spec.classpath_dir, spec.main_classes)
        if missing:
            raise BundleError(f"{spec.name} {version}: no jar in {spec.classpath_dir}/ holds "
                              f"{'; '.join(missing)}; the recipe in infra/bundle.py needs "
                              "updating for this version")
        tarball = directory / f"{spec.name}-{version}.tar.gz"
        files = pack_tree(top, tarball)
    return ServiceEntry(version=version, file=tarball.name, sha256=file_sha256(tarball),
                        size=tarball.stat().st_size, top_dir=top_dir,
                        classpath_dir=spec.classpath_dir, main_classes=spec.main_classes,
                        source=source, recipe=spec.recipe_id(version), files=files)


def build_bundle(settings: Settings, directory: Path, console: Console, *,
                 fetch: Fetcher | None = None) -> Manifest:
    """Bring the bundle in `directory` up to date with the stack's service versions.

    A service whose tarball is there with the sha256 and recipe the manifest records is left
    alone. Entries of services this stack does not enable stay (a bundle directory may serve
    several stacks); a service whose version changed loses its old tarball. `fetch` replaces
    the registries (tests).
    """
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        _clean_leftovers(directory)
        path = directory / MANIFEST_NAME
        manifest = Manifest()
        rewrite = not path.is_file()
        if not rewrite:
            try:
                manifest = read_manifest(directory)
            except BundleError as err:
                # Its tarballs cannot be trusted without it: every service is rebuilt.
                console.print(f"[yellow]{err}; starting a new one[/yellow]", highlight=False)
                rewrite = True
        entries = dict(manifest.artifacts)
        for name, version in wanted_entries(settings):
            spec = SPECS[name]
            reason = _why_rebuild(directory, entries.get(name), version, spec.recipe_id(version))
            provided_by = spec.recipe.provided_by if isinstance(spec.recipe, MavenRecipe) else ""
            if reason is None and provided_by:
                reason = _why_provided_changed(entries[name], entries.get(provided_by))
            if reason is None:
                console.print(f"{name} {version}: up to date")
                continue
            console.print(f"{name} {version}: building ({reason})")
            started = time.monotonic()
            base = entries.get(provided_by)
            provided = provided_artifacts(base) if base is not None else None
            entry = build_service(spec, version, directory, settings.artifacts, fetch,
                                  provided=provided)
            old = entries.get(name)
            if old is not None and old.file != entry.file:
                (directory / old.file).unlink(missing_ok=True)
            entries[name] = entry
            # Written after every service, so a failure later keeps what is already done.
            manifest = Manifest(artifacts=dict(sorted(entries.items())))
            write_manifest(directory, manifest)
            console.print(f"{name} {version}: {entry.file} ({_mib(entry.size)}) in "
                          f"{time.monotonic() - started:.1f} s")
            rewrite = False
        if rewrite:
            write_manifest(directory, manifest)
    return manifest


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def bundle_table(directory: Path, manifest: Manifest) -> Table:
    # Narrow borders and no tarball column (it is <entry>-<version>.tar.gz): fits 80 columns,
    # where rich would otherwise cut the names.
    table = Table(title=f"bundle {directory}", box=box.SIMPLE, pad_edge=False)
    for column in ("entry", "version", "size", "jars", "sha256"):
        table.add_column(column, no_wrap=True)
    for name, entry in manifest.artifacts.items():
        jars = sum(1 for f in entry.files
                   if f.startswith(f"{entry.classpath_dir}/") and f.endswith(".jar"))
        table.add_row(name, entry.version, _mib(entry.size), str(jars), entry.sha256[:12])
    return table
