"""Release installation from each artifact source, on a real node.

bundle: the tarball `smack bundle` made; mirror: the Apache archive's layout served over
HTTP from this machine (the same code path as upstream, with a published .sha512 in the
grouped upper-case form Apache uses). A checksum mismatch must fail naming the file and both
checksums, and leave nothing installed.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.errors import AnsibleRunError
from infra.nodes.local import local_specs
from infra.nodes.local_engine import open_engine
from infra.paths import PROJECT_DIR
from infra.topology import LOCAL_BUNDLE_NODE_DIR
from tests.integration.conftest import integration_settings, new_cluster
from tests.support.direct import DirectLocalCluster

pytestmark = pytest.mark.integration
PLAYBOOK = str(PROJECT_DIR / "tests" / "integration" / "playbooks" / "artifact.yml")


@pytest.fixture(scope="module")
def node() -> Iterator[DirectLocalCluster]:
    c = new_cluster(integration_settings(count=1))
    try:
        c.up()
        yield c
    finally:
        c.down()


@pytest.fixture(scope="module")
def release() -> tuple[str, Path]:
    """The ZooKeeper release of the real bundle (built by the set-up step)."""
    bundle = integration_settings().artifacts.bundle_path()
    entry = json.loads((bundle / "manifest.json").read_text())["artifacts"]["zookeeper"]
    return entry["version"], bundle / entry["file"]


def exists(c: DirectLocalCluster, path: str) -> bool:
    engine = open_engine(local_specs(c.settings, "").network["engine"])
    container = next(iter(c.created))
    return engine.run("exec", container, "test", "-e", path, check=False).returncode == 0


def install(c: DirectLocalCluster, **extravars: str):  # type: ignore[no-untyped-def]
    return c.run(PLAYBOOK, extravars=extravars)


def test_bundle_install_is_verified_and_runs_once(node: DirectLocalCluster,
                                                  release: tuple[str, Path]) -> None:
    version, tarball = release
    args = {"test_version": version, "test_source": "bundle", "test_root": "/opt/t-bundle",
            "test_bundle_dir": str(tarball.parent)}
    first = install(node, **args)
    assert first.changed > 0
    assert "node-1: Copy the release from the bundle" in " ".join(first.changed_tasks)
    assert exists(node, f"/opt/t-bundle/zookeeper/apache-zookeeper-{version}-bin/lib/"
                        f"zookeeper-{version}.jar")
    assert exists(node, "/opt/t-bundle/zookeeper/current")
    assert not exists(node, f"/var/cache/smack/zookeeper-{version}.tar.gz")
    assert install(node, **args).changed == 0


def test_a_bundle_the_node_sees_is_unpacked_in_place(node: DirectLocalCluster,
                                                     release: tuple[str, Path]) -> None:
    """Local nodes mount the bundle read-only: nothing is copied, the tarball stays."""
    version, tarball = release
    mounted = f"{LOCAL_BUNDLE_NODE_DIR}/{tarball.name}"
    assert exists(node, mounted)
    args = {"test_version": version, "test_source": "bundle", "test_root": "/opt/t-mounted",
            "test_bundle_dir": str(tarball.parent), "test_bundle_node_dir": LOCAL_BUNDLE_NODE_DIR}
    result = install(node, **args)
    changed = " ".join(result.changed_tasks)
    assert "Unpack the release" in changed and "Copy the release" not in changed, changed
    assert exists(node, f"/opt/t-mounted/zookeeper/apache-zookeeper-{version}-bin/lib/"
                        f"zookeeper-{version}.jar")
    assert exists(node, mounted)
    assert install(node, **args).changed == 0


def test_bundle_checksum_mismatch_installs_nothing(node: DirectLocalCluster,
                                                   release: tuple[str, Path],
                                                   tmp_path: Path) -> None:
    version, tarball = release
    manifest = json.loads((tarball.parent / "manifest.json").read_text())
    manifest["artifacts"]["zookeeper"]["sha256"] = "0" * 64
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / tarball.name).symlink_to(tarball)
    with pytest.raises(AnsibleRunError) as caught:
        # The tarball the node sees has another checksum than this manifest's: it is
        # copied instead, and the copy is refused.
        install(node, test_version=version, test_source="bundle", test_root="/opt/t-bad",
                test_bundle_dir=str(tmp_path), test_bundle_node_dir=LOCAL_BUNDLE_NODE_DIR)
    message = str(caught.value)
    real = hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert f"has sha256 {real}, expected {'0' * 64}; nothing was installed" in message
    assert "zookeeper-" in message and "node-1" in message
    assert not exists(node, f"/opt/t-bad/zookeeper/apache-zookeeper-{version}-bin")
    assert not exists(node, f"/var/cache/smack/zookeeper-{version}.tar.gz")


@pytest.fixture
def mirror(node: DirectLocalCluster, release: tuple[str, Path], tmp_path: Path
           ) -> Iterator[tuple[Path, str]]:
    """The archive layout served over HTTP on this machine's address on the node network."""
    version, tarball = release
    relative = Path(f"zookeeper/zookeeper-{version}/apache-zookeeper-{version}-bin.tar.gz")
    (tmp_path / relative).parent.mkdir(parents=True)
    shutil.copy(tarball, tmp_path / relative)
    gateway = node.network["gateway"] if node.network else "127.0.0.1"

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((gateway, 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path / relative, f"http://{gateway}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def grouped_sha512(path: Path) -> str:
    """The form Apache's older .sha512 files take: file name, then upper-case groups."""
    digest = hashlib.sha512(path.read_bytes()).hexdigest().upper()
    groups = [digest[i:i + 8] for i in range(0, len(digest), 8)]
    return f"{path.name}: " + " ".join(groups[:8]) + "\n" + " ".join(groups[8:]) + "\n"


def test_mirror_install_checks_the_published_sha512(node: DirectLocalCluster,
                                                    release: tuple[str, Path],
                                                    mirror: tuple[Path, str]) -> None:
    version, _ = release
    tarball, url = mirror
    tarball.with_name(tarball.name + ".sha512").write_text(grouped_sha512(tarball))
    result = install(node, test_version=version, test_source="mirror",
                     test_root="/opt/t-mirror", test_mirror_url=url)
    assert result.changed > 0
    assert exists(node, f"/opt/t-mirror/zookeeper/apache-zookeeper-{version}-bin/lib")


def test_mirror_with_a_wrong_sha512_installs_nothing(node: DirectLocalCluster,
                                                     release: tuple[str, Path],
                                                     mirror: tuple[Path, str]) -> None:
    version, _ = release
    tarball, url = mirror
    tarball.with_name(tarball.name + ".sha512").write_text(
        f"{'ab' * 64}  {tarball.name}\n")
    with pytest.raises(AnsibleRunError) as caught:
        install(node, test_version=version, test_source="mirror", test_root="/opt/t-mirror-bad",
                test_mirror_url=url)
    assert f"expected {'ab' * 64}; nothing was installed" in str(caught.value)
    assert not exists(node, f"/opt/t-mirror-bad/zookeeper/apache-zookeeper-{version}-bin")
