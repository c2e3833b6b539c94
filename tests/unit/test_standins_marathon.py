"""The Marathon stand-in against real-marathon-samples, on 127.0.0.1 with a real ZooKeeper and
the stand-in Mesos master and agents (which run the tasks).

Start-up (launcher, libmesos with the Java bindings, Java 17's --add-opens, Scallop options
from the command line and MARATHON_* variables): exit codes and output as captured. Running:
the leader's headers and bodies by shape, the standby forwarding every request with
X-Marathon-Via (so /v2/info says elected on both), Jetty's 401 page, 406s, the app examples'
422/201 answers, the captured /hello session (POST, deploying, running tasks, scale by PUT, an
identical PUT that deploys nothing, DELETE, the two 404s), tasks that really run as
--mesos_user and answer HTTP, a missing task user (TASK_DROPPED with the real message), a
sandbox the task's user cannot read (its HTTP health check fails with 404 and kills it in a
loop, issue 13), framework registration, failover and authentication.
"""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.standins.harness import (
    Answer,
    Daemon,
    Processes,
    ZooKeeper,
    assert_like_sample,
    assert_same_shape,
    fetch,
    free_port,
    marathon_samples,
    reference_dir,
    samples,
    wait_until,
    zk_session,
)

pytestmark = pytest.mark.unit

EXAMPLES = reference_dir() / "marathon-app-examples"
SAMPLES = marathon_samples()
STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] ", re.MULTILINE)
ADD_OPENS = "--add-opens java.base/java.lang=ALL-UNNAMED"
HELLO = {"id": "/hello", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 64,
         "instances": 2}  # fmt: skip  -- the captured session's app (PROVENANCE.txt)
AGENT_FLAGS = ["--launcher=posix", "--isolation=posix/cpu,posix/mem",
               "--systemd_enable_support=false", "--resources=cpus:2;mem:2048"]  # fmt: skip


def text(name: str) -> str:
    return (SAMPLES / name).read_text()


def sample(name: str) -> Any:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def without_stamps(output: str) -> str:
    """Log lines without their time stamps (and the scheduler threads' varying numbers)."""
    out = STAMP.sub("", output)
    return re.sub(r"scala-execution-context-global-\d+", "scala-execution-context-global-N", out)


def like(answer: Answer, name: str) -> None:
    """Status, header names and order, Content-Type like the captured answer `name`."""
    assert_like_sample(answer, name, SAMPLES)


# ----- fixtures --------------------------------------------------------------------------------


def start_mesos_master(procs: Processes, zk: ZooKeeper, path: str, *extra: str) -> Daemon:
    port = free_port()
    args = ["--ip=127.0.0.1", f"--port={port}", f"--zk={zk.url(path)}", "--quorum=1",
            f"--work_dir={procs.workdir}/master-{port}", *extra]  # fmt: skip
    master = procs.start("mesos-master", args, port=port)
    wait_until(lambda: fetch(port, "/metrics/snapshot").json()["master/elected"] == 1.0)
    return master


def start_agent(procs: Processes, zk: ZooKeeper, path: str, hostname: str, work_dir: Path,
                *extra: str) -> Daemon:  # fmt: skip
    port = free_port()
    args = ["--ip=127.0.0.1", f"--port={port}", f"--master={zk.url(path)}",
            f"--hostname={hostname}", f"--work_dir={work_dir}",
            f"--launcher_dir={procs.fs}/usr/libexec/mesos", *AGENT_FLAGS, *extra]  # fmt: skip
    agent = procs.start("mesos-agent", args, port=port)
    wait_until(lambda: fetch(port, "/health").status == 200)
    return agent


def start_marathon(
    procs: Processes, zk: ZooKeeper, *extra: str, mesos: str = "/mesos", path: str = "/marathon",
    env: dict[str, str] | None = None, zk_url: str = "",
) -> Daemon:
    port = free_port()
    args = ["--master", zk.url(mesos), "--zk", zk_url or zk.url(path), "--http_port", str(port),
            "--hostname", "127.0.0.1", "--zk_session_timeout", "2000", *extra]  # fmt: skip
    marathon = procs.start("marathon", args, env, port=port)
    wait_until(lambda: fetch(port, "/ping").status in (200, 401), timeout=20)
    return marathon


