"""smack TEST STAND-IN of the Mesos master's registry (not Apache Mesos).

The real master keeps the agents it admitted in a registry replicated across the masters (the
replicated log). A newly elected leader recovers them as "transitional": it allows
--agent_reregister_timeout (10mins) for each to re-register, and while an agent is
transitional, reconciliation says nothing about tasks on it (the agent will report them).
Without this, a new leader would call every task of every not-yet-re-registered agent
unknown, and Marathon would replace tasks that are still running (issue 13 run, stand-in).

Stand-in simplification: the leader writes the registry (admitted and unreachable agent IDs)
to `<work_dir>/standin-registry.json`; standbys copy the leader's every few seconds over the
private protocol (GET /__standin__/registry). A standby that missed the last change before a
failover recovers a slightly older registry, which the real replicated log would not.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

FILE_NAME = "standin-registry.json"
PULL_INTERVAL = 2.0


@dataclass
class Registry:
    path: Path | None  # None: --registry=in_memory
    admitted: dict[str, str] = field(default_factory=dict)  # agent id -> hostname
    unreachable: dict[str, float] = field(default_factory=dict)  # agent id -> since (epoch)
    # Recovered at election and not re-registered yet: agent id -> deadline (monotonic).
    transitional: dict[str, float] = field(default_factory=dict)
    last_pull: float = 0.0

    @classmethod
    def in_work_dir(cls, work_dir: str | None, in_memory: bool) -> Registry:
        return cls(None if in_memory or not work_dir else Path(work_dir) / FILE_NAME)

    # ----- persistence ----------------------------------------------------------------------

    def json(self) -> dict[str, object]:
        return {"admitted": self.admitted, "unreachable": self.unreachable}

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.json(), sort_keys=True))
        os.replace(tmp, self.path)

    def load(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        with contextlib.suppress(ValueError, OSError):
            data = json.loads(self.path.read_text())
            self.admitted = {str(k): str(v) for k, v in dict(data["admitted"]).items()}
            self.unreachable = {str(k): float(v) for k, v in dict(data["unreachable"]).items()}

    def replace(self, data: dict) -> None:
        """A standby's copy of the leader's registry."""
        self.admitted = {str(k): str(v) for k, v in dict(data.get("admitted") or {}).items()}
        self.unreachable = {str(k): float(v)
                            for k, v in dict(data.get("unreachable") or {}).items()}
        self.save()

    # ----- the leader's changes ---------------------------------------------------------------

    def recover(self, reregister_timeout: float) -> int:
        """At election: every admitted agent is transitional. Returns how many."""
        self.load()
        deadline = time.monotonic() + reregister_timeout
        self.transitional = dict.fromkeys(self.admitted, deadline)
        return len(self.admitted)

    def admit(self, agent_id: str, hostname: str) -> None:
        self.transitional.pop(agent_id, None)
        self.unreachable.pop(agent_id, None)
        if self.admitted.get(agent_id) != hostname:
            self.admitted[agent_id] = hostname
        self.save()

    def remove(self, agent_id: str) -> None:
        self.transitional.pop(agent_id, None)
        self.admitted.pop(agent_id, None)
        self.save()

    def mark_unreachable(self, agent_id: str) -> None:
        self.remove(agent_id)
        self.unreachable[agent_id] = time.time()
        self.save()

    def overdue(self) -> list[str]:
        """Transitional agents past --agent_reregister_timeout (the caller marks them)."""
        now = time.monotonic()
        return [agent_id for agent_id, deadline in self.transitional.items() if now > deadline]
