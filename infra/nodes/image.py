"""The local nodes' base image: Debian with systemd and sshd, built with mmdebstrap.

Built once per recipe and cached (rootfs tarball under the cache dir, image in the engine's
store); the tag carries the recipe's hash, so a changed recipe makes a new image.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra.errors import EngineError
from infra.nodes.engine import ContainerEngine
from infra.paths import cache_dir
from infra.render import digest, render

# The common role's Java and time sync come preinstalled: every node of every local stack would
# otherwise unpack the same JRE (and run its keystore setup) on its first converge. The role
# still checks them; bare-metal and cloud hosts get them from it.
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt",
    "iproute2", "sudo", "ca-certificates", "openjdk-17-jre-headless", "systemd-timesyncd",
)


@dataclass(frozen=True)
class ImageRecipe:
    suite: str
    ssh_user: str
    mirror: str = ""

    def script(self) -> str:
        return render("local/customize-image.sh.j2", ssh_user=self.ssh_user)

    @property
    def tag(self) -> str:
        h = digest(self.suite, self.mirror, ",".join(PACKAGES), self.script())[:12]
        return f"localhost/smack-node:{self.suite}-{h}"


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_image(engine: ContainerEngine, recipe: ImageRecipe) -> str:
    """Return the image tag, building and importing it only when it is missing."""
    if engine.image_exists(recipe.tag):
        return recipe.tag
    images = cache_dir() / "images"
    with _locked(images):
        if engine.image_exists(recipe.tag):  # another node's create built it meanwhile
            return recipe.tag
        name = recipe.tag.rsplit(":", 1)[1]
        tarball = images / f"{name}.tar"
        if not tarball.exists():
            _build_rootfs(recipe, images, tarball)
        engine.run(
            "import", "--change", 'CMD ["/sbin/init"]', "--change", "STOPSIGNAL SIGRTMIN+3",
            str(tarball), recipe.tag, timeout=900,
        )
    return recipe.tag


def _build_rootfs(recipe: ImageRecipe, images: Path, tarball: Path) -> None:
    if shutil.which("mmdebstrap") is None:
        raise EngineError(
            "mmdebstrap is not installed; it builds the local nodes' base image "
            "(the README's set-up commands install it)"
        )
    script = images / f"{tarball.stem}.customize.sh"
    script.write_text(recipe.script())
    partial = tarball.with_suffix(".partial")
    cmd = [
        "mmdebstrap", "--variant=minbase", "--format=tar", "--include=" + ",".join(PACKAGES),
        f"--customize-hook=sh {script} \"$1\"", recipe.suite, str(partial),
    ]
    if recipe.mirror:
        cmd.append(recipe.mirror)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise EngineError(f"building the base image with mmdebstrap failed:\n{tail}")
    partial.replace(tarball)
