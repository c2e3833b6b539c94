"""Mesos maintenance primitives, kept in memory (smack test stand-in, not Apache Mesos).

Behaviour from real-mesos-samples/maint-*: every machine in the schedule is DRAINING at once
(even if its window starts later); /machine/down needs a scheduled machine (else 400 "... is not
part of a maintenance schedule"); /machine/up needs a DOWN machine (else 400 "... is not in DOWN
mode and cannot be brought up") and removes it from the schedule; an empty schedule is `{}`.
Machine ids are compared as given (hostname lower-cased), as the real master does.
"""

from __future__ import annotations

import json
import threading


class MaintenanceError(ValueError):
    """A request the real master answers with 400 Bad Request and this text."""


def machine_key(machine: dict) -> tuple[str, str]:
    return (str(machine.get("hostname", "")).lower(), str(machine.get("ip", "")))


def machine_text(key: tuple[str, str]) -> str:
    """MachineID as the real master prints it in errors: compact JSON, hostname then ip."""
    obj = {}
    if key[0]:
        obj["hostname"] = key[0]
    if key[1]:
        obj["ip"] = key[1]
    return json.dumps(obj, separators=(",", ":"))


def _machine_json(key: tuple[str, str]) -> dict[str, str]:
    return json.loads(machine_text(key))


class Maintenance:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: list[dict] = []  # {"machines": [key...], "start": ns, "duration": ns|None}
        self._down: list[tuple[str, str]] = []

    def _scheduled(self) -> list[tuple[str, str]]:
        return [m for w in self._windows for m in w["machines"]]

    def schedule_json(self) -> dict:
        with self._lock:
            if not self._windows:
                return {}
            windows = []
            for window in self._windows:
                unavailability: dict[str, dict[str, int]] = {}
                if window["duration"] is not None:
                    unavailability["duration"] = {"nanoseconds": window["duration"]}
                unavailability["start"] = {"nanoseconds": window["start"]}
                windows.append(
                    {
                        "machine_ids": [_machine_json(m) for m in window["machines"]],
                        "unavailability": unavailability,
                    }
                )
            return {"windows": windows}

    def status_json(self) -> dict:
        with self._lock:
            out: dict[str, list] = {}
            draining = [m for m in self._scheduled() if m not in self._down]
            if draining:
                out["draining_machines"] = [{"id": _machine_json(m)} for m in draining]
            if self._down:
                out["down_machines"] = [_machine_json(m) for m in self._down]
            return out

    def set_schedule(self, body: dict) -> None:
        windows = []
        seen: set[tuple[str, str]] = set()
        for window in body.get("windows", []) or []:
            machines = [machine_key(m) for m in window.get("machine_ids", [])]
            if not machines:
                raise MaintenanceError("List of machines in the maintenance window is empty")
            for key in machines:
                if key == ("", ""):
                    raise MaintenanceError("Both 'hostname' and 'ip' for a machine are empty")
                if key in seen:
                    raise MaintenanceError(
                        f"Machine '{machine_text(key)}' appears more than once in the schedule"
                    )
                seen.add(key)
            unavailability = window.get("unavailability") or {}
            if "start" not in unavailability:
                raise MaintenanceError("Unavailability must have a start time")
            duration = unavailability.get("duration")
            windows.append(
                {
                    "machines": machines,
                    "start": int(unavailability["start"].get("nanoseconds", 0)),
                    "duration": None if duration is None else int(duration.get("nanoseconds", 0)),
                }
            )
        with self._lock:
            for key in self._down:
                if key not in seen:
                    text = machine_text(key)
                    raise MaintenanceError(
                        f"Machine '{text}' is deactivated and cannot be removed from the schedule"
                    )
            self._windows = windows

    def machines_down(self, machines: list[dict]) -> list[tuple[str, str]]:
        keys = [machine_key(m) for m in machines]
        with self._lock:
            scheduled = self._scheduled()
            for key in keys:
                if key not in scheduled:
                    raise MaintenanceError(
                        f"Machine '{machine_text(key)}' is not part of a maintenance schedule"
                    )
                if key in self._down:
                    raise MaintenanceError(f"Machine '{machine_text(key)}' is already in DOWN mode")
            self._down.extend(keys)
        return keys

    def machines_up(self, machines: list[dict]) -> None:
        keys = [machine_key(m) for m in machines]
        with self._lock:
            for key in keys:
                if key not in self._down:
                    text = machine_text(key)
                    raise MaintenanceError(
                        f"Machine '{text}' is not in DOWN mode and cannot be brought up"
                    )
            for key in keys:
                self._down.remove(key)
                for window in self._windows:
                    if key in window["machines"]:
                        window["machines"].remove(key)
            self._windows = [w for w in self._windows if w["machines"]]

    def is_down(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return key in self._down

    def unavailability(self, key: tuple[str, str]) -> dict | None:
        """The Unavailability of a scheduled (draining) machine, as offers carry it."""
        with self._lock:
            for window in self._windows:
                if key in window["machines"]:
                    out: dict[str, dict[str, int]] = {"start": {"nanoseconds": window["start"]}}
                    if window["duration"] is not None:
                        out["duration"] = {"nanoseconds": window["duration"]}
                    return out
        return None
