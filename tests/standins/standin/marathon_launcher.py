"""What happens before Marathon 1.11 serves anything (smack test stand-in, not Marathon).

Reproduced from real-marathon-samples/startup-*, help*, launcher-*:
- the launcher (sbt-native-packager's bin/marathon) prints "No start hook file found
  ($HOOK_MARATHON_START). Proceeding with the start script." unless the first argument is
  --help, answers -h/-help with its own usage (exit 1), and passes no arguments of its own;
- the JVM needs `java` (JAVA_HOME or PATH); the stand-in asks it for its version;
- Marathon first loads libmesos: MESOS_NATIVE_JAVA_LIBRARY (else MESOS_NATIVE_LIBRARY, else
  /usr/local/lib/libmesos.so, Mesos' Java default) must be a shared library WITH the Java
  bindings -- the stand-in loads it with dlopen and looks the JNI entry point up with dlsym,
  as the JVM does. Otherwise "java.lang.RuntimeException: 'libmesos' not loaded", exit 107,
  before any option is parsed (so --help and unknown options exit 107 too);
- on Java 17 (16 and later deny reflective access by default) Guice needs
  `--add-opens java.base/java.lang=ALL-UNNAMED` in JAVA_OPTS: without it, exit 107 with the
  InaccessibleObjectException, after the options were parsed.
Log lines use Marathon's logback pattern `[date] LEVEL message (logger:thread)` on stdout.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import time
from typing import NoReturn

HOOK = "No start hook file found ($HOOK_MARATHON_START). Proceeding with the start script."
JNI_SYMBOL = "Java_org_apache_mesos_MesosNativeLibrary__1version"
ADD_OPENS = re.compile(r"--add-opens(=|\s+)java\.base/java\.lang=ALL-UNNAMED")
DEFAULT_LIBRARY = "/usr/local/lib/libmesos.so"

LAUNCHER_USAGE = """Usage:  [options]

  -h | -help         print this message
  -v | -verbose      this runner is chattier
  -d | -debug        enable debug output for the launcher script
  -no-version-check  Don't run the java version check.
  -main <classname>  Define a custom main class
  -jvm-debug <port>  Turn on JVM debugging, open at the given port.

  # java version (default: java from PATH, currently {java})
  -java-home <path>         alternate JAVA_HOME

  # jvm options and output control
  JAVA_OPTS          environment variable, if unset uses ""
  -Dkey=val          pass -Dkey=val directly to the java runtime
  -J-X               pass option -X directly to the java runtime
                     (-J is stripped)

  # special option
  --                 To stop parsing built-in commands from the rest of the command-line.
                     e.g.) enabling debug and sending -d as app argument
                     $ ./start-script -d -- -d

In the case of duplicated or conflicting options, basically the order above
shows precedence: JAVA_OPTS lowest, command line options highest except "--".
Available main classes:
\tmesosphere.marathon.Main
\tmesosphere.marathon.core.storage.backup.Backup
\tmesosphere.marathon.core.storage.backup.Restore
"""

NOT_LOADED = """java.lang.RuntimeException: 'libmesos' not loaded
\tat org.apache.mesos.MesosNativeLibrary.version(MesosNativeLibrary.java:211)
\tat mesosphere.mesos.LibMesos$.version$lzycompute(LibMesos.scala:32)
\tat mesosphere.mesos.LibMesos$.version(LibMesos.scala:29)
\tat mesosphere.mesos.LibMesos$.isCompatible(LibMesos.scala:52)
\tat mesosphere.marathon.MarathonApp.<init>(Main.scala:39)
\tat mesosphere.marathon.Main$.main(Main.scala:240)
\tat mesosphere.marathon.Main.main(Main.scala)"""

NOT_OPEN = """java.lang.ExceptionInInitializerError: null
\tat com.google.inject.internal.cglib.reflect.$FastClass$Generator.getProtectionDomain(FastClass.java:73)
\tat com.google.inject.Guice.createInjector(Guice.java:73)
\tat mesosphere.marathon.MarathonApp.<init>(Main.scala:72)
\tat mesosphere.marathon.Main$.main(Main.scala:240)
\tat mesosphere.marathon.Main.main(Main.scala)
Caused by: java.lang.reflect.InaccessibleObjectException: Unable to make protected final java.lang.Class java.lang.ClassLoader.defineClass(java.lang.String,byte[],int,int,java.security.ProtectionDomain) throws java.lang.ClassFormatError accessible: module java.base does not "opens java.lang" to unnamed module @6b59b9cb
\tat java.base/java.lang.reflect.AccessibleObject.checkCanSetAccessible(AccessibleObject.java:354)
\t... 19 common frames omitted"""  # noqa: E501 - the JVM's own line

MAIN = "mesosphere.marathon.MarathonApp:main"


def log(level: str, message: str, where: str = MAIN) -> None:
    """One logback line on stdout: `[2026-12-04 01:04:56,218] INFO  message (logger:thread)`."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    millis = int((now % 1) * 1000)
    sys.stdout.write(f"[{stamp},{millis:03d}] {level:<5} {message} ({where})\n")
    sys.stdout.flush()


