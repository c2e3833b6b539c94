"""The artifact bundle: POM rendering, deterministic packing, the manifest and its checks.

Nothing here reaches a registry: Maven and pip are replaced by a fake fetcher that writes
small jars holding each service's main classes.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import sys
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from infra import bundle
from infra.bundle import (
    BuildSource,
    BundleError,
    Coordinate,
    Manifest,
    MavenRecipe,
    MavenSource,
    PypiSource,
    ServiceEntry,
    ServiceSpec,
)
from infra.config import ArtifactSettings, Settings, parse_settings
from infra.paths import PROJECT_DIR
from tests.support.settings import parse_only

pytestmark = pytest.mark.unit

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------- templates


def parse_xml(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - text we rendered ourselves


def _deps(root: ET.Element, path: str) -> list[dict[str, str | None]]:
    return [{tag: dep.findtext(f"m:{tag}", namespaces=POM_NS)
             for tag in ("groupId", "artifactId", "version", "type", "scope", "classifier")}
            for dep in root.findall(path, POM_NS)]


def test_pom_lists_dependencies_imports_boms_and_pins_the_plugin() -> None:
    pom = bundle.render_pom(
        "zookeeper", "3.9.5",
        [Coordinate("org.apache.zookeeper", "zookeeper", "3.9.5"),
         Coordinate("ch.qos.logback", "logback-classic"),
         Coordinate("io.netty", "netty-transport-native-epoll", "4.1.130.Final",
                    "linux-x86_64")],
        [Coordinate("org.apache.zookeeper", "parent", "3.9.5")])
    root = parse_xml(pom)
    assert root.findtext("m:artifactId", namespaces=POM_NS) == "zookeeper"
    assert root.findtext("m:packaging", namespaces=POM_NS) == "pom"
    deps = _deps(root, "m:dependencies/m:dependency")
    assert deps[0] == {"groupId": "org.apache.zookeeper", "artifactId": "zookeeper",
                       "version": "3.9.5", "type": None, "scope": None, "classifier": None}
    # No version: the imported parent POM manages it.
    assert deps[1]["artifactId"] == "logback-classic" and deps[1]["version"] is None
    assert deps[2]["classifier"] == "linux-x86_64"
    boms = _deps(root, "m:dependencyManagement/m:dependencies/m:dependency")
    assert boms == [{"groupId": "org.apache.zookeeper", "artifactId": "parent",
                     "version": "3.9.5", "type": "pom", "scope": "import", "classifier": None}]
    plugin = root.find("m:build/m:plugins/m:plugin", POM_NS)
    assert plugin is not None
    assert plugin.findtext("m:artifactId", namespaces=POM_NS) == "maven-dependency-plugin"
    assert plugin.findtext("m:version", namespaces=POM_NS) == bundle.DEPENDENCY_PLUGIN_VERSION


def test_pom_without_boms_has_no_dependency_management() -> None:
    root = parse_xml(bundle.render_pom(
        "cassandra", "5.0.6", [Coordinate("org.apache.cassandra", "cassandra-all", "5.0.6")], []))
    assert root.find("m:dependencyManagement", POM_NS) is None


@pytest.mark.parametrize("name", [n for n, s in bundle.SPECS.items()
                                  if isinstance(s.recipe, MavenRecipe)])
def test_every_maven_recipe_renders_a_pom_at_the_default_version(name: str) -> None:
    spec = bundle.SPECS[name]
    assert isinstance(spec.recipe, MavenRecipe)
    version = dict(bundle.wanted_entries(settings()))[name]
    deps, boms = bundle.maven_request(spec.recipe, version)
    root = parse_xml(bundle.render_pom(name, version, deps, boms))
    found = _deps(root, "m:dependencies/m:dependency")
    parts = dict(zip(spec.recipe.version_parts, version.split("-"), strict=False))
    for artifact in spec.recipe.artifacts:
        group, art, *pinned = artifact.format(**parts).split(":")
        assert {"groupId": group, "artifactId": art, "version": pinned[0] if pinned else version,
                "type": None, "scope": None, "classifier": None} in found


def test_maven_settings_mirror_everything_and_escape_the_url() -> None:
    text = bundle.render_maven_settings("https://repo.example.test/maven?a=1&b=2")
    root = parse_xml(text)
    ns = {"s": "http://maven.apache.org/SETTINGS/1.2.0"}
    mirror = root.find("s:mirrors/s:mirror", ns)
    assert mirror is not None
    assert mirror.findtext("s:mirrorOf", namespaces=ns) == "*"
    assert mirror.findtext("s:url", namespaces=ns) == "https://repo.example.test/maven?a=1&b=2"


# --------------------------------------------------------------------------- packing


def make_tree(root: Path) -> Path:
    top = root / "kafka_2.13-9.9.9"
    (top / "libs").mkdir(parents=True)
    (top / "bin").mkdir()
    (top / "libs" / "b.jar").write_bytes(b"jar b")
    (top / "libs" / "a.jar").write_bytes(b"jar a")
    (top / "bin" / "run.sh").write_text("#!/bin/sh\n")
    (top / "bin" / "run.sh").chmod(0o700)
    return top


def test_packing_is_deterministic(tmp_path: Path) -> None:
    top = make_tree(tmp_path / "src")
    first = bundle.pack_tree(top, tmp_path / "one.tar.gz")
    # Times, permissions beyond the exec bit and creation order must not matter.
    for path in top.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    (top / "libs" / "a.jar").chmod(0o600)
    second = bundle.pack_tree(top, tmp_path / "two.tar.gz")
    one, two = (tmp_path / "one.tar.gz").read_bytes(), (tmp_path / "two.tar.gz").read_bytes()
    assert sha(one) == sha(two)
    assert first == second == {"bin/run.sh": sha(b"#!/bin/sh\n"), "libs/a.jar": sha(b"jar a"),
                               "libs/b.jar": sha(b"jar b")}
    assert not list(tmp_path.glob(".*.tmp"))


def test_packed_entries_are_sorted_owned_by_root_with_a_fixed_time(tmp_path: Path) -> None:
    top = make_tree(tmp_path / "src")
    bundle.pack_tree(top, tmp_path / "t.tar.gz")
    with tarfile.open(tmp_path / "t.tar.gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "kafka_2.13-9.9.9", "kafka_2.13-9.9.9/bin", "kafka_2.13-9.9.9/bin/run.sh",
        "kafka_2.13-9.9.9/libs", "kafka_2.13-9.9.9/libs/a.jar", "kafka_2.13-9.9.9/libs/b.jar"]
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, bundle.FIXED_MTIME)}
    modes = {m.name.rsplit("/", 1)[-1]: m.mode for m in members}
    assert modes["run.sh"] == 0o755 and modes["a.jar"] == 0o644 and modes["libs"] == 0o755


def test_changed_content_changes_the_tarball(tmp_path: Path) -> None:
    top = make_tree(tmp_path / "src")
    bundle.pack_tree(top, tmp_path / "one.tar.gz")
    (top / "libs" / "a.jar").write_bytes(b"jar A")
    bundle.pack_tree(top, tmp_path / "two.tar.gz")
    assert bundle.file_sha256(tmp_path / "one.tar.gz") != \
        bundle.file_sha256(tmp_path / "two.tar.gz")


def test_symlinks_are_refused(tmp_path: Path) -> None:
    top = make_tree(tmp_path / "src")
    (top / "libs" / "link.jar").symlink_to(top / "libs" / "a.jar")
    with pytest.raises(BundleError, match=r"link\.jar: only regular files and directories"):
        bundle.pack_tree(top, tmp_path / "t.tar.gz")


# -------------------------------------------------------------------------- manifest


def packed_entry(directory: Path, top: Path, name: str = "kafka",
                 version: str = "9.9.9") -> ServiceEntry:
    tarball = directory / f"{name}-{version}.tar.gz"
    files = bundle.pack_tree(top, tarball)
    return ServiceEntry(
        version=version, file=tarball.name, sha256=bundle.file_sha256(tarball),
        size=tarball.stat().st_size, top_dir=top.name, classpath_dir="libs",
        main_classes={"server": "kafka.Kafka"},
        source=MavenSource(requested=[f"org.apache.kafka:kafka_2.13:{version}"],
                           resolved=[f"org.apache.kafka:kafka_2.13:{version}"]),
        recipe="r", files=files)


def test_manifest_round_trip(tmp_path: Path) -> None:
    entry = packed_entry(tmp_path, make_tree(tmp_path / "src"))
    spark = entry.model_copy(update={
        "file": "spark-3.5.8.tar.gz", "classpath_dir": "jars",
        "source": PypiSource(requirement="pyspark==3.5.8", file="pyspark-3.5.8.tar.gz",
                             sha256="0" * 64)})
    manifest = Manifest(artifacts={"kafka": entry, "spark": spark})
    bundle.write_manifest(tmp_path, manifest)
    assert bundle.read_manifest(tmp_path) == manifest
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["format"] == 1
    assert raw["artifacts"]["spark"]["source"]["kind"] == "pypi"
    assert raw["artifacts"]["kafka"]["files"]["libs/a.jar"] == sha(b"jar a")
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_or_broken_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"no bundle manifest here; run `smack bundle`"):
        bundle.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": 7, "artifacts": {}}')
    with pytest.raises(BundleError, match=r"not a bundle manifest of format 1 \(format:"):
        bundle.read_manifest(tmp_path)


def test_verify_accepts_an_intact_bundle(tmp_path: Path) -> None:
    bundle.write_manifest(tmp_path, Manifest(artifacts={
        "kafka": packed_entry(tmp_path, make_tree(tmp_path / "src"))}))
    assert bundle.verify(tmp_path) == []
    assert bundle.verify(tmp_path, deep=True) == []


def test_verify_names_a_tampered_tarball_and_both_checksums(tmp_path: Path) -> None:
    entry = packed_entry(tmp_path, make_tree(tmp_path / "src"))
    bundle.write_manifest(tmp_path, Manifest(artifacts={"kafka": entry}))
    tarball = tmp_path / entry.file
    tarball.write_bytes(tarball.read_bytes() + b"\0")
    actual = bundle.file_sha256(tarball)
    assert bundle.verify(tmp_path) == [
        f"kafka: {tarball} has sha256 {actual}, the manifest records {entry.sha256}"]
    with pytest.raises(BundleError, match=rf"(?s)does not match its manifest.*{actual}"):
        bundle.require_valid(tmp_path)


def test_verify_names_a_missing_tarball(tmp_path: Path) -> None:
    entry = packed_entry(tmp_path, make_tree(tmp_path / "src"))
    bundle.write_manifest(tmp_path, Manifest(artifacts={"kafka": entry}))
    (tmp_path / entry.file).unlink()
    assert bundle.verify(tmp_path) == [
        f"kafka: {tmp_path / entry.file} is missing (the manifest records sha256 "
        f"{entry.sha256})"]


def test_deep_verify_checks_every_file_in_the_tarball(tmp_path: Path) -> None:
    top = make_tree(tmp_path / "src")
    entry = packed_entry(tmp_path, top)
    # Repacked with one file changed, one removed and one added; the manifest keeps the
    # tarball's new sum, so only the per-file sums can tell.
    (top / "libs" / "a.jar").write_bytes(b"evil")
    (top / "libs" / "b.jar").unlink()
    (top / "libs" / "c.jar").write_bytes(b"new")
    repacked = packed_entry(tmp_path, top)
    bundle.write_manifest(tmp_path, Manifest(artifacts={"kafka": entry.model_copy(update={
        "sha256": repacked.sha256, "size": repacked.size})}))
    assert bundle.verify(tmp_path) == []
    assert bundle.verify(tmp_path, deep=True) == [
        f"kafka: kafka_2.13-9.9.9/libs/a.jar in kafka-9.9.9.tar.gz has sha256 {sha(b'evil')}, "
        f"the manifest records {sha(b'jar a')}",
        f"kafka: kafka_2.13-9.9.9/libs/b.jar is missing from kafka-9.9.9.tar.gz (the manifest "
        f"records sha256 {sha(b'jar b')})",
        "kafka: kafka_2.13-9.9.9/libs/c.jar in kafka-9.9.9.tar.gz is not in the manifest"]


# ---------------------------------------------------------------------------- recipes


def test_repository_paths_give_exact_coordinates() -> None:
    assert bundle.parse_repository_path(
        Path("org/apache/kafka/kafka_2.13/4.1.1/kafka_2.13-4.1.1.jar")
    ) == Coordinate("org.apache.kafka", "kafka_2.13", "4.1.1")
    coord = bundle.parse_repository_path(Path(
        "io/netty/netty-transport-native-epoll/4.1.130.Final/"
        "netty-transport-native-epoll-4.1.130.Final-linux-x86_64.jar"))
    assert coord == Coordinate("io.netty", "netty-transport-native-epoll", "4.1.130.Final",
                               "linux-x86_64")
    assert str(coord) == "io.netty:netty-transport-native-epoll:4.1.130.Final:linux-x86_64"
    with pytest.raises(BundleError, match="not a Maven repository path"):
        bundle.parse_repository_path(Path("x/1.0/other-1.0.jar"))


@pytest.mark.parametrize(("slf4j", "binding"), [("1.7.36", "log4j-slf4j-impl"),
                                                ("2.0.17", "log4j-slf4j2-impl")])
def test_kafka_gets_the_log4j_binding_for_its_slf4j(slf4j: str, binding: str) -> None:
    found = {"org.slf4j:slf4j-api": slf4j, "org.apache.logging.log4j:log4j-core": "2.25.3"}
    assert bundle.kafka_logging(found) == [
        Coordinate("org.apache.logging.log4j", name, "2.25.3")
        for name in ("log4j-api", "log4j-core", binding, "log4j-1.2-api")]


def test_kafka_4_0_gets_the_log4j_its_release_shipped() -> None:
    # Kafka 4.0's POMs name no log4j at all.
    assert {c.version for c in bundle.kafka_logging({"org.slf4j:slf4j-api": "1.7.36"})} == {
        bundle.KAFKA_4_0_LOG4J}
    with pytest.raises(BundleError, match=r"recipe in infra/bundle\.py needs updating"):
        bundle.kafka_logging({})


def write_jar(path: Path, classes: list[str]) -> None:
    """A jar whose bytes depend on its classes only: a zip entry named by string takes the
    current time (2-second steps), so two builds a moment apart differed (as Maven's would
    not: a released jar is fixed bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for cls in classes:
            entry = zipfile.ZipInfo(cls.replace(".", "/") + ".class", (2024, 1, 1, 0, 0, 0))
            z.writestr(entry, b"\xca\xfe\xba\xbe")


def test_missing_main_classes_are_named(tmp_path: Path) -> None:
    write_jar(tmp_path / "a.jar", ["kafka.Kafka"])
    write_jar(tmp_path / "b.jar", ["org.apache.kafka.tools.TopicCommand"])
    mains = {"server": "kafka.Kafka", "topics": "org.apache.kafka.tools.TopicCommand",
             "storage": "kafka.tools.StorageTool"}
    assert bundle.missing_main_classes(tmp_path, mains) == ["storage: kafka.tools.StorageTool"]


def test_recipe_id_follows_version_and_recipe() -> None:
    spec = bundle.SPECS["kafka"]
    assert spec.recipe_id("4.1.1") == spec.recipe_id("4.1.1")
    assert spec.recipe_id("4.1.1") != spec.recipe_id("4.1.0")
    fewer = MavenRecipe(artifacts=("org.apache.kafka:kafka_2.13",))
    other = ServiceSpec(name="kafka", recipe=fewer, top_dir=spec.top_dir,
                        classpath_dir=spec.classpath_dir, main_classes=spec.main_classes)
    assert other.recipe_id("4.1.1") != spec.recipe_id("4.1.1")


# ----------------------------------------------------------------------------- building


class FakeFetch:
    """Stands in for Maven and pip: one jar per service holding its main classes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, spec: ServiceSpec, version: str, top: Path, work: Path,
                 artifacts: ArtifactSettings) -> MavenSource | PypiSource | BuildSource:
        self.calls.append((spec.name, version))
        write_jar(top / spec.classpath_dir / f"{spec.name}-{version}.jar",
                  list(spec.main_classes.values()))
        if spec.name == "spark":
            (top / "bin").mkdir()
            (top / "bin" / "spark-class").write_text("#!/bin/sh\n")
            write_jar(top / "jars" / "scala-library-2.12.18.jar", [])
            return PypiSource(requirement=f"pyspark=={version}",
                              file=f"pyspark-{version}.tar.gz", sha256="0" * 64)
        if spec.name == bundle.SPARK_CONNECTORS:
            # What Maven resolves next to the connectors: jars Spark ships already, too.
            write_jar(top / "jars" / "scala-library-2.12.19.jar", [])
            write_jar(top / "jars" / "kafka-clients-3.4.1.jar", [])
        if spec.name == bundle.IOT_PIPELINE:
            return BuildSource(project="pipelines/iot", sources="0" * 64)
        return MavenSource(requested=[f"g:{spec.name}:{version}"],
                           resolved=[f"g:{spec.name}:{version}"])


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120, soft_wrap=True)  # like the CLI's console


def output(console: Console) -> str:
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def settings(**services: dict[str, object]) -> Settings:
    return parse_settings("t", parse_only({"smack:target": "local", "smack:services": services}))


def test_build_bundle_builds_once_then_leaves_everything_alone(tmp_path: Path) -> None:
    fetch = FakeFetch()
    manifest = bundle.build_bundle(settings(), tmp_path, quiet(), fetch=fetch)
    assert [name for name, _ in fetch.calls] == ["zookeeper", "kafka", "cassandra", "spark",
                                                 "spark_connectors", "iot_pipeline",
                                                 "jmx_exporter", "uplot"]
    assert set(manifest.artifacts) == {"cassandra", "kafka", "spark", "zookeeper",
                                       "spark_connectors", "iot_pipeline", "jmx_exporter",
                                       "uplot"}
    kafka = manifest.artifacts["kafka"]
    assert (kafka.file, kafka.top_dir, kafka.classpath_dir) == (
        "kafka-4.1.1.tar.gz", "kafka_2.13-4.1.1", "libs")
    assert manifest.artifacts["zookeeper"].top_dir == "apache-zookeeper-3.9.5-bin"
    assert manifest.artifacts["cassandra"].top_dir == "apache-cassandra-5.0.6"
    assert manifest.artifacts["spark"].top_dir == "spark-3.5.8-bin-hadoop3"
    assert bundle.read_manifest(tmp_path) == manifest
    assert bundle.verify(tmp_path, deep=True) == []
    assert not list(tmp_path.glob(".work-*"))

    fetch.calls.clear()
    console = quiet()
    assert bundle.build_bundle(settings(), tmp_path, console, fetch=fetch) == manifest
    assert fetch.calls == []
    assert output(console).count("up to date") == 8


def test_the_connectors_leave_out_what_spark_ships_and_record_it(tmp_path: Path) -> None:
    manifest = bundle.build_bundle(settings(), tmp_path, quiet(), fetch=FakeFetch())
    connectors = manifest.artifacts["spark_connectors"]
    assert connectors.version == "3.5.7-3.5.1"
    assert connectors.top_dir == "spark-connectors-3.5.7-3.5.1"
    assert sorted(connectors.files) == ["jars/kafka-clients-3.4.1.jar",
                                        "jars/spark_connectors-3.5.7-3.5.1.jar"]
    assert isinstance(connectors.source, MavenSource)
    assert connectors.source.provided == ["scala-library-2.12.19.jar"]
    pipeline = manifest.artifacts["iot_pipeline"]
    # The POM's version and a digest of the sources: an edit is a new release on the nodes.
    digest = bundle.project_digest("pipelines/iot")[:12]
    assert pipeline.version == f"1.0.0-{digest}"
    assert (pipeline.top_dir, pipeline.classpath_dir) == (f"iot-pipeline-1.0.0-{digest}", "lib")


def test_the_connectors_are_rebuilt_when_spark_stops_shipping_a_jar(tmp_path: Path) -> None:
    fetch = FakeFetch()
    bundle.build_bundle(settings(), tmp_path, quiet(), fetch=fetch)
    manifest = bundle.read_manifest(tmp_path)
    spark = manifest.artifacts["spark"]
    fewer = spark.model_copy(update={"files": {k: v for k, v in spark.files.items()
                                               if "scala-library" not in k}})
    bundle.write_manifest(tmp_path, Manifest(artifacts={**manifest.artifacts, "spark": fewer}))
    fetch.calls.clear()
    console = quiet()
    rebuilt = bundle.build_bundle(settings(), tmp_path, console, fetch=fetch)
    assert fetch.calls == [("spark_connectors", "3.5.7-3.5.1")]
    assert "spark-3.5.8-bin-hadoop3 no longer ships scala-library" in output(console)
    connectors = rebuilt.artifacts["spark_connectors"]
    assert "jars/scala-library-2.12.19.jar" in connectors.files


def test_connectors_and_pipeline_follow_the_services_they_serve(tmp_path: Path) -> None:
    fetch = FakeFetch()
    bundle.build_bundle(settings(cassandra={"enabled": False}), tmp_path, quiet(), fetch=fetch)
    # Spark jobs get the connectors; the pipeline needs Kafka, Spark and Cassandra.
    assert [name for name, _ in fetch.calls] == ["zookeeper", "kafka", "spark",
                                                 "spark_connectors", "jmx_exporter", "uplot"]
    fetch.calls.clear()
    changed = settings(spark={"kafka_connector_version": "3.5.4"})
    bundle.build_bundle(changed, tmp_path, quiet(), fetch=fetch)
    assert fetch.calls == [("cassandra", "5.0.6"), ("spark_connectors", "3.5.4-3.5.1"),
                           ("iot_pipeline", bundle.pipeline_bundle_version())]
    assert not (tmp_path / "spark_connectors-3.5.7-3.5.1.tar.gz").exists()


def test_a_composite_version_must_have_every_part() -> None:
    recipe = bundle.SPECS["spark_connectors"].recipe
    assert isinstance(recipe, MavenRecipe)
    deps, _ = bundle.maven_request(recipe, "3.5.7-3.5.1")
    assert [str(d) for d in deps] == [
        "org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.7",
        "com.datastax.spark:spark-cassandra-connector_2.12:3.5.1"]
    with pytest.raises(BundleError, match="expected kafka-cassandra"):
        bundle.maven_request(recipe, "3.5.7")


@pytest.mark.parametrize(("name", "artifact"), [
    ("scala-library-2.12.18.jar", "scala-library"), ("zstd-jni-1.5.5-4.jar", "zstd-jni"),
    ("spark-core_2.12-3.5.8.jar", "spark-core_2.12"), ("HdrHistogram-2.1.12.jar", "HdrHistogram"),
    ("java-driver-shaded-guava-25.1-jre-graal-sub-1.jar", "java-driver-shaded-guava")])
def test_jar_artifact_names(name: str, artifact: str) -> None:
    assert bundle.jar_artifact(name) == artifact


def test_a_pipeline_source_edit_changes_its_recipe(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import infra.paths

    project = tmp_path / "pipelines" / "iot"
    (project / "src").mkdir(parents=True)
    (project / "target").mkdir()
    (project / "src" / "A.java").write_text("class A {}")
    (project / "target" / "a.jar").write_text("built")
    monkeypatch.setattr(infra.paths, "PROJECT_DIR", tmp_path)
    spec = bundle.SPECS["iot_pipeline"]
    first = spec.recipe_id("1.0.0")
    (project / "target" / "a.jar").write_text("built again")
    assert spec.recipe_id("1.0.0") == first  # build output is not a source
    (project / "src" / "A.java").write_text("class A { int x; }")
    assert spec.recipe_id("1.0.0") != first


def test_an_unreadable_manifest_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    console = quiet()
    manifest = bundle.build_bundle(settings(), tmp_path, console, fetch=FakeFetch())
    assert "not a bundle manifest of format 1" in output(console)
    assert bundle.read_manifest(tmp_path) == manifest
    assert len(manifest.artifacts) == 8


def test_a_tampered_tarball_is_rebuilt_and_the_reason_named(tmp_path: Path) -> None:
    fetch = FakeFetch()
    first = bundle.build_bundle(settings(), tmp_path, quiet(), fetch=fetch)
    tarball = tmp_path / first.artifacts["kafka"].file
    tarball.write_bytes(b"not a tarball")
    fetch.calls.clear()
    console = quiet()
    second = bundle.build_bundle(settings(), tmp_path, console, fetch=fetch)
    assert fetch.calls == [("kafka", "4.1.1")]
    assert second == first  # same inputs, same bytes
    assert (f"kafka-4.1.1.tar.gz has sha256 {sha(b'not a tarball')}, the manifest records "
            f"{first.artifacts['kafka'].sha256}") in output(console)


def test_a_version_change_replaces_the_tarball_and_keeps_other_services(tmp_path: Path) -> None:
    fetch = FakeFetch()
    bundle.build_bundle(settings(), tmp_path, quiet(), fetch=fetch)
    fetch.calls.clear()
    changed = settings(kafka={"version": "4.1.0"}, spark={"enabled": False})
    manifest = bundle.build_bundle(changed, tmp_path, quiet(), fetch=fetch)
    assert fetch.calls == [("kafka", "4.1.0")]
    assert manifest.artifacts["kafka"].version == "4.1.0"
    assert not (tmp_path / "kafka-4.1.1.tar.gz").exists()
    assert (tmp_path / "kafka-4.1.0.tar.gz").is_file()
    # A disabled service keeps its entry: another stack may use the same bundle directory.
    assert manifest.artifacts["spark"].version == "3.5.8"


def test_a_missing_main_class_stops_the_build(tmp_path: Path) -> None:
    def no_classes(spec: ServiceSpec, version: str, top: Path, work: Path,
                   artifacts: ArtifactSettings) -> MavenSource:
        write_jar(top / spec.classpath_dir / "empty.jar", [])
        return MavenSource(requested=[], resolved=[])

    with pytest.raises(BundleError, match=r"zookeeper 3\.9\.5: no jar in lib/ holds server: "
                                          r"org\.apache\.zookeeper\.server\.quorum\."):
        bundle.build_bundle(settings(), tmp_path, quiet(), fetch=no_classes)
    assert not (tmp_path / "zookeeper-3.9.5.tar.gz").exists()
    assert not list(tmp_path.glob(".work-*"))


def test_a_second_build_at_the_same_time_is_refused(tmp_path: Path) -> None:
    with (tmp_path / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(BundleError, match="another `smack bundle` is writing"):
            bundle.build_bundle(settings(), tmp_path, quiet(), fetch=FakeFetch())


def test_bundle_dir_defaults_to_the_cache_and_resolves_relative_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMACK_CACHE_DIR", str(tmp_path))
    assert settings().artifacts.bundle_path() == tmp_path / "bundle"
    relative = parse_settings("t", parse_only({"smack:target": "local",
                                               "smack:artifacts": {"bundle_dir": "build/bundle"}}))
    assert relative.artifacts.bundle_path() == PROJECT_DIR / "build" / "bundle"


@pytest.mark.usefixtures("standin_repository")
def test_cli_builds_then_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from infra import cli

    monkeypatch.setattr(bundle, "_fetch", FakeFetch())
    assert cli.main(["bundle", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "kafka-4.1.1.tar.gz" in out and "bundle ready" in out
    assert cli.main(["bundle", "--verify", "--dir", str(tmp_path)]) == 0
    (tmp_path / "zookeeper-3.9.5.tar.gz").unlink()
    assert cli.main(["bundle", "--verify", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "zookeeper-3.9.5.tar.gz is missing" in err
    assert "Traceback" not in err


def test_a_failed_command_shows_its_errors_without_maven_boilerplate() -> None:
    script = ("print('[INFO] noise'); "
              "print('[ERROR] Could not find artifact g:a:jar:9 -> [Help 1]'); "
              "print('[ERROR] '); "
              "print('[ERROR] To see the full stack trace of the errors, re-run Maven with the "
              "-e switch.'); "
              "print('[ERROR] [Help 1] http://help.invalid/x'); raise SystemExit(1)")
    with pytest.raises(BundleError) as caught:
        bundle._run([sys.executable, "-c", script], "kafka 9: resolving", "install it",
                    "check the version")
    assert str(caught.value) == ("kafka 9: resolving failed (exit 1):\n"
                                 "    [ERROR] Could not find artifact g:a:jar:9\n"
                                 "check the version")
    with pytest.raises(BundleError, match=r"`no-such-mvn-here` is not on PATH; install it"):
        bundle._run(["no-such-mvn-here"], "kafka 9: resolving", "install it", "check")


def test_an_npm_entry_takes_the_named_files_out_of_what_npm_packed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uPlot for the dashboards: `npm pack` (here a fake npm on PATH that records its
    arguments) leaves one tarball; the recipe's files are taken out of it, a missing one is
    named."""
    packed = tmp_path / "src"
    (packed / "package" / "dist").mkdir(parents=True)
    (packed / "package" / "dist" / "uPlot.iife.min.js").write_text("var uPlot;")
    (packed / "package" / "dist" / "uPlot.min.css").write_text(".uplot{}")
    (packed / "package" / "LICENSE").write_text("MIT")
    tgz = tmp_path / "uplot-1.6.32.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(packed / "package", arcname="package")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/npm-args\n'
        'while [ "$1" != --pack-destination ]; do shift; done\n'
        f'cp {tgz} "$2/"\n')
    (bin_dir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    spec = bundle.SPECS[bundle.UPLOT]
    assert isinstance(spec.recipe, bundle.NpmRecipe)
    top = tmp_path / "top"
    source = bundle.fetch_npm(spec, spec.recipe, "1.6.32", top, tmp_path / "work")
    assert (tmp_path / "npm-args").read_text().split()[-1] == "uplot@1.6.32"
    assert (top / "dist" / "uPlot.iife.min.js").read_text() == "var uPlot;"
    assert (top / "LICENSE").read_text() == "MIT"
    assert source.package == "uplot@1.6.32" and source.sha256 == bundle.file_sha256(tgz)

    (packed / "package" / "LICENSE").unlink()
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(packed / "package", arcname="package")
    with pytest.raises(bundle.BundleError, match="has no package/LICENSE"):
        bundle.fetch_npm(spec, spec.recipe, "1.6.32", tmp_path / "top2", tmp_path / "work2")
