"""Polling for cluster tests: a condition that becomes true some seconds later."""

from __future__ import annotations

import time
from typing import Any


def wait_until(what: str, check: Any, timeout: float, every: float = 3,
               retry_on: tuple[type[BaseException], ...] = ()) -> Any:
    """`check()`'s first truthy value; an exception in `retry_on` counts as "not yet".
    Fails naming `what` and the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except retry_on as err:
            last = err
        if last and not isinstance(last, BaseException):
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not true after {timeout:.0f} s (last: {last!r})")