def terminate(trace: str, code: int = 107,
              thread: str = "scala-execution-context-global-16") -> NoReturn:
    """Marathon's uncaught-exception exit: the ERROR line, the trace, the exit code line."""
    sys.stdout.write(_line("ERROR", "Terminating due to uncaught exception in thread main:1",
                           MAIN) + trace + "\n")
    log("INFO", f"shutting down with exit code {code}",
        f"mesosphere.marathon.core.base.RichRuntime:{thread}")
    sys.stdout.flush()
    os._exit(code)


def _line(level: str, message: str, where: str) -> str:
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    return f"[{stamp},{int((now % 1) * 1000):03d}] {level:<5} {message} ({where})\n"


def java_major(environ: dict[str, str]) -> tuple[str, int]:
    """(java command, major version) of the JVM the launcher would run."""
    home = environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java", path=environ.get(
        "PATH", os.defpath))
    if not java or not os.access(java, os.X_OK):
        sys.stderr.write("/usr/share/marathon/bin/marathon: line 1: java: command not found\n")
        os._exit(127)
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        return java, 0
    major = int(match.group(1))
    return java, int(match.group(2) or 0) if major == 1 else major


def library_with_bindings(environ: dict[str, str]) -> bool:
    path = (environ.get("MESOS_NATIVE_JAVA_LIBRARY") or environ.get("MESOS_NATIVE_LIBRARY")
            or DEFAULT_LIBRARY)
    try:
        library = ctypes.CDLL(path)
    except OSError:
        return False
    return hasattr(library, JNI_SYMBOL)


def before_options(argv: list[str], environ: dict[str, str]) -> int:
    """The launcher and libmesos; returns the Java major version. Exits like the real one."""
    if argv and argv[0] in ("-h", "-help"):
        _, _ = java_major(environ)
        sys.stdout.write(HOOK + "\n" + LAUNCHER_USAGE.format(java='openjdk version "17"'))
        sys.stdout.flush()
        os._exit(1)
    if not (argv and argv[0] == "--help"):
        sys.stdout.write(HOOK + "\n")
        sys.stdout.flush()
    _, major = java_major(environ)
    if not library_with_bindings(environ):
        terminate(NOT_LOADED)
    log("INFO", "Successfully loaded libmesos: version 1.11.0")
    return major


def after_options(major: int, environ: dict[str, str]) -> None:
    """Guice on Java 16+ without the --add-opens Marathon needs."""
    if major >= 16 and not ADD_OPENS.search(environ.get("JAVA_OPTS", "")):
        log("INFO", "Slf4jLogger started",
            "akka.event.slf4j.Slf4jLogger:marathon-akka.actor.default-dispatcher-4")
        terminate(NOT_OPEN, thread="scala-execution-context-global-21")
