"""Run the Pulumi program under pulumi.runtime.set_mocks and record what it registers."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await


class Recorder(Mocks):
    """Answers every resource with its inputs plus the outputs a real provider would add."""

    def __init__(self) -> None:
        self.resources: list[MockResourceArgs] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outs = dict(args.inputs)
        if args.typ == "pulumi-python:dynamic:Resource":
            outs.update({"public_key": "ssh-ed25519 AAAAmock smack-unit",
                         "host_key": f"ssh-ed25519 AAAAhost{args.name}",
                         "container_id": f"cid-{args.name}", "digest": "mock-digest"})
        return f"{args.name}-id", outs

    def call(self, args: MockCallArgs) -> dict[str, Any]:
        return {}

    def named(self, name: str) -> MockResourceArgs:
        return next(r for r in self.resources if r.name == name)

    def names(self) -> list[str]:
        return [r.name for r in self.resources]


from tests.support.settings import parse_only  # noqa: E402


def run_program(config: dict[str, Any], stack: str = "unit",
                recorder: Recorder | None = None) -> Recorder:
    recorder = recorder or Recorder()
    config = parse_only(config)
    pulumi.runtime.set_mocks(recorder, project="smack", stack=stack, preview=False)
    set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})
    from infra import program

    _sync_await(run_pulumi_func(program.main))
    return recorder
