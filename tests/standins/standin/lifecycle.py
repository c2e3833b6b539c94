"""Process end for the stand-in daemons (smack test stand-in).

On SIGTERM/SIGINT the real daemons log glog's RAW line and die by that signal; nothing closes
the ZooKeeper session, so ephemeral znodes stay until the session times out (fo-timeline.txt:
takeover ~10 s after SIGTERM with the default --zk_session_timeout). The stand-ins do the same.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

from . import glog

# Signals taken since catch_signals(), in order.
_received: list[int] = []


def catch_signals() -> None:
    """Take SIGTERM/SIGINT from now on. Called where the real daemons set up logging (glog
    installs its signal handler there), before any thread starts: a signal that arrived once
    /health answered but before the main thread reached run_until_signal() would otherwise
    kill the process without the RAW line (seen in CI)."""
    def handler(signum: int, _frame: object) -> None:
        _received.append(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_until_signal(before_exit: Callable[[], None] | None = None) -> int:
    """Block until SIGTERM/SIGINT, run `before_exit`, then die by the same signal."""
    received = _received
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        catch_signals()
    while not received:
        time.sleep(0.1)
    name = signal.Signals(received[0]).name
    glog.warning("logging.cpp:101", f"RAW: Received signal {name}; exiting")
    if before_exit is not None:
        before_exit()
    signal.signal(received[0], signal.SIG_DFL)
    os.kill(os.getpid(), received[0])
    return 128 + received[0]  # not reached: the default action ends the process


def start_thread(target: Callable[[], None], name: str) -> None:
    """A daemon thread whose unexpected death ends the process (systemd restarts it), instead
    of leaving a daemon that answers HTTP but no longer takes part in ZooKeeper."""

    def run() -> None:
        try:
            target()
        except Exception as exc:
            glog.exit_with("process.cpp:1", f"Unexpected failure in the {name} thread: {exc!r}")

    threading.Thread(target=run, name=name, daemon=True).start()
