"""The stand-in libmesos-java.so: Spark's own MesosSchedulerDriver against a fake master.

The library and its driver jar are built from tests/standins (build_java.py). A small Java
scheduler, compiled against the bundle's mesos-1.4.3-shaded-protobuf.jar (the jar Spark 3.5
ships), runs `MesosSchedulerDriver.run()` with MESOS_NATIVE_JAVA_LIBRARY pointing at the built
library. The master is a fake written here: the framework side of tests/standins/PROTOCOL.md on
127.0.0.1, recording what the driver sends and answering with one offer and two status updates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.standins.build_java import build_driver_jar, build_libmesos_java
from tests.standins.harness import BUNDLE, ZooKeeper, free_port, zk_session

pytestmark = pytest.mark.unit

SPARK_TARBALL = "spark-3.5.8.tar.gz"
MESOS_JAR = "mesos-1.4.3-shaded-protobuf.jar"
FRAMEWORK_ID = "3a1f0000-0000-4000-8000-000000000001-0000"
PRINCIPAL = "spark"
SECRET = "driver-test-secret"  # noqa: S105 -- a test value
TASK_STATES = ["TASK_RUNNING", "TASK_FINISHED"]

SCHEDULER = """
import java.lang.reflect.Proxy;
import java.util.Collections;
import java.util.List;
import org.apache.mesos.Executor;
import org.apache.mesos.MesosExecutorDriver;
import org.apache.mesos.MesosNativeLibrary;
import org.apache.mesos.MesosSchedulerDriver;
import org.apache.mesos.Protos.*;
import org.apache.mesos.Scheduler;
import org.apache.mesos.SchedulerDriver;

/** Launches one command task on the first offer and stops after TASK_FINISHED. */
public class SmackTestScheduler implements Scheduler {
    private boolean launched;
    // stop() from a callback lets run() return at once: main waits for the callback's own
    // line before it exits, as any framework that stops itself has to.
    final java.util.concurrent.CountDownLatch stopSaid = new java.util.concurrent.CountDownLatch(1);

    static void say(String line) {
        System.out.println("EVENT " + line);
        System.out.flush();
    }

    public void registered(SchedulerDriver d, FrameworkID id, MasterInfo m) {
        say("registered " + id.getValue() + " " + m.getPid() + " " + m.getAddress().getPort()
            + " version=" + m.getVersion());
    }

    public void reregistered(SchedulerDriver d, MasterInfo m) {
        say("reregistered " + m.getPid());
    }

    public void resourceOffers(SchedulerDriver d, List<Offer> offers) {
        for (Offer o : offers) {
            say("offer " + o.getId().getValue() + " agent=" + o.getSlaveId().getValue()
                + " host=" + o.getHostname());
            for (Resource r : o.getResourcesList()) {
                if (r.hasRanges()) {
                    Value.Range range = r.getRanges().getRange(0);
                    say("resource " + r.getName() + " " + range.getBegin() + "-" + range.getEnd());
                } else {
                    say("resource " + r.getName() + " " + r.getScalar().getValue());
                }
            }
            for (Attribute a : o.getAttributesList()) {
                say("attribute " + a.getName() + "=" + a.getText().getValue());
            }
            if (launched) {
                say("decline returned " + d.declineOffer(o.getId()));
                continue;
            }
            launched = true;
            TaskInfo task = TaskInfo.newBuilder()
                .setName("smack-test-task")
                .setTaskId(TaskID.newBuilder().setValue("task-1"))
                .setSlaveId(o.getSlaveId())
                .addResources(scalar("cpus", 1.0))
                .addResources(scalar("mem", 128.0))
                .setCommand(CommandInfo.newBuilder()
                    .setValue("echo hello")
                    .setEnvironment(Environment.newBuilder().addVariables(
                        Environment.Variable.newBuilder().setName("GREETING").setValue("hi"))))
                .build();
            Filters filters = Filters.newBuilder().setRefuseSeconds(5).build();
            Status s;
            if (Boolean.getBoolean("smack.acceptOffers")) {
                // A RESERVE the stand-in cannot do, then the launch: only the launch is sent.
                Offer.Operation reserve = Offer.Operation.newBuilder()
                    .setType(Offer.Operation.Type.RESERVE)
                    .setReserve(Offer.Operation.Reserve.newBuilder()
                        .addResources(scalar("cpus", 1.0)))
                    .build();
                Offer.Operation launch = Offer.Operation.newBuilder()
                    .setType(Offer.Operation.Type.LAUNCH)
                    .setLaunch(Offer.Operation.Launch.newBuilder().addTaskInfos(task))
                    .build();
                s = d.acceptOffers(Collections.singletonList(o.getId()),
                    java.util.Arrays.asList(reserve, launch), filters);
            } else {
                s = d.launchTasks(Collections.singletonList(o.getId()),
                    Collections.singletonList(task), filters);
            }
            say("launch returned " + s);
        }
    }

