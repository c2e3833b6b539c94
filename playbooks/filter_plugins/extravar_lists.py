"""Filters for the verb playbooks' extra variables.

`value | smack_name_list` reads a list the way users pass one on the command line: a YAML list
(-e '{"remove_nodes": ["node-4"]}') as it is, a comma-separated string (-e remove_nodes=node-4,
node-5) split at the commas, blanks dropped; nothing given is the empty list.
"""

from __future__ import annotations

from typing import Any


def smack_name_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(item) for item in value]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"smack_name_list": smack_name_list}