def info(marathon: Daemon) -> dict:
    return fetch(marathon.port, "/v2/info").json()


@dataclass
class Cluster:
    mesos: Daemon
    agents: list[Daemon]
    leader: Daemon
    standby: Daemon


@pytest.fixture(scope="module")
def cluster(procs: Processes, zookeeper: ZooKeeper, open_dir: Path) -> Cluster:
    """A Mesos master, two agents (hosts 'localhost' and '127.0.0.1', so a hostname-UNIQUE
    app can run twice) and two Marathons whose tasks run as user nobody."""
    mesos = start_mesos_master(procs, zookeeper, "/mesos")
    agents = [start_agent(procs, zookeeper, "/mesos", host, open_dir / host)
              for host in ("localhost", "127.0.0.1")]
    wait_until(lambda: len(fetch(mesos.port, "/master/slaves").json()["slaves"]) == 2)
    leader = start_marathon(procs, zookeeper, "--mesos_user", "nobody")
    wait_until(lambda: info(leader)["frameworkId"])
    port = free_port()
    env = {  # the standby is configured the Debian way: MARATHON_* variables
        "MARATHON_MASTER": zookeeper.url("/mesos"),
        "MARATHON_ZK": zookeeper.url("/marathon"),
        "MARATHON_HTTP_PORT": str(port),
        "MARATHON_HOSTNAME": "127.0.0.1",
        "MARATHON_ZK_SESSION_TIMEOUT": "2000",
        "MARATHON_MESOS_USER": "nobody",
        "MARATHON_HA": "",
    }
    standby = procs.start("marathon", [], env, port)
    wait_until(lambda: fetch(port, "/v2/leader").status == 200, timeout=20)
    return Cluster(mesos, agents, leader, standby)


# ----- start-up -------------------------------------------------------------------------------

ARGS = ["--master", "zk://127.0.0.1:1/mesos", "--zk", "zk://127.0.0.1:1/marathon",
        "--http_port", "8080", "--hostname", "127.0.0.1"]  # fmt: skip


@pytest.mark.parametrize(("name", "library", "args"), [
    ("startup-no-native-lib", "", ARGS),
    ("startup-plain-libmesos", "usr/lib/libmesos.so", ARGS),
    ("help-no-native-lib", "", ["--help"]),
    ("unknown-flag-no-native-lib", "", [*ARGS, "--no_such_flag"]),
])  # fmt: skip
def test_without_the_java_bindings_marathon_exits_107(
    procs: Processes, name: str, library: str, args: list[str]
) -> None:
    """Checked before any option is read (issue 13): the real trace, exit 107."""
    env = {"MESOS_NATIVE_JAVA_LIBRARY": str(procs.fs / library) if library else ""}
    result = procs.run("marathon", args, env)
    assert result.returncode == int(text(f"{name}.exitcode"))
    assert result.stderr == b""
    assert without_stamps(result.stdout.decode()) == without_stamps(text(f"{name}.stdout"))


def test_java_17_needs_java_lang_opened(procs: Processes) -> None:
    name = "startup-java17-no-add-opens"
    result = procs.run("marathon", ARGS, {"JAVA_OPTS": "-Xmx256m"})
    assert result.returncode == int(text(f"{name}.exitcode")) == 107
    out = without_stamps(result.stdout.decode())
    real = without_stamps(text(f"{name}.stdout")).splitlines()
    lines = out.splitlines()
    assert lines[:4] == real[:4]  # hook, libmesos, Slf4jLogger, the ERROR line
    assert "java.lang.reflect.InaccessibleObjectException: Unable to make protected final " \
           "java.lang.Class java.lang.ClassLoader.defineClass" in out
    assert 'module java.base does not "opens java.lang" to unnamed module' in out
    assert lines[-1] == real[-1]  # shutting down with exit code 107


