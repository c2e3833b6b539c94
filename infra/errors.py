"""Errors a user can cause and fix: shown as plain messages, never as tracebacks."""

from __future__ import annotations


class SmackError(Exception):
    """Base for every error caused by settings, inventory or the environment.

    The CLI and the Pulumi program print `str(err)` only; the message must say what is
    wrong and what to do.
    """


class SettingsError(SmackError):
    """One or more stack settings are invalid; each problem names its key path."""

    def __init__(self, stack: str, problems: list[str]) -> None:
        self.stack = stack
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        noun = "setting is" if len(problems) == 1 else "settings are"
        super().__init__(
            f"stack '{stack}': {len(problems)} {noun} invalid (nothing was changed):\n{lines}"
        )


class EngineError(SmackError):
    """The container engine (podman or docker) refused a command."""


class AnsibleRunError(SmackError):
    """A playbook run failed; the message names host, task and the module's message."""

    def __init__(self, playbook: str, failures: list[str]) -> None:
        self.playbook = playbook
        self.failures = failures
        lines = "\n".join(f"  - {f}" for f in failures)
        super().__init__(f"ansible playbook {playbook} failed:\n{lines}")
