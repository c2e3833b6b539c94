"""What each role declares in meta/argument_specs.yml, to check `vars` settings before a run.

A variable under `smack:services.<svc>.vars` (or `smack:common.vars`) must be one the role
declares, with a value of the declared type and, where the spec lists them, one of its choices:
Ansible would otherwise ignore a misspelt name, and a wrong type would fail only mid-deploy.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import yaml

from infra.paths import PROJECT_DIR

_BOOL_WORDS = {"yes", "no", "true", "false", "on", "off", "y", "n", "1", "0"}


@cache
def declared(role: str) -> dict[str, dict[str, Any]]:
    """Variable name → its spec, over every entry point of the role (first declaration wins)."""
    path = PROJECT_DIR / "roles" / role / "meta" / "argument_specs.yml"
    specs = (yaml.safe_load(path.read_text()) or {}).get("argument_specs") or {}
    out: dict[str, dict[str, Any]] = {}
    for entry in specs.values():
        for name, spec in ((entry or {}).get("options") or {}).items():
            out.setdefault(name, spec or {})
    return out


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.strip().lstrip("-").isdigit())


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


# What Ansible's argument validation takes as each type (it converts digits to int, yes/no
# words to bool and numbers to str); raw and unknown types take anything.
_FITS: dict[str, Any] = {
    "int": _is_int,
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool) or (isinstance(v, str) and v.lower() in _BOOL_WORDS),
    "str": _is_scalar,
    "path": _is_scalar,
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
}


def _type_fits(kind: str, value: Any) -> bool:
    return bool(_FITS.get(kind, lambda _v: True)(value))


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _one_line(value: Any) -> bool:
    return not isinstance(value, dict | list) and not re.search(r"[\n\r\0]", str(value))


_PROPERTY_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_YAML_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")


def _properties(value: dict[str, Any]) -> str:
    """A Java properties or zoo.cfg file: key=value lines."""
    for key, item in value.items():
        if not _PROPERTY_KEY.match(str(key)):
            return f"key {key!r}: a property name of letters, digits, '.', '_' and '-'"
        if not _one_line(item):
            return f"{key}: {item!r}: a value on one line (no newline, list or mapping)"
    return ""


def _yaml_keys(value: dict[str, Any]) -> str:
    """Top-level keys merged into cassandra.yaml."""
    bad = [k for k in value if not _YAML_KEY.match(str(k))]
    return f"keys {bad}: cassandra.yaml settings in lowercase and '_'" if bad else ""


def _jvm_options(value: list[Any]) -> str:
    bad = [o for o in value if not (isinstance(o, str) and o.startswith("-") and _one_line(o))]
    return f"{bad}: each item one JVM option starting with '-', on one line" if bad else ""


def _flags(value: dict[str, Any]) -> str:
    """One file per flag (Mesos) or one MARATHON_<NAME> line (Marathon)."""
    for key, item in value.items():
        if not re.match(r"^[a-z][a-z0-9_]*$", str(key)):
            return f"key {key!r}: a flag name without dashes, such as 'offer_timeout'"
        if not _one_line(item):
            return f"{key}: {item!r}: a flag value on one line"
    return ""


# Variables whose values end up in a file of a fixed grammar (after the type check).
_GRAMMARS: dict[str, Callable[[Any], str]] = {
    "kafka_extra_properties": _properties,
    "zookeeper_extra_config": _properties,
    "spark_extra_defaults": _properties,
    "cassandra_extra_config": _yaml_keys,
    "mesos_master_flags": _flags,
    "mesos_agent_flags": _flags,
    "marathon_flags": _flags,
    "kafka_jvm_opts": _jvm_options,
    "cassandra_jvm_opts": _jvm_options,
    "zookeeper_jvm_opts": _jvm_options,
    "spark_jvm_opts": _jvm_options,
}


def grammar_error(name: str, value: Any) -> str:
    """What is wrong with `value` for variable `name` in the file it ends up in, or ''."""
    check = _GRAMMARS.get(name)
    return check(value) if check is not None else ""


def var_errors(role: str, where: str, values: dict[str, Any]) -> list[str]:
    """Messages for `values` (name → value) that `role` does not take; `where` is the key path
    of the mapping, e.g. 'smack:services.kafka.vars'."""
    specs = declared(role)
    problems = []
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            # Compared without the role's prefix, which every name shares.
            prefix = f"{role}_"
            close = difflib.get_close_matches(name.removeprefix(prefix),
                                              [n.removeprefix(prefix) for n in specs], n=1,
                                              cutoff=0.7)
            hint = f"did you mean '{prefix}{close[0]}'? " if close else ""
            problems.append(
                f"{where}.{name}: not a variable of role {role}; {hint}allowed: the "
                f"{len(specs)} variables declared in roles/{role}/meta/argument_specs.yml")
            continue
        if _is_template(value):
            continue  # rendered by Ansible at run time
        kind = str(spec.get("type", "str"))
        if not _type_fits(kind, value):
            problems.append(f"{where}.{name}: {value!r} is not allowed; allowed: a value of "
                            f"type {kind} ({spec_summary(spec)})")
        elif spec.get("choices") and value not in spec["choices"]:
            problems.append(f"{where}.{name}: {value!r} is not allowed; allowed: one of "
                            f"{spec['choices']}")
        elif wrong := grammar_error(name, value):
            problems.append(f"{where}.{name}: not allowed: {wrong}")
    return problems


def spec_summary(spec: dict[str, Any]) -> str:
    text = spec.get("description") or ""
    text = " ".join(text) if isinstance(text, list) else str(text)
    return text.split(". ")[0].rstrip(".")[:120]
