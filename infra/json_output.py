"""What `smack status|verify|outputs --json` print: one JSON document on stdout, nothing else.

Each document names its schema (`schema`: "smack.<command>/v1"); the JSON Schemas are in
schemas/ and README "Machine-readable output" documents the fields. A field is only ever
added to a v1 document; a change of meaning gets a v2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.ansible import PlaybookResult
from infra.paths import PROJECT_DIR
from infra.status.results import StackStatus

SCHEMA_DIR = PROJECT_DIR / "schemas"


def schema_path(command: str) -> Path:
    return SCHEMA_DIR / f"{command}.schema.json"


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True)


def status_document(report: StackStatus) -> dict[str, Any]:
    return {"schema": "smack.status/v1", **report.as_dict()}


def verify_document(stack: str, result: PlaybookResult | None,
                    failures: list[str] | None = None) -> dict[str, Any]:
    """A verify run that passed (its per-host figures, plays and check figures) or failed
    (`failures`: one line per host naming task and message)."""
    return {
        "schema": "smack.verify/v1",
        "stack": stack,
        "ok": result is not None and not failures,
        "seconds": round(result.duration_seconds, 1) if result else None,
        "hosts": {h: vars(s) for h, s in sorted(result.hosts.items())} if result else {},
        "plays": [{"name": n, "seconds": round(t, 1)} for n, t in result.plays] if result else [],
        "checks": dict(sorted(result.checks.items())) if result else {},
        "failures": list(failures or []),
    }


def outputs_document(stack: str, outputs: dict[str, Any]) -> dict[str, Any]:
    return {"schema": "smack.outputs/v1", "stack": stack, "outputs": outputs}
