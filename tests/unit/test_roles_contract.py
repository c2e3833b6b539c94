"""Each role's documented defaults and its argument_specs describe the same knobs."""

from __future__ import annotations

import re

import pytest
import yaml

from infra.paths import PROJECT_DIR

pytestmark = pytest.mark.unit

ROLES = sorted(p.parent.parent.name for p in (PROJECT_DIR / "roles").glob("*/defaults/main.yml"))


def test_there_are_roles() -> None:
    assert "common" in ROLES and "preflight" in ROLES


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_list_the_same_keys(role: str) -> None:
    base = PROJECT_DIR / "roles" / role
    defaults = yaml.safe_load((base / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    main = specs["main"]["options"]
    documented = {k for entry in specs.values() for k in (entry.get("options") or {})}
    # Every knob of the role is typed in main; knobs of shared entry points in theirs.
    assert set(main) <= set(defaults)
    assert set(defaults) <= documented, set(defaults) - documented
    for entry in specs.values():
        for key, spec in (entry.get("options") or {}).items():
            assert spec.get("description"), f"{role}: {key} has no description"
            assert spec.get("type"), f"{role}: {key} has no type"


@pytest.mark.parametrize("role", ROLES)
def test_every_default_has_a_comment_line_above_it(role: str) -> None:
    lines = (PROJECT_DIR / "roles" / role / "defaults" / "main.yml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+:", line):
            assert lines[i - 1].startswith("# "), f"{role}: {line.split(':')[0]} lacks a comment"


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_prefixed_with_the_role_name(role: str) -> None:
    base = PROJECT_DIR / "roles" / role
    defaults = yaml.safe_load((base / "defaults" / "main.yml").read_text()) or {}
    derived = {}
    for path in (base / "vars").glob("*.yml") if (base / "vars").is_dir() else []:
        derived.update(yaml.safe_load(path.read_text()) or {})
    assert all(k.startswith(f"{role}_") for k in defaults), defaults.keys()
    assert all(k.startswith(f"_{role}_") for k in derived), derived.keys()
