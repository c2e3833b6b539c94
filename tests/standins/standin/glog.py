"""glog-shaped log lines for the Mesos stand-ins (smack test stand-in, not Apache Mesos).

Real Mesos daemons log through Google glog: `I20261126 05:03:50.732698  3875 master.cpp:452] ...`.
Operators and roles grep journals for some of these lines ("Elected as the leading master!",
"Registered with master ..."), so the stand-ins print the same prefix and, for the messages the
samples show, the same text and source tag. With --log_dir the lines also go to a glog-named
file plus the `<program>.INFO` symlink, as glog does.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn, TextIO

_lock = threading.Lock()
_settings = {"quiet": False}
_files: list[TextIO] = []


def configure(program: str, log_dir: str | None, quiet: bool) -> None:
    """Log to stderr (unless --quiet) and, with --log_dir, to a glog-named file."""
    _settings["quiet"] = quiet
    if not log_dir:
        return
    directory = Path(log_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        user = os.environ.get("USER", "root")
        name = f"{program}.{socket.gethostname()}.{user}.log.INFO.{stamp}.{os.getpid()}"
        _files.append((directory / name).open("a", buffering=1))
        link = directory / f"{program}.INFO"
        link.unlink(missing_ok=True)
        link.symlink_to(name)
    except OSError as exc:  # glog also carries on with stderr only
        line("W", "logging.cpp:1", f"Could not open log file in {log_dir}: {exc}")


def line(severity: str, where: str, message: str) -> None:
    """Write one glog line: severity I/W/E, `where` is the real source tag (file.cpp:NNN)."""
    now = time.time()
    stamp = time.strftime("%Y%m%d %H:%M:%S", time.localtime(now))
    micros = int((now % 1) * 1_000_000)
    text = f"{severity}{stamp}.{micros:06d} {threading.get_native_id():5d} {where}] {message}\n"
    with _lock:
        if not _settings["quiet"] or severity == "E":
            sys.stderr.write(text)
            sys.stderr.flush()
        for handle in _files:
            handle.write(text)


def info(where: str, message: str) -> None:
    line("I", where, message)


def warning(where: str, message: str) -> None:
    line("W", where, message)


def error(where: str, message: str) -> None:
    line("E", where, message)


def exit_with(where: str, message: str, status: int = 1) -> NoReturn:
    """Mesos' EXIT(status): an E line 'EXIT with status N: ...' and an immediate exit."""
    error(where, f"EXIT with status {status}: {message}")
    sys.stderr.flush()
    os._exit(status)  # like glog's EXIT: no cleanup, the ZooKeeper session just times out