@pytest.mark.parametrize(("name", "args", "env"), [
    ("startup-unknown-flag", [*ARGS, "--no_such_flag"], {}),
    ("startup-missing-master", ARGS[2:], {}),
    ("version-flag", ["--version"], {}),
    ("launcher-env-unknown-marathon-var", ARGS, {"MARATHON_NO_SUCH_FLAG": "x"}),
    ("launcher-env-flag-and-env-conflict", [*ARGS[:4], "--http_port", "8083"],
     {"MARATHON_HTTP_PORT": "8084"}),
])  # fmt: skip
def test_option_errors_are_scallop_s(
    procs: Processes, name: str, args: list[str], env: dict[str, str]
) -> None:
    """The JVM reads MARATHON_* itself, before the command line: an unknown variable is an
    unknown option, a variable plus the same flag two arguments."""
    result = procs.run("marathon", args, env)
    assert result.returncode == int(text(f"{name}.exitcode")) == 1
    assert result.stderr.decode() == text(f"{name}.stderr")
    assert without_stamps(result.stdout.decode()) == without_stamps(text(f"{name}.stdout"))


def test_help_and_the_launcher_s_own_usage(procs: Processes) -> None:
    helped = procs.run("marathon", ["--help"])
    assert helped.returncode == 0
    first = without_stamps(helped.stdout.decode()).splitlines()[0]
    assert first == without_stamps(text("help.stdout")).splitlines()[0]
    assert b"--zk <arg>" in helped.stdout
    usage = procs.run("marathon", ["-h"])
    assert usage.returncode == int(text("launcher-dash-h.exitcode")) == 1
    real = text("launcher-dash-h.stdout").splitlines()
    mine = usage.stdout.decode().splitlines()
    assert [line for line in mine if "currently" not in line] == \
        [line for line in real if "currently" not in line]


def test_the_options_are_those_of_the_real_binarys_help() -> None:
    """The option table once came from documentation that stops at 1.7: it took options real
    1.11.24 refuses (tracing, assets_path, ...) and refused real ones (disable_ha's siblings,
    metrics reporters, graceful_shutdown_timeout). Every option of the real --help parses;
    the documented-only ones end like an unknown option does on the real binary."""
    from tests.standins.gen_flag_tables import parse_marathon_help
    from tests.standins.standin.marathon_flags import ScallopError, parse

    real = parse_marathon_help((SAMPLES / "help.stdout").read_text())
    assert len(real) > 100
    for option in real:
        if option["name"] == "help" or f"--{option['name']}" in ARGS:
            continue
        value = ["1000"] if option["arg"] else []
        given = parse([*ARGS, f"--{option['name']}", *value])
        assert str(option["name"]).removeprefix("disable_") in given["given_options"] or \
            option["name"] in given["given_options"], option
    for gone in ("tracing", "assets_path", "revive_offers_repetitions", "task_lost_expunge_gc",
                 "mesos_heartbeat_interval"):
        with pytest.raises(ScallopError, match=f"^Unknown option '{gone}'$"):
            parse([*ARGS, f"--{gone}"])


# ----- the running cluster -------------------------------------------------------------------


@pytest.mark.parametrize(("path", "name"), [
    ("/ping", "ping"), ("/v2/info", "v2-info"), ("/v2/leader", "v2-leader"),
    ("/v2/queue", "v2-queue-empty"), ("/v2/pods", "v2-pods-empty"),
    ("/metrics", "metrics"), ("/", "root"), ("/v2/eventSubscriptions", "v2-eventSubscriptions"),
])  # fmt: skip
def test_the_leader_answers_like_the_real_one(cluster: Cluster, path: str, name: str) -> None:
    answer = fetch(cluster.leader.port, path)
    like(answer, name)
    assert answer.header("X-Marathon-Leader") == f"http://127.0.0.1:{cluster.leader.port}"
    if (SAMPLES / f"{name}.json").exists() and name != "metrics":
        assert_same_shape(sample(name), answer.json())
    if name == "ping":
        assert answer.body == b"pong"
    if name == "metrics":
        # Every name real Marathon lists at start (metrics.json), none it never has (the
        # samples after an app ran hold six more counters), each with the real fields: the
        # metrics bridge of roles/metrics reads them (issue 17).
        got, first = answer.json(), sample("metrics")
        later = sample("metrics-after-hello")
        for section in ("counters", "gauges", "histograms", "meters", "timers"):
            assert set(first[section]) <= set(got[section]) <= \
                set(first[section]) | set(later[section]), section
            for key, value in got[section].items():
                assert set(value) == set({**first[section], **later[section]}[key]), key


