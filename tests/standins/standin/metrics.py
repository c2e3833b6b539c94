"""/metrics/snapshot key sets of the real 1.11 master and agent (smack test stand-in).

The names are Mesos' own metric names (docs/monitoring.md); the key sets equal
real-mesos-samples/master-metrics-snapshot.json and agent-metrics-snapshot.json. Everything a
stand-in cannot measure (allocator timings, task counters) is 0.0; values that mean something to
a deployer (elected, slaves_*, frameworks_*, *_total, registered, uptime) are real.
"""

from __future__ import annotations

import os

_STATS = ("", "/count", "/max", "/min", "/p50", "/p90", "/p95", "/p99", "/p999", "/p9999")
_OPERATION_TYPES = (
    "create",
    "create_disk",
    "destroy",
    "destroy_disk",
    "grow_volume",
    "reserve",
    "shrink_volume",
    "unreserve",
)
_OPERATION_STATES = (
    "dropped",
    "error",
    "failed",
    "finished",
    "gone_by_operator",
    "pending",
    "recovering",
    "total",
    "unreachable",
)
_MESSAGES = (
    "authenticate",
    "deactivate_framework",
    "decline_offers",
    "executor_to_framework",
    "exited_executor",
    "framework_to_executor",
    "kill_task",
    "launch_tasks",
    "operation_status_update",
    "operation_status_update_acknowledgement",
    "reconcile_operations",
    "reconcile_tasks",
    "register_framework",
    "register_slave",
    "reregister_framework",
    "reregister_slave",
    "resource_request",
    "revive_offers",
    "status_update",
    "status_update_acknowledgement",
    "suppress_offers",
    "unregister_framework",
    "unregister_slave",
    "update_slave",
)
_VALIDITY = (
    "executor_to_framework_messages",
    "framework_to_executor_messages",
    "operation_status_update_acknowledgements",
    "operation_status_updates",
    "status_update_acknowledgements",
    "status_updates",
)
_MASTER_TASKS = (
    "dropped",
    "error",
    "failed",
    "finished",
    "gone",
    "gone_by_operator",
    "killed",
    "killing",
    "lost",
    "running",
    "staging",
    "starting",
    "unreachable",
)
_RESOURCE_SUFFIXES = (
    "percent",
    "revocable_percent",
    "revocable_total",
    "revocable_used",
    "total",
    "used",
)


def master_keys() -> list[str]:
    keys = ["allocator/event_queue_dispatches"]
    keys += [f"allocator/mesos/allocation_run_latency_ms{s}" for s in _STATS]
    keys += [f"allocator/mesos/allocation_run_ms{s}" for s in _STATS]
    keys += ["allocator/mesos/allocation_runs", "allocator/mesos/event_queue_dispatches"]
    keys += [
        f"allocator/mesos/resources/{r}/{k}"
        for r in ("cpus", "disk", "mem")
        for k in ("offered_or_allocated", "total")
    ]
    keys += [f"master/{r}_{s}" for r in ("cpus", "disk", "gpus", "mem") for s in _RESOURCE_SUFFIXES]
    keys += [
        "master/dropped_messages",
        "master/elected",
        "master/event_queue_dispatches",
        "master/event_queue_http_requests",
        "master/event_queue_messages",
    ]
    keys += [f"master/frameworks_{s}" for s in ("active", "connected", "disconnected", "inactive")]
    keys += ["master/http_cache_hits"]
    keys += [f"master/invalid_{v}" for v in _VALIDITY]
    keys += [f"master/messages_{m}" for m in _MESSAGES]
    keys += [f"master/operations/{t}/{s}" for t in _OPERATION_TYPES for s in _OPERATION_STATES]
    keys += [f"master/operations/{s}" for s in _OPERATION_STATES]
    keys += [
        "master/operator_event_stream_subscribers",
        "master/outstanding_offers",
        "master/recovery_slave_removals",
        "master/slave_registrations",
        "master/slave_removals",
    ]
    keys += [
        f"master/slave_removals/reason_{r}" for r in ("registered", "unhealthy", "unregistered")
    ]
    keys += ["master/slave_reregistrations"]
    keys += [f"master/slave_shutdowns_{s}" for s in ("canceled", "completed", "scheduled")]
    keys += [f"master/slave_unreachable_{s}" for s in ("canceled", "completed", "scheduled")]
    keys += [
        f"master/slaves_{s}"
        for s in ("active", "connected", "disconnected", "inactive", "unreachable")
    ]
    keys += [f"master/tasks_{s}" for s in _MASTER_TASKS]
    keys += ["master/uptime_secs"]
    keys += [f"master/valid_{v}" for v in _VALIDITY]
    keys += [
        "registrar/log/ensemble_size",
        "registrar/log/recovered",
        "registrar/queued_operations",
        "registrar/registry_size_bytes",
        "registrar/state_fetch_ms",
    ]
    keys += [f"registrar/state_store_ms{s}" for s in _STATS]
    return keys + _SYSTEM


