"""The one record every target hands to the inventory."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    ssh_user: str
    ssh_key_file: str
    group: str
    services: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    ssh_port: int = 22
    # known_hosts key ("ssh-ed25519 AAAA…"); empty when the target cannot know it in advance.
    host_key: str = ""
    become: bool = True
    node_id: str = ""
    proxy_jump: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["services"] = list(self.services)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["services"] = tuple(known.get("services", ()))
        known["labels"] = dict(known.get("labels", {}))
        known["ssh_port"] = int(known.get("ssh_port", 22))
        return cls(**known)
