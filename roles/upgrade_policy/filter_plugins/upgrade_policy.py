"""The version policy of playbooks/upgrade.yml: which release jumps one upgrade may make.

`installed | upgrade_policy_verdict(requested, rule, service)` answers with a mapping:
  allowed  true when the node may go from `installed` to `requested` in one rolling upgrade
  step     none, patch, minor (allowed) or downgrade, minor, major, unknown (refused)
  message  one sentence naming the service, both versions, why, and what would be allowed
Rules (chosen per service in the role's vars/main.yml):
  patch    the same major.minor, same or later patch (Cassandra 5.0, ZooKeeper 3.9, Spark 3.5)
  minor    that, or any release of the next minor of the same major (Kafka 4.x)
Only plain release numbers (major.minor.patch) are compared; anything else is refused, since
a version this code cannot order could be a downgrade.
"""

from __future__ import annotations

import re
from typing import Any

RULES = ("patch", "minor")
_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def parse(version: str) -> tuple[int, int, int] | None:
    match = _RELEASE.match(str(version).strip())
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def allowed_from(installed: str, rule: str) -> str:
    """What `rule` lets a node running `installed` move to, in words."""
    parsed = parse(installed)
    if parsed is None:
        return "nothing until the installed release is known"
    major, minor, _ = parsed
    patches = f"a later {major}.{minor}.x patch release"
    if rule == "minor":
        return (f"{installed} (no change), {patches} or any {major}.{minor + 1}.x release "
                "(one minor release at a time)")
    return f"{installed} (no change) or {patches} (patch releases only)"


def verdict(installed: str, requested: str, rule: str, service: str = "the service"
            ) -> dict[str, Any]:
    if rule not in RULES:
        raise ValueError(f"upgrade policy rule {rule!r} for {service}: use one of "
                         f"{', '.join(RULES)}")
    have, want = parse(installed), parse(requested)
    if have is None:
        step, why = "unknown", f"the installed release '{installed}' is not a plain release number"
    elif want is None:
        step, why = "unknown", f"'{requested}' is not a plain major.minor.patch release number"
    else:
        step, why = _classify(have, want, rule)
    allowed = not why
    if allowed:
        message = (f"{service} {installed} -> {requested}: "
                   + ("already installed" if step == "none" else f"a {step} upgrade, allowed"))
    else:
        message = (f"{service} {installed} is installed and {requested} was requested: {why}; "
                   f"allowed from {installed}: {allowed_from(installed, rule)}")
    return {"allowed": allowed, "step": step, "message": message}


def _classify(have: tuple[int, int, int], want: tuple[int, int, int], rule: str
              ) -> tuple[str, str]:
    """(step, why it is refused: empty when it is allowed)."""
    if want == have:
        return "none", ""
    if want < have:
        return "downgrade", ("a downgrade is refused (data written by a newer release may not be "
                              "readable by an older one)")
    if want[0] != have[0]:
        return "major", f"a major upgrade ({have[0]}.x to {want[0]}.x) is refused"
    if want[1] == have[1]:
        return "patch", ""
    skipped = want[1] - have[1] - 1
    if rule == "patch":
        why = f"a minor upgrade ({have[0]}.{have[1]} to {want[0]}.{want[1]}) is refused"
    elif skipped > 0:
        why = (f"the jump from {have[0]}.{have[1]} to {want[0]}.{want[1]} skips {skipped} minor "
               "release(s); upgrade one minor at a time")
    else:
        why = ""
    return "minor", why


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"upgrade_policy_verdict": verdict}