_SYSTEM = [
    "system/cpus_total",
    "system/load_15min",
    "system/load_1min",
    "system/load_5min",
    "system/mem_free_bytes",
    "system/mem_total_bytes",
]


def agent_keys() -> list[str]:
    keys = [
        f"containerizer/fetcher/{k}"
        for k in (
            "cache_size_total_bytes",
            "cache_size_used_bytes",
            "task_fetches_failed",
            "task_fetches_succeeded",
        )
    ]
    keys += [
        "containerizer/mesos/container_destroy_errors",
        "containerizer/mesos/provisioner/bind/remove_rootfs_errors",
        "containerizer/mesos/provisioner/remove_container_errors",
    ]
    keys += [f"gc/path_removals_{s}" for s in ("failed", "pending", "succeeded")]
    keys += [
        f"resource_provider_manager/{k}"
        for k in ("events/disconnect", "events/subscribe", "subscribed")
    ]
    keys += ["slave/container_launch_errors"]
    for resource in ("cpus", "disk"):
        keys += [f"slave/{resource}_{s}" for s in _RESOURCE_SUFFIXES]
    keys += [
        "slave/executor_directory_max_allowed_age_secs",
        "slave/executors_preempted",
        "slave/executors_registering",
        "slave/executors_running",
        "slave/executors_terminated",
        "slave/executors_terminating",
        "slave/frameworks_active",
    ]
    keys += [f"slave/gpus_{s}" for s in _RESOURCE_SUFFIXES]
    keys += ["slave/invalid_framework_messages", "slave/invalid_status_updates"]
    keys += [f"slave/mem_{s}" for s in _RESOURCE_SUFFIXES]
    keys += ["slave/recovery_errors", "slave/recovery_time_secs", "slave/registered"]
    keys += [
        f"slave/tasks_{s}"
        for s in (
            "failed",
            "finished",
            "gone",
            "killed",
            "killing",
            "lost",
            "running",
            "staging",
            "starting",
        )
    ]
    keys += ["slave/uptime_secs", "slave/valid_framework_messages", "slave/valid_status_updates"]
    return keys + _SYSTEM


def system_values() -> dict[str, float]:
    load1, load5, load15 = os.getloadavg()
    total = free = 0.0
    try:
        with open("/proc/meminfo") as handle:
            info = {line.split(":")[0]: float(line.split()[1]) * 1024 for line in handle}
        total, free = info.get("MemTotal", 0.0), info.get("MemFree", 0.0)
    except OSError:
        pass
    return {
        "system/cpus_total": float(os.cpu_count() or 1),
        "system/load_15min": load15,
        "system/load_1min": load1,
        "system/load_5min": load5,
        "system/mem_free_bytes": free,
        "system/mem_total_bytes": total,
    }


def snapshot(keys: list[str], values: dict[str, float]) -> dict[str, float]:
    """All keys, zero unless given, sorted like the real (map-ordered) output."""
    out = dict.fromkeys(keys, 0.0)
    out.update(system_values())
    out.update({k: float(v) for k, v in values.items()})
    return dict(sorted(out.items()))
