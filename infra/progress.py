"""Live progress of a playbook run: the current task and how many hosts have finished it."""

from __future__ import annotations

import sys
import time
from typing import Protocol

from rich.console import Console
from rich.live import Live
from rich.text import Text


class Progress(Protocol):
    def start(self, playbook: str, hosts: int) -> None: ...
    def play(self, name: str) -> None: ...
    def task(self, name: str) -> None: ...
    def result(self, host: str, status: str) -> None: ...
    def finish(self, summary: str) -> None: ...


class Writer(Protocol):
    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


class _Counter:
    """Bookkeeping shared by every display: task name, hosts done, total hosts."""

    def __init__(self) -> None:
        self.playbook = ""
        self.total = 0
        self.task_name = ""
        self.done: set[str] = set()
        self.started = time.monotonic()

    def status_line(self) -> str:
        elapsed = time.monotonic() - self.started
        return (f"{self.playbook} [{elapsed:5.0f}s] {self.task_name} "
                f"({len(self.done)}/{self.total} hosts)")


class RichProgress(_Counter):
    """One live line on a terminal; failures and the summary stay on screen."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self.console = console or Console(stderr=True)
        self.live: Live | None = None

    def start(self, playbook: str, hosts: int) -> None:
        self.playbook, self.total = playbook, hosts
        self.started = time.monotonic()
        self.live = Live(Text(self.status_line()), console=self.console, transient=True,
                         refresh_per_second=8)
        self.live.start()

    def play(self, name: str) -> None:
        self.console.print(f"[bold]{self.playbook}[/bold]: {name}")

    def task(self, name: str) -> None:
        self.task_name, self.done = name, set()
        self._refresh()

    def result(self, host: str, status: str) -> None:
        self.done.add(host)
        if status in ("failed", "unreachable"):
            self.console.print(f"[red]{status}[/red] {host}: {self.task_name}")
        self._refresh()

    def finish(self, summary: str) -> None:
        if self.live is not None:
            self.live.stop()
        self.console.print(summary)

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(Text(self.status_line()))


class LineProgress(_Counter):
    """Plain lines, one per task and per failure: for logs, CI and non-terminals."""

    def __init__(self, stream: Writer | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stderr

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def start(self, playbook: str, hosts: int) -> None:
        self.playbook, self.total = playbook, hosts
        self.started = time.monotonic()
        self._write(f"{playbook}: starting on {hosts} host(s)")

    def play(self, name: str) -> None:
        if self.task_name:
            self._write(self.status_line())
            self.task_name = ""
        elapsed = time.monotonic() - self.started
        self._write(f"{self.playbook} [{elapsed:5.0f}s] PLAY {name}")

    def task(self, name: str) -> None:
        if self.task_name:
            self._write(self.status_line())
        self.task_name, self.done = name, set()

    def result(self, host: str, status: str) -> None:
        self.done.add(host)
        if status in ("failed", "unreachable"):
            self._write(f"{self.playbook}: {status} on {host}: {self.task_name}")

    def finish(self, summary: str) -> None:
        if self.task_name:
            self._write(self.status_line())
        self._write(summary)


def default_progress() -> Progress:
    return RichProgress() if sys.stderr.isatty() else LineProgress()
