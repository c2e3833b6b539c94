"""Pydantic validation errors turned into messages: key path, value given, what is allowed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

NS = "smack"

_RANGE_WORDS = {
    "greater_than_equal": "at least",
    "greater_than": "more than",
    "less_than_equal": "at most",
    "less_than": "less than",
}
_WANTED = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "string_type": "a string",
}


def describe(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def key_path(loc: tuple[Any, ...]) -> str:
    out = NS + ":"
    for i, part in enumerate(loc):
        out += f"[{part}]" if isinstance(part, int) else ("" if i == 0 else ".") + str(part)
    return out


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _field_at(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, Any]:
    """The model holding the field at `loc`, and that field's info (None when not a field)."""
    current: Any = root
    info: Any = None
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return current, None
        info = fields[part]
        nested = _model_in(info.annotation)
        if nested is None:
            return current, info
        current = nested
    return current, info


def _descriptions(annotation: Any) -> list[str]:
    found = [m.description for m in getattr(annotation, "__metadata__", ())
             if getattr(m, "description", None)]
    for arg in getattr(annotation, "__args__", ()):
        found += _descriptions(arg)
    return found


def _described(root: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """What the constrained value at `loc` should look like (list items included)."""
    _, info = _field_at(root, loc)
    if info is None:
        return None
    if info.description:
        return str(info.description)
    found = _descriptions(info.annotation)
    return found[0] if found else None


def _unknown_key(root: type[BaseModel], loc: tuple[Any, ...]) -> str:
    model, _ = _field_at(root, loc[:-1])
    allowed = [k for k in getattr(model, "model_fields", {}) if k != "stack"]
    hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
    return f"{key_path(loc)}: unknown setting{hint}"


def _missing(root: type[BaseModel], loc: tuple[Any, ...]) -> str:
    _, info = _field_at(root, loc)
    choices = getattr(info.annotation, "__args__", ()) if info is not None else ()
    hint = f"; allowed: {' or '.join(repr(c) for c in choices)}" if choices else ""
    return f"{key_path(loc)}: required setting is missing{hint}"


def explain(root: type[BaseModel], err: Mapping[str, Any]) -> str:
    """One line per pydantic error, in the words a stack file's author needs."""
    kind = err["type"]
    loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    path, given = key_path(loc), describe(err.get("input"))
    if kind == "extra_forbidden":
        return _unknown_key(root, loc)
    if kind == "missing":
        return _missing(root, loc)
    if kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        # Cross-key checks (empty loc) already carry their own key paths.
        return msg if not loc else f"{path}: {given} is not allowed: {msg}"
    if kind in _RANGE_WORDS:
        limit = next(iter(ctx.values()))
        return f"{path}: {given} is out of range; allowed: {_RANGE_WORDS[kind]} {limit}"
    wanted = {
        "too_short": f"at least {ctx.get('min_length')} item(s)",
        "literal_error": ctx.get("expected"),
        "string_pattern_mismatch": _described(root, loc)
        or f"text matching {ctx.get('pattern')}",
    }.get(kind) or _WANTED.get(kind)
    if wanted:
        return f"{path}: {given} is not allowed; allowed: {wanted}"
    return f"{path}: {given} is not allowed: {err['msg']}"
