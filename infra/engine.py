"""The Pulumi engine as smack drives it: the CLI, the file backend, the passphrase, a stack.

Both `smack` (through the Automation API) and a plain `pulumi` command (after
`source scripts/env.sh`) use the same settings, so either can manage the same stacks.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.errors import SmackError
from infra.paths import PROJECT_DIR, cache_dir, state_root

if TYPE_CHECKING:
    from pulumi import automation as auto


def sdk_version() -> str:
    """The pulumi CLI must match the pulumi Python SDK pinned in pyproject.toml."""
    return version("pulumi")


def pulumi_bin_dir() -> Path | None:
    """A directory holding a pulumi CLI of the SDK's version: the build cache, else PATH."""
    want = f"v{sdk_version()}"
    cached = cache_dir() / "pulumi" / want / "bin"
    if (cached / "pulumi").is_file():
        return cached
    found = shutil.which("pulumi")
    if found:
        proc = subprocess.run([found, "version"], capture_output=True, text=True, check=False)
        if proc.stdout.strip() == want:
            return Path(found).parent
    return None


def passphrase_file() -> Path:
    explicit = os.environ.get("SMACK_PASSPHRASE_FILE")
    if explicit:
        return Path(explicit)
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "smack" / "pulumi-passphrase"


def ensure_passphrase() -> Path:
    """The machine's passphrase for stack secrets: made once, 0600 from the start, never shown."""
    path = passphrase_file()
    if path.exists():
        path.chmod(0o600)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32))
    return path


def backend_url() -> str:
    return os.environ.get("PULUMI_BACKEND_URL") or f"file://{state_root() / 'pulumi'}"


def engine_env() -> dict[str, str]:
    """Environment for every engine call; the user's own PULUMI_* choices win."""
    (state_root() / "pulumi").mkdir(parents=True, exist_ok=True)
    env = {
        "PULUMI_BACKEND_URL": backend_url(),
        "PULUMI_HOME": os.environ.get("PULUMI_HOME") or str(state_root() / "pulumi-home"),
        # No update checks or plugin downloads: both would reach outside this machine.
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    if not (os.environ.get("PULUMI_CONFIG_PASSPHRASE")
            or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(ensure_passphrase())
    bin_dir = pulumi_bin_dir()
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return env


def require_cli() -> Path:
    bin_dir = pulumi_bin_dir()
    if bin_dir is None:
        raise SmackError(
            f"the pulumi CLI v{sdk_version()} is not on this machine; run `make up` (or "
            f"scripts/setup.sh), which builds it once into {cache_dir() / 'pulumi'}"
        )
    return bin_dir


def select_stack(stack: str, extra_env: dict[str, str] | None = None) -> auto.Stack:
    """The stack `stack` of this project, created in the backend on first use; `extra_env`
    reaches the program and its providers for the commands run on it."""
    from pulumi import automation as auto  # noqa: PLC0415 - heavy, only for engine commands

    bin_dir = require_cli()
    env = {**engine_env(), **(extra_env or {})}
    command = auto.PulumiCommand(root=str(bin_dir.parent))
    workspace = auto.LocalWorkspaceOptions(
        work_dir=str(PROJECT_DIR), pulumi_home=env["PULUMI_HOME"], env_vars=env,
        pulumi_command=command,
    )
    return auto.create_or_select_stack(stack_name=stack, work_dir=str(PROJECT_DIR),
                                       opts=workspace)


def _diagnostics(text: str) -> list[str]:
    """The lines of an engine failure that say what went wrong, without tracebacks."""
    keep: list[str] = []
    inside = skipping = False
    for raw in text.splitlines():
        line = raw.strip()
        if raw.startswith("Diagnostics:"):
            inside = True
            continue
        if inside and raw[:1].isalpha():  # "Outputs:", "Resources:", ... end the section
            inside = False
        if not inside or not line:
            continue
        if "Traceback (most recent call last)" in line:
            skipping = True
            continue
        if skipping:
            # The traceback ends with "module.Error: message"; keep only the message.
            head, sep, message = line.partition("Error: ")
            if sep and " " not in head:
                skipping = False
                keep.append(message)
            continue
        if line.startswith("error:") and line not in ("error: update failed",):
            keep.append(line.removeprefix("error: "))
        elif line.startswith("- "):
            keep.append(line)
    return list(dict.fromkeys(keep))


def _failure(command: str, stack: str, text: str) -> SmackError:
    if "incorrect passphrase" in text:
        return SmackError(
            f"stack '{stack}': stacks/Pulumi.{stack}.yaml holds an `encryptionsalt:` made with "
            f"another passphrase than this machine's ({passphrase_file()}); remove that line "
            f"or set PULUMI_CONFIG_PASSPHRASE to the passphrase it was made with"
        )
    lines = _diagnostics(text) or text.strip().splitlines()[-3:]
    return SmackError(f"`smack {command}` failed for stack '{stack}':\n" + "\n".join(lines))


class TracebackFilter:
    """Passes engine output through, folding provider tracebacks into their last line."""

    def __init__(self, sink: Callable[[str], Any]) -> None:
        self.sink = sink
        self.skipping = False

    def __call__(self, line: str) -> None:
        text = line.strip()
        if "Traceback (most recent call last)" in text:
            self.skipping = True
            return
        if self.skipping:
            head, sep, _ = text.partition("Error: ")
            if not (sep and " " not in head):
                return
            self.skipping = False
        self.sink(line)


def run(command: str, stack: str, on_output: Callable[[str], Any],
        extra_env: dict[str, str] | None = None,
        on_event: Callable[[Any], Any] | None = None, *, refresh: bool = False) -> dict[str, Any]:
    """Run up, preview or destroy on `stack`; return the stack outputs (empty after destroy).
    `on_event` sees the engine's structured events (up and preview); `refresh` reads the
    resources first (site.yml's drift check among them)."""
    from pulumi import automation as auto  # noqa: PLC0415

    target = select_stack(stack, extra_env)
    on_output = TracebackFilter(on_output)
    try:
        if command == "up":
            target.up(on_output=on_output, on_event=on_event, refresh=refresh or None)
        elif command == "preview":
            target.preview(on_output=on_output, on_event=on_event, refresh=refresh or None)
        elif command == "destroy":
            target.destroy(on_output=on_output)
            return {}
        else:
            raise SmackError(f"unknown engine command {command}")
    except auto.errors.CommandError as err:
        raise _failure(command, stack, str(err)) from None
    return {k: v.value for k, v in target.outputs().items()}


def set_config(stack: str, path: str, value: int | str) -> None:
    """Set one stack setting by path (e.g. smack:nodes[0].count) in stacks/Pulumi.<stack>.yaml;
    the engine keeps the file's comments and the value's type."""
    from pulumi import automation as auto  # noqa: PLC0415

    try:
        select_stack(stack).set_config(path, auto.ConfigValue(str(value)), path=True)
    except auto.errors.CommandError as err:
        raise _failure("config set", stack, str(err)) from None


def outputs(stack: str) -> dict[str, Any]:
    return {k: v.value for k, v in select_stack(stack).outputs().items()}