def test_every_standby_forwards_to_the_leader(cluster: Cluster) -> None:
    """LeaderProxyFilter covers every path: a standby's /v2/info is the leader's, elected
    true, and only X-Marathon-Via tells that it was forwarded (issue 13, smack status)."""
    via = f"1.1 127.0.0.1:{cluster.standby.port}"
    direct, forwarded = (fetch(m.port, "/v2/info") for m in (cluster.leader, cluster.standby))
    assert direct.header("X-Marathon-Via") is None
    assert forwarded.header("X-Marathon-Via") == via
    assert direct.json()["elected"] is True and forwarded.json()["elected"] is True
    assert forwarded.json()["leader"] == f"127.0.0.1:{cluster.leader.port}"
    assert forwarded.header("X-Marathon-Leader") == f"http://127.0.0.1:{cluster.leader.port}"
    for path in ("/ping", "/v2/leader", "/v2/apps"):
        assert fetch(cluster.standby.port, path).header("X-Marathon-Via") == via
    assert_same_shape(sample("v2-info"), forwarded.json())


def test_what_json_endpoints_refuse(cluster: Cluster) -> None:
    def with_accept(path: str, accept: str) -> Answer:
        request = urllib.request.Request(f"http://127.0.0.1:{cluster.leader.port}{path}",
                                         headers={"Accept": accept})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return Answer(response.status, response.getheaders(), response.read())
        except urllib.error.HTTPError as err:
            return Answer(err.code, list(err.headers.items()), err.read())

    for path, accept, name in (("/v2/tasks", "text/plain", "v2-tasks-empty-text"),
                               ("/v2/info", "text/html", "v2-info-no-accept-json")):
        answer = with_accept(path, accept)
        like(answer, name)
        assert answer.json() == sample(name)


@pytest.fixture(scope="module")
def idle(procs: Processes, zookeeper: ZooKeeper) -> Daemon:
    """A Marathon whose Mesos master has no agent: apps are stored, never launched (one
    example fetches from the internet, which no test may reach)."""
    start_mesos_master(procs, zookeeper, "/mesos-idle")
    marathon = start_marathon(procs, zookeeper, "--disable_ha", mesos="/mesos-idle",
                              path="/marathon-idle")
    wait_until(lambda: info(marathon)["frameworkId"])
    return marathon


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_the_app_examples_get_the_real_answers(idle: Daemon, example: Path) -> None:
    """422 bodies are Marathon's own (Play's error keys, accord's messages); an unknown field
    is ignored (201), the secrets and root-volume examples are refused."""
    name = f"post-{example.stem}"
    answer = fetch(idle.port, "/v2/apps", "POST", json.loads(example.read_text()))
    like(answer, name)
    if answer.status == 422:
        assert answer.json() == sample(name)
    else:
        assert_same_shape(sample(name), answer.json())
        app_id = answer.json()["id"]
        assert fetch(idle.port, f"/v2/apps{app_id}", "GET").status == 200
        assert fetch(idle.port, f"/v2/apps{app_id}?force=true", "DELETE").status == 200


