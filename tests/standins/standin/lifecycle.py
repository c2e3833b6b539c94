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


def run_until_signal(before_exit: Callable[[], None] | None = None) -> int:
    """Block until SIGTERM/SIGINT, run `before_exit`, then die by the same signal."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    # Not signal.pause(): the kernel may hand the signal to an HTTP or ZooKeeper thread, and
    # pause() in the main thread then never returns (a flaky 'master did not exit' under load).
    # The Python-level handler still runs in the main thread at its next wake-up.
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