    static Resource scalar(String name, double value) {
        return Resource.newBuilder().setName(name).setType(Value.Type.SCALAR)
            .setScalar(Value.Scalar.newBuilder().setValue(value)).build();
    }

    public void offerRescinded(SchedulerDriver d, OfferID id) {
        say("rescinded " + id.getValue());
    }

    public void statusUpdate(SchedulerDriver d, TaskStatus s) {
        say("update " + s.getTaskId().getValue() + " " + s.getState() + " uuid="
            + s.getUuid().size() + " agent=" + s.getSlaveId().getValue());
        if (s.getState() == TaskState.TASK_RUNNING) {
            say("calls returned " + d.suppressOffers() + " " + d.reviveOffers() + " "
                + d.reconcileTasks(Collections.singletonList(s)) + " "
                + d.killTask(s.getTaskId()) + " " + d.acknowledgeStatusUpdate(s));
        }
        if (s.getState() == TaskState.TASK_FINISHED) {
            say("stop returned " + d.stop());
            stopSaid.countDown();
        }
    }

    public void frameworkMessage(SchedulerDriver d, ExecutorID e, SlaveID s, byte[] data) {
        say("message");
    }

    public void disconnected(SchedulerDriver d) {
        say("disconnected");
    }

    public void slaveLost(SchedulerDriver d, SlaveID id) {
        say("slaveLost " + id.getValue());
    }

    public void executorLost(SchedulerDriver d, ExecutorID e, SlaveID s, int status) {
        say("executorLost");
    }

    public void error(SchedulerDriver d, String message) {
        say("error " + message);
    }