def test_the_captured_hello_session(cluster: Cluster) -> None:
    """The session of real-marathon-samples/hello-*: same statuses, headers and shapes."""
    port = cluster.leader.port
    posted = fetch(port, "/v2/apps", "POST", HELLO)
    like(posted, "hello-post")
    assert_same_shape(sample("hello-post"), posted.json())
    assert posted.json()["portDefinitions"][0]["port"] == 0  # assigned after the POST
    deployment = posted.header("Marathon-Deployment-Id")
    assert posted.json()["deployments"] == [{"id": deployment}]
    deploying = fetch(port, "/v2/deployments").json()
    assert [d["id"] for d in deploying] == [deployment]
    assert_same_shape(sample("hello-v2-deployments-deploying"), deploying)
    assert deploying[0]["steps"] == sample("hello-v2-deployments-deploying")[0]["steps"]

    running = wait_until(lambda: (app := fetch(port, "/v2/apps/hello").json()["app"])
                         ["tasksRunning"] == 2 and not app["deployments"] and app, timeout=30)
    assert_same_shape(sample("hello-get-running")["app"], running)
    assert running["portDefinitions"][0]["port"] == 10000
    task = running["tasks"][0]
    assert re.fullmatch(r"hello\.instance-[0-9a-f-]{36}\._app\.1", task["id"])
    assert {t["host"] for t in running["tasks"]} <= {"127.0.0.1", "localhost"}
    tasks = fetch(port, "/v2/apps/hello/tasks")
    like(tasks, "hello-tasks")
    assert_same_shape(sample("hello-tasks"), tasks.json())
    assert {t["servicePorts"] == [] for t in tasks.json()["tasks"]} == {True}
    everything = fetch(port, "/v2/tasks").json()
    assert_same_shape(sample("hello-v2-tasks"), everything)
    assert {tuple(t["servicePorts"]) for t in everything["tasks"]} == {(10000,)}
    assert_tasks_really_run(cluster, running["tasks"])

    full = {**HELLO, "instances": 1}
    scaled = fetch(port, "/v2/apps/hello", "PUT", full)
    like(scaled, "hello-put-instances-1")
    assert scaled.json()["deploymentId"] == scaled.header("Marathon-Deployment-Id")
    steps = fetch(port, "/v2/deployments").json()
    assert [s["actions"][0]["action"] for d in steps for s in d["steps"]] in (
        [], ["ScaleApplication"])
    wait_until(lambda: fetch(port, "/v2/apps/hello").json()["app"]["tasksRunning"] == 1)
    wait_until(lambda: fetch(port, "/v2/deployments").json() == [])
    version = fetch(port, "/v2/apps/hello").json()["app"]["version"]
    identical = fetch(port, "/v2/apps/hello", "PUT", full)
    like(identical, "hello-put-identical")
    assert identical.json()["deploymentId"] != scaled.json()["deploymentId"]
    assert fetch(port, "/v2/deployments").json() == []  # a plan without steps
    assert fetch(port, "/v2/apps/hello").json()["app"]["version"] == version
    versions = fetch(port, "/v2/apps/hello/versions").json()
    assert_same_shape(sample("hello-versions"), versions)
    assert len(versions["versions"]) == 2

    assert_deleted_like_sample(port)


def assert_tasks_really_run(cluster: Cluster, tasks: list[dict[str, Any]]) -> None:
    """On their agent's port, as --mesos_user, in their sandbox."""
    def listing(port: int) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            return bytes(page.read())

    for task in tasks:
        # TASK_RUNNING means the command started; the server binds its port a moment later.
        page = wait_until(lambda task=task: listing(task["ports"][0]), timeout=30)
        assert b"stdout" in page  # the sandbox's listing
    frameworks = fetch(cluster.mesos.port, "/master/frameworks").json()
    assert_same_shape(sample("hello-mesos-master-frameworks")["frameworks"][0]["tasks"][0],
                      frameworks["frameworks"][0]["tasks"][0])
    assert frameworks["frameworks"][0]["user"] == "nobody"


