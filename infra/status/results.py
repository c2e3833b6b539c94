"""What the checks give: each probe's outcome, the table rows made of it, the stack's report.

Mesos and Marathon builds that are smack's TEST STAND-INS (tests/standins, which the local
stack installs where no real package can be had) say so in their version fields (/version
build_user, /v2/info buildref); their rows and the closing line are marked "stand-in".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
STANDIN_SUFFIX = " (stand-in)"
# What the stand-ins put where the real builds name their builder and source commit.
STANDIN_MARK = "smack-standin"


class ProbeError(Exception):
    """A service answered, but not the way a healthy one does; the message is the state shown."""


ProbeKey = tuple[str, str]  # (what, node)


@dataclass(frozen=True)
class Row:
    node: str
    role: str
    state: str
    version: str
    endpoint: str
    healthy: bool


@dataclass
class ServiceStatus:
    service: str
    title: str
    rows: list[Row]
    # Findings about the service as a whole (no leader, two leaders), not about one node.
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems and all(row.healthy for row in self.rows)


@dataclass
class StackStatus:
    stack: str
    services: list[ServiceStatus]
    seconds: float = 0.0
    # Alerts Prometheus fires (infra.status.metrics.Alert); shown, not counted as unhealthy.
    alerts: list[Any] = field(default_factory=list)

    @property
    def standins(self) -> list[str]:
        """Services whose answering daemons are smack's test stand-ins."""
        return [s.service for s in self.services
                if any(row.version.endswith(STANDIN_SUFFIX) for row in s.rows)]

    @property
    def healthy(self) -> bool:
        return all(service.healthy for service in self.services)

    def unhealthy(self) -> list[str]:
        """One line per unhealthy node and per service-wide problem."""
        out: list[str] = []
        for service in self.services:
            out += [f"{service.service} {row.node} ({row.role}): {row.state}"
                    for row in service.rows if not row.healthy]
            out += [f"{service.service}: {problem}" for problem in service.problems]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "healthy": self.healthy,
            "seconds": round(self.seconds, 2),
            "standins": self.standins,
            "alerts": [asdict(a) for a in self.alerts],
            "services": {s.service: {"healthy": s.healthy, "problems": list(s.problems),
                                     "rows": [asdict(r) for r in s.rows]}
                         for s in self.services},
        }


@dataclass(frozen=True)
class Outcome:
    """What one probe gave: its value, or why it failed (as shown in the state column)."""

    value: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def _down(outcome: Outcome | None) -> str:
    if outcome is None:
        return "not checked"
    return outcome.error or "down"


def _viewed(outcome: Outcome | None, view: Callable[[Any], T]) -> tuple[T | None, str]:
    """(the probe's answer read by `view`, "") or (None, the state to show for the node)."""
    if outcome is None or not outcome.ok:
        return None, _down(outcome)
    try:
        return view(outcome.value), ""
    except ProbeError as err:
        return None, str(err)


def marked(version: str, build: Mapping[str, Any]) -> str:
    """The version, marked when the build says it is a smack stand-in."""
    if STANDIN_MARK in (str(build.get("build_user", "")), str(build.get("buildref", ""))):
        return f"{version}{STANDIN_SUFFIX}"
    return version