    public static void main(String[] args) {
        if (args[0].equals("version")) {
            MesosNativeLibrary.load();
            MesosNativeLibrary.Version v = MesosNativeLibrary.version();
            System.out.println("VERSION " + v.major + "." + v.minor + "." + v.patch);
            Executor executor = (Executor) Proxy.newProxyInstance(
                Executor.class.getClassLoader(), new Class<?>[] {Executor.class},
                (proxy, method, arguments) -> null);
            try {
                new MesosExecutorDriver(executor);
                System.out.println("EXECUTOR constructed");
            } catch (UnsupportedOperationException e) {
                System.out.println("EXECUTOR " + e.getMessage());
            }
            return;
        }
        FrameworkInfo framework = FrameworkInfo.newBuilder()
            .setName("smack-driver-test")
            .setUser("")
            .setRole("spark-role")
            .setFailoverTimeout(60)
            .setCheckpoint(true)
            .addCapabilities(FrameworkInfo.Capability.newBuilder()
                .setType(FrameworkInfo.Capability.Type.GPU_RESOURCES))
            .addCapabilities(FrameworkInfo.Capability.newBuilder()
                .setType(FrameworkInfo.Capability.Type.TASK_KILLING_STATE))
            .build();
        SmackTestScheduler scheduler = new SmackTestScheduler();
        MesosSchedulerDriver driver = args.length > 1
            ? new MesosSchedulerDriver(scheduler, framework, args[0],
                Credential.newBuilder().setPrincipal(args[1]).setSecret(args[2]).build())
            : new MesosSchedulerDriver(scheduler, framework, args[0]);
        Status status = driver.run();
        if (status == Status.DRIVER_STOPPED) {
            try {
                scheduler.stopSaid.await(10, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        System.out.println("RESULT " + status);
        System.exit(status == Status.DRIVER_STOPPED ? 0 : 1);
    }
}
"""


# ----- the fake master -------------------------------------------------------------------


@dataclass
class FakeMaster:
    """The master side of PROTOCOL.md's framework calls, scripted for one task.

    `reregister_polls`: how many polls (the first ones) answer 404 reregister.
    `refuse`: answer every registration 403 exit with this message.
    """

    reregister_polls: int = 0
    refuse: str | None = None
    registrations: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    offered: bool = False

    def __post_init__(self) -> None:
        master = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                status, answer = master.handle(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def pid(self) -> str:
        return f"master@127.0.0.1:{self.port}"

    def master_info(self) -> dict[str, Any]:
        return {
            "address": {"hostname": "localhost", "ip": "127.0.0.1", "port": self.port},
            # Newer than the 1.4.3 protos Spark bundles (field and enum values): skipped.
            "capabilities": [{"type": "AGENT_UPDATE"}, {"type": "AGENT_DRAINING"},
                             {"type": "QUOTA_V2"}],
            "hostname": "localhost",
            "id": "fake-master",
            "ip": 16777343,
            "pid": self.pid,
            "port": self.port,
            "version": "1.11.0",
            "a_field_from_the_future": {"x": 1},
        }  # fmt: skip

    def record(self, path: str, body: dict[str, Any]) -> None:
        with self.cond:
            self.calls.setdefault(path, []).append(body)

    def push(self, *events: dict[str, Any]) -> None:
        with self.cond:
            self.events.extend(events)
            self.cond.notify_all()

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        path = path.removeprefix("/__standin__")
        if path == "/framework/register":
            return self.register(body)
        self.record(path, body)
        if body.get("id") != FRAMEWORK_ID:
            return 404, {"action": "reregister"}
        if path == "/framework/poll":
            return self.poll(float(body.get("wait", 1)))
        if path == "/framework/accept":
            self.launched(body)
        return 200, {}

    def register(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.cond:
            self.registrations.append(body)
        if self.refuse is not None:
            return 403, {"action": "exit", "message": self.refuse}
        if not self.offered:
            self.offered = True
            self.push(self.offer())
        return 200, {"id": FRAMEWORK_ID, "master": self.pid, "master_info": self.master_info()}

    def poll(self, wait: float) -> tuple[int, dict[str, Any]]:
        with self.cond:
            if self.reregister_polls > 0:
                self.reregister_polls -= 1
                return 404, {"action": "reregister"}
            self.cond.wait_for(lambda: bool(self.events), timeout=min(wait, 1.0))
            events, self.events = self.events, []
        return 200, {"events": events}

    def offer(self, offer_id: str = "offer-1") -> dict[str, Any]:
        return {
            "type": "offers",
            "offers": [
                {
                    "id": {"value": offer_id},
                    "framework_id": {"value": FRAMEWORK_ID},
                    "slave_id": {"value": "agent-1"},
                    "hostname": "agent1.example",
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, "role": "*"},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0},
                         "role": "*"},
                        {"name": "ports", "type": "RANGES",
                         "ranges": {"range": [{"begin": 31000, "end": 31005}]}, "role": "*"},
                    ],
                    "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}],
                }
            ],
        }  # fmt: skip

    def launched(self, body: dict[str, Any]) -> None:
        self.push(self.offer("offer-2"))  # to be declined: the scheduler has launched its task
        for task in body.get("tasks", []):
            for state in TASK_STATES:
                status = {
                    "task_id": task["task_id"],
                    "state": state,
                    "source": "SOURCE_EXECUTOR",
                    "slave_id": task["slave_id"],
                    "timestamp": time.time(),
                    "uuid": base64.b64encode(os.urandom(16)).decode(),
                }
                self.push({"type": "update", "status": status})


# ----- builds ----------------------------------------------------------------------------


@dataclass
class Built:
    jar: Path
    library: Path
    mesos_jar: Path
    classes: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    tarball = BUNDLE / SPARK_TARBALL
    if not tarball.is_file():
        pytest.fail(f"{tarball} missing: run `smack bundle` first (or set SMACK_BUNDLE_DIR)")
    out = tmp_path_factory.mktemp("driver")
    jar = build_driver_jar(out)
    library = build_libmesos_java(out, jar_path="/nonexistent/mesos-standin-driver.jar")
    mesos_jar = out / MESOS_JAR
    with tarfile.open(tarball, "r|gz") as tar:
        for member in tar:
            if member.name.endswith(f"/jars/{MESOS_JAR}"):
                source = tar.extractfile(member)
                assert source is not None
                mesos_jar.write_bytes(source.read())
                break
    if not mesos_jar.is_file():
        pytest.fail(f"{MESOS_JAR} not found in {tarball}")
    classes = out / "classes"
    (out / "SmackTestScheduler.java").write_text(SCHEDULER)
    javac = subprocess.run(
        ["javac", "--release", "11", "-cp", str(mesos_jar), "-d", str(classes),
         str(out / "SmackTestScheduler.java")],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert javac.returncode == 0, javac.stderr
    return Built(jar, library, mesos_jar, classes)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def events(self) -> list[str]:
        return [line[len("EVENT ") :] for line in self.stdout.splitlines()
                if line.startswith("EVENT ")]  # fmt: skip

    def callbacks(self) -> list[str]:
        return [event.split()[0] for event in self.events()]


def run_scheduler(built: Built, *args: str, java_options: tuple[str, ...] = ()) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "LIBPROCESS_"))}
    env["MESOS_NATIVE_JAVA_LIBRARY"] = str(built.library)
    env["SMACK_STANDIN_DRIVER_JAR"] = str(built.jar)
    proc = subprocess.run(
        ["java", "-Xmx128m", "-XX:TieredStopAtLevel=1", *java_options,
         "-cp", f"{built.mesos_jar}:{built.classes}", "SmackTestScheduler", *args],
        capture_output=True, text=True, timeout=40, env=env, check=False,
    )  # fmt: skip
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def master() -> Iterator[FakeMaster]:
    fake = FakeMaster()
    yield fake
    fake.close()


def assert_ran_the_task(run: Run, master: FakeMaster) -> None:
    detail = f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert run.returncode == 0, detail
    assert "RESULT DRIVER_STOPPED" in run.stdout, detail
    updates = [e.split()[2] for e in run.events() if e.startswith("update task-1 ")]
    assert updates == TASK_STATES, detail
    assert "update task-1 TASK_RUNNING uuid=16 agent=agent-1" in run.events()
    assert "stop returned DRIVER_STOPPED" in run.events()
    assert master.calls.get("/framework/teardown") == [{"id": FRAMEWORK_ID}]
    [accept] = master.calls["/framework/accept"]
    assert accept["id"] == FRAMEWORK_ID
    assert accept["offer_ids"] == [{"value": "offer-1"}]
    assert accept["filters"] == {"refuse_seconds": 5.0}
    assert [t["task_id"] for t in accept["tasks"]] == [{"value": "task-1"}]
    assert "decline returned DRIVER_RUNNING" in run.events()
    assert master.calls["/framework/decline"] == [
        {"id": FRAMEWORK_ID, "offer_ids": [{"value": "offer-2"}]}
    ]
    running = " ".join(["DRIVER_RUNNING"] * 5)
    assert f"calls returned {running}" in run.events()
    task_id = {"value": "task-1"}
    assert master.calls["/framework/suppress"] == [{"id": FRAMEWORK_ID}]
    assert master.calls["/framework/revive"] == [{"id": FRAMEWORK_ID}]
    assert master.calls["/framework/reconcile"] == [
        {"id": FRAMEWORK_ID, "statuses": [{"task_id": task_id, "slave_id": {"value": "agent-1"}}]}
    ]
    assert master.calls["/framework/kill"] == [{"id": FRAMEWORK_ID, "task_id": task_id}]


# ----- tests -----------------------------------------------------------------------------


def test_spark_mesos_driver_runs_a_task(built: Built, master: FakeMaster) -> None:
    run = run_scheduler(built, f"127.0.0.1:{master.port}", PRINCIPAL, SECRET)
    assert_ran_the_task(run, master)
    events = run.events()
    # Registration comes first; MasterInfo fields the 1.4.3 protos lack (capabilities) are
    # skipped, the rest arrives.
    assert run.callbacks()[0] == "registered"
    assert events[0] == f"registered {FRAMEWORK_ID} {master.pid} {master.port} version=1.11.0"
    assert "offer offer-1 agent=agent-1 host=agent1.example" in events
    assert "resource cpus 2.0" in events
    assert "resource ports 31000-31005" in events
    assert "attribute rack=r1" in events
    assert "launch returned DRIVER_RUNNING" in events

    [registration] = master.registrations
    assert "id" not in registration
    assert registration["name"] == "smack-driver-test"
    assert registration["user"]  # empty in FrameworkInfo: filled in like libmesos does
    assert registration["hostname"]
    assert registration["role"] == "spark-role"
    assert registration["failover_timeout"] == 60.0
    assert registration["checkpoint"] is True
    assert registration["capabilities"] == ["GPU_RESOURCES", "TASK_KILLING_STATE"]
    assert registration["pid"].startswith("scheduler-")
    credential = registration["credential"]
    assert set(credential) == {"principal", "nonce", "digest"}
    assert credential["principal"] == PRINCIPAL
    assert len(credential["nonce"]) == 32
    int(credential["nonce"], 16)
    expected = hmac.new(SECRET.encode(), credential["nonce"].encode(), hashlib.sha256)
    assert hmac.compare_digest(credential["digest"], expected.hexdigest())
    assert SECRET not in json.dumps(registration) + run.stderr

    [task] = master.calls["/framework/accept"][0]["tasks"]
    assert task["name"] == "smack-test-task"
    assert task["task_id"] == {"value": "task-1"}
    assert task["slave_id"] == {"value": "agent-1"}
    assert task["resources"] == [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 128.0}},
    ]
    assert task["command"]["value"] == "echo hello"
    assert task["command"]["environment"] == {"variables": [{"name": "GREETING", "value": "hi"}]}
    assert "smack stand-in scheduler driver: registered as framework" in run.stderr


def test_leader_found_through_zookeeper(built: Built, master: FakeMaster, tmp_path: Path) -> None:
    zookeeper = ZooKeeper(tmp_path)
    try:
        from kazoo.security import make_digest_acl

        acl = [make_digest_acl("mesos", "zk-pass", all=True)]
        dead = free_port()
        with zk_session(zookeeper) as client:
            client.add_auth("digest", "mesos:zk-pass")
            client.create("/mesos", b"", acl=acl)
            client.create("/mesos/log_replicas", b"", acl=acl)
            for seq, port in (("0000000007", dead), ("0000000003", master.port)):
                info = {**master.master_info(), "port": port, "pid": f"master@127.0.0.1:{port}"}
                info["address"] = {"hostname": "localhost", "ip": "127.0.0.1", "port": port}
                client.create(f"/mesos/json.info_{seq}", json.dumps(info).encode(), acl=acl)
        url = f"zk://mesos:zk-pass@127.0.0.1:{zookeeper.port}/mesos"
        run = run_scheduler(built, url)
    finally:
        zookeeper.stop()
    assert_ran_the_task(run, master)
    assert len(master.registrations) == 1
    assert "credential" not in master.registrations[0]
    assert run.callbacks()[0] == "registered"


def test_reregisters_after_the_master_forgets_it(built: Built) -> None:
    master = FakeMaster(reregister_polls=1)
    try:
        # Launching through acceptOffers() this time (with an operation the stand-in skips).
        run = run_scheduler(
            built, f"127.0.0.1:{master.port}", java_options=("-Dsmack.acceptOffers=true",)
        )
    finally:
        master.close()
    assert_ran_the_task(run, master)
    assert run.callbacks()[:3] == ["registered", "disconnected", "reregistered"], run.stdout
    assert "skipping a RESERVE operation" in run.stderr
    first, second = master.registrations
    assert "id" not in first
    assert second["id"] == FRAMEWORK_ID
    assert second["pid"] == first["pid"]
    assert "disconnected from master" in run.stderr
    assert "re-registered as framework" in run.stderr


def test_refused_registration_aborts(built: Built) -> None:
    master = FakeMaster(refuse="Master master@127.0.0.1:5050 refused authentication")
    try:
        run = run_scheduler(built, f"127.0.0.1:{master.port}", PRINCIPAL, "wrong")
    finally:
        master.close()
    assert run.returncode == 1, run.stderr
    assert "RESULT DRIVER_ABORTED" in run.stdout
    assert run.events() == [f"error {master.refuse}"]
    assert "/framework/teardown" not in master.calls


def test_native_library_version_and_no_executors(built: Built) -> None:
    run = run_scheduler(built, "version")
    assert run.returncode == 0, run.stderr
    assert "VERSION 1.11.0" in run.stdout.splitlines()
    assert (
        "EXECUTOR smack stand-in libmesos-java: custom executors are not supported; "
        "the stand-in agent runs command tasks"
    ) in run.stdout.splitlines()


def test_builds_are_reproducible(built: Built, tmp_path: Path) -> None:
    assert build_driver_jar(tmp_path).read_bytes() == built.jar.read_bytes()
    again = build_libmesos_java(tmp_path, jar_path="/nonexistent/mesos-standin-driver.jar")
    assert again.read_bytes() == built.library.read_bytes()
    assert again.stat().st_mode & 0o777 == 0o644
    symbols = subprocess.run(
        ["nm", "-D", "--defined-only", str(again)], capture_output=True, text=True, check=True
    ).stdout
    assert "Java_org_apache_mesos_MesosSchedulerDriver_launchTasks" in symbols
    assert "smack_standin_libmesos_version" in symbols
