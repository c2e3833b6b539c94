"""Jinja2 rendering of the files in templates/ (inventory, node settings, app JSON)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from infra.paths import PROJECT_DIR

TEMPLATES_DIR = PROJECT_DIR / "templates"


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - renders YAML and config files, never HTML
    )


def render(template: str, **values: Any) -> str:
    return _env().get_template(template).render(**values)


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Atomically replace `path` when its content differs; returns whether it changed."""
    if path.exists() and path.read_text() == text:
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
    return True


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()