def assert_deleted_like_sample(port: int) -> None:
    deleted = fetch(port, "/v2/apps/hello", "DELETE")
    like(deleted, "hello-delete")
    gone = fetch(port, "/v2/apps/hello")
    like(gone, "hello-get-after-delete")
    assert gone.json() == sample("hello-get-after-delete")
    again = fetch(port, "/v2/apps/hello", "DELETE")
    like(again, "hello-delete-again")
    assert again.json() == sample("hello-delete-again")
    wait_until(lambda: fetch(port, "/v2/tasks").json() == {"tasks": []}, timeout=20)
    wait_until(lambda: fetch(port, "/v2/deployments").json() == [])


def test_a_task_user_the_agent_lacks_drops_the_task(cluster: Cluster) -> None:
    """issue 13: TASK_DROPPED "Failed to chown directory to 'marathon': No such user" when
    the agents had no user marathon."""
    app = {"id": "/nouser", "cmd": "sleep 600", "cpus": 0.1, "mem": 16, "user": "nosuchuser"}
    assert fetch(cluster.leader.port, "/v2/apps", "POST", app).status == 201
    failure = wait_until(lambda: fetch(cluster.leader.port, "/v2/apps/nouser").json()["app"]
                         .get("lastTaskFailure"), timeout=20)
    assert failure["state"] == "TASK_DROPPED"
    assert failure["message"] == "Failed to chown directory to 'nosuchuser': No such user " \
                                 "'nosuchuser'"
    assert set(failure) == set(sample("after-examples-v2-apps-embed-lastTaskFailure")
                               ["apps"][1]["lastTaskFailure"])
    assert fetch(cluster.leader.port, "/v2/apps/nouser?force=true", "DELETE").status == 200


def test_the_framework_and_its_tasks_at_the_mesos_master(cluster: Cluster) -> None:
    frameworks = fetch(cluster.mesos.port, "/master/frameworks").json()
    real = sample("hello-mesos-master-frameworks")
    assert list(frameworks) == list(real)
    framework = frameworks["frameworks"][0]
    assert list(framework) == list(real["frameworks"][0])
    assert framework["id"] == info(cluster.leader)["frameworkId"]
    assert framework["capabilities"] == real["frameworks"][0]["capabilities"]
    assert framework["webui_url"] == f"http://127.0.0.1:{cluster.leader.port}"


def test_failover_keeps_the_tasks(cluster: Cluster, procs: Processes,
                                  zookeeper: ZooKeeper) -> None:  # fmt: skip
    app = {"id": "/keeper", "cmd": "sleep 600", "cpus": 0.1, "mem": 16}
    assert fetch(cluster.leader.port, "/v2/apps", "POST", app).status == 201
    task = wait_until(lambda: [t for t in fetch(cluster.leader.port, "/v2/tasks").json()["tasks"]
                               if t["state"] == "TASK_RUNNING" and t["appId"] == "/keeper"])[0]
    framework_id = info(cluster.leader)["frameworkId"]
    cluster.leader.signal(signal.SIGTERM)
    assert cluster.leader.wait(10) == 128 + signal.SIGTERM  # Marathon exits 143
    wait_until(lambda: fetch(cluster.standby.port, "/v2/leader").json()["leader"]
               == f"127.0.0.1:{cluster.standby.port}", timeout=20)
    assert info(cluster.standby)["frameworkId"] == framework_id  # read back from ZooKeeper
    time.sleep(2)  # reconciliation with Mesos
    tasks = fetch(cluster.standby.port, "/v2/tasks").json()["tasks"]
    assert [t["id"] for t in tasks if t["appId"] == "/keeper"] == [task["id"]]
    assert fetch(cluster.standby.port, "/v2/apps/keeper", "DELETE").status == 200
    cluster.leader = start_marathon(procs, zookeeper, "--mesos_user", "nobody")
    cluster.leader, cluster.standby = cluster.standby, cluster.leader


# ----- a sandbox the task's user cannot read ---------------------------------------------------


def test_a_sandbox_its_user_cannot_read_fails_the_health_check(
    procs: Processes, zookeeper: ZooKeeper, workdir: Path
) -> None:
    """issue 13: /var/lib/mesos 0750 root:root, tasks as user marathon -> `python3 -m
    http.server` answers 404 to everything, and the HTTP health check kills it in a loop."""
    private = workdir / "private"  # 0700, like pytest's own directories
    private.mkdir(mode=0o700)
    mesos = start_mesos_master(procs, zookeeper, "/mesos-private")
    start_agent(procs, zookeeper, "/mesos-private", "localhost", private / "agent")
    marathon = start_marathon(procs, zookeeper, "--mesos_user", "nobody", "--disable_ha",
                              mesos="/mesos-private", path="/marathon-private")  # fmt: skip
    wait_until(lambda: info(marathon)["frameworkId"], timeout=20)
    app = {"id": "/web", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 32,
           "healthChecks": [{"protocol": "HTTP", "path": "/", "gracePeriodSeconds": 1,
                             "intervalSeconds": 1, "delaySeconds": 0,
                             "maxConsecutiveFailures": 2}]}  # fmt: skip
    assert fetch(marathon.port, "/v2/apps", "POST", app).status == 201
    failure = wait_until(lambda: fetch(marathon.port, "/v2/apps/web").json()["app"]
                         .get("lastTaskFailure"), timeout=30)
    assert failure["state"] == "TASK_KILLED"
    assert failure["message"] == \
        "Task was killed since health check failed. Reason: 404 Not Found"
    assert "Task was killed since health check failed. Reason: 404 Not Found" in marathon.log()
    # ...and it is launched again, and killed again: the deployment never ends.
    wait_until(lambda: fetch(marathon.port, "/v2/apps/web").json()["app"]["lastTaskFailure"]
               ["taskId"] != failure["taskId"], timeout=30)
    assert fetch(marathon.port, "/v2/deployments").json() != []
    assert fetch(mesos.port, "/master/frameworks").json()["frameworks"][0]["user"] == "nobody"


# ----- authentication -------------------------------------------------------------------------


def test_http_credentials(procs: Processes, zookeeper: ZooKeeper) -> None:
    """--http_credentials (or MESOSPHERE_HTTP_CREDENTIALS) guards every endpoint, /ping
    included, with Jetty's page and realm "null" whatever --http_realm says."""
    guarded = start_marathon(procs, zookeeper, "--http_credentials", "admin:secret",
                             "--http_realm", "Marathon", "--disable_ha", path="/marathon-auth")
    for path, name in (("/ping", "auth-ping-noauth"), ("/v2/apps", "auth-realm-v2-apps-noauth")):
        denied = fetch(guarded.port, path)
        like(denied, name)
        assert denied.body == (SAMPLES / f"{name}.body").read_bytes()
    wrong = fetch(guarded.port, "/v2/info", auth=("admin", "nope"))
    like(wrong, "auth-v2-info-wrongpw")
    # 503 "Could not determine the current leader" until it has elected itself.
    pong = wait_until(lambda: (answer := fetch(guarded.port, "/ping", auth=("admin", "secret")))
                      .status == 200 and answer, timeout=20)
    assert pong.body == b"pong"
    guarded.signal(signal.SIGKILL)
    from_env = start_marathon(procs, zookeeper, "--disable_ha", path="/marathon-auth-env",
                              env={"MESOSPHERE_HTTP_CREDENTIALS": "envuser:pw"})
    assert fetch(from_env.port, "/v2/info").status == 401
    wait_until(lambda: fetch(from_env.port, "/ping", auth=("envuser", "pw")).status == 200)
    from_env.signal(signal.SIGKILL)


def test_mesos_framework_authentication(
    procs: Processes, zookeeper: ZooKeeper, workdir: Path
) -> None:
    (workdir / "credentials.json").write_bytes(
        (samples() / "auth-credentials-example.json").read_bytes()
    )
    (workdir / "secret").write_text("s3cret")
    (workdir / "wrong").write_text("wrong-secret")
    master = start_mesos_master(procs, zookeeper, "/mesos-fwauth", "--authenticate_frameworks",
                                f"--credentials={workdir}/credentials.json")  # fmt: skip
    common = ["--mesos_authentication", "--mesos_authentication_principal", "ops", "--disable_ha"]
    from_file = "--mesos_authentication_secret_file"
    good = start_marathon(procs, zookeeper, *common, from_file, f"{workdir}/secret",
                          mesos="/mesos-fwauth", path="/marathon-fwauth")  # fmt: skip
    wait_until(lambda: info(good)["frameworkId"])
    assert fetch(master.port, "/master/state").json()["frameworks"][0]["principal"] == "ops"
    bad = start_marathon(procs, zookeeper, *common, from_file, f"{workdir}/wrong",
                         mesos="/mesos-fwauth", path="/marathon-fwauth-2")  # fmt: skip
    assert bad.wait(15) == int(text("startup-bad-mesos-secret.exitcode")) == 106
    assert "Master refused authentication" in bad.log()
    assert "Master refused authentication" in text("startup-bad-mesos-secret.stdout")


def test_the_leader_latch_in_zookeeper(cluster: Cluster, zookeeper: ZooKeeper) -> None:
    with zk_session(zookeeper) as zk:
        children = zk.get_children("/marathon/leader-curator")
        assert all(re.fullmatch(r"_c_[0-9a-f-]{36}-latch-\d{10}", c) for c in children), children
        first = min(children, key=lambda c: c.rsplit("-", 1)[1])
        data, stat = zk.get(f"/marathon/leader-curator/{first}")
        assert data.decode() == f"127.0.0.1:{cluster.leader.port}" and stat.ephemeralOwner != 0


def test_zookeeper_credentials_keep_the_state_marathon_s_own(
    procs: Processes, zookeeper: ZooKeeper
) -> None:
    """--zk zk://user:pass@...: the state is the digest user's alone (CREATOR_ALL_ACL), the
    leader latch readable by anyone; a Marathon with another password cannot read the state
    and exits."""
    from kazoo.client import KazooClient
    from kazoo.exceptions import NoAuthError
    from kazoo.security import make_digest_acl_credential

    url = zookeeper.url("/marathon-digest").replace("zk://", "zk://marathon:right@")
    marathon = start_marathon(procs, zookeeper, zk_url=url)
    wait_until(lambda: info(marathon)["elected"], timeout=20)
    owner = (31, "digest", make_digest_acl_credential("marathon", "right"))
    with zk_session(zookeeper) as zk:
        with pytest.raises(NoAuthError):
            zk.get_children("/marathon-digest/state")
        with pytest.raises(NoAuthError):  # not even the ACL
            zk.get_acls("/marathon-digest/state")
        latch = "/marathon-digest/leader-curator"
        (leader,) = zk.get_children(latch)
        assert zk.get(f"{latch}/{leader}")[0].decode() == f"127.0.0.1:{marathon.port}"
    mine = KazooClient(hosts=f"127.0.0.1:{zookeeper.port}",
                       auth_data=[("digest", "marathon:right")])
    mine.start(timeout=10)
    try:
        for path in ("/marathon-digest", "/marathon-digest/state", "/marathon-digest/state/apps"):
            assert [(a.perms, a.id.scheme, a.id.id) for a in mine.get_acls(path)[0]] == [owner]
        assert sorted((a.perms, a.id.scheme, a.id.id) for a in mine.get_acls(latch)[0]) == [
            (1, "world", "anyone"), owner]
    finally:
        mine.stop()
        mine.close()
    port = free_port()
    wrong = procs.start("marathon", [
        "--master", zookeeper.url("/mesos"), "--zk", url.replace(":right@", ":wrong@"),
        "--http_port", str(port), "--hostname", "127.0.0.1"], port=port)  # fmt: skip
    assert wrong.wait(30) == 1
    assert "KeeperException$NoAuthException: KeeperErrorCode = NoAuth for " \
        "/marathon-digest/state" in wrong.log()
    marathon.signal(signal.SIGKILL)
