package org.smack.standin.mesos;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * One MesosSchedulerDriver's state (smack test stand-in, not Apache Mesos).
 *
 * <p>Status rules follow the real driver (src/sched/sched.cpp): start() only from
 * NOT_STARTED, calls act only while RUNNING, stop() also ends an aborted driver, join() waits
 * while RUNNING. One background thread finds the leading master, registers, long-polls
 * /framework/poll and runs every scheduler callback, in event order, like libmesos' single
 * SchedulerProcess does.
 *
 * <p>Nothing here holds the driver (or the scheduler, which usually holds the driver): the
 * driver's bookkeeping is weakly keyed, so only the running thread keeps them alive.
 */
final class Session {
    private static final String NOT_STARTED = "DRIVER_NOT_STARTED";
    private static final String RUNNING = "DRIVER_RUNNING";
    private static final String ABORTED = "DRIVER_ABORTED";
    private static final String STOPPED = "DRIVER_STOPPED";
    private static final int POLL_WAIT_SECONDS = 1;
    private static final int POLL_TIMEOUT_MILLIS = (POLL_WAIT_SECONDS + 5) * 1000;
    private static final int CALL_TIMEOUT_MILLIS = 5000;
    private static final long RETRY_MILLIS = 1000;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Class<?> protos;
    private final Class<?> statusType;

    // Guarded by `this`.
    private String status = NOT_STARTED;
    private boolean stopping;
    private boolean connected;
    private String frameworkId;
    private MasterDetector.Leader leader;
    private boolean partitionAware;
    private final Deque<Map<String, Object>> localEvents = new ArrayDeque<>();

    Session(Object driver) {
        // The Protos class the driver itself was compiled against, in the driver's loader.
        protos = Reflect.fieldType(driver.getClass(), "framework").getEnclosingClass();
        statusType = protoClass("Status");
    }

    private Class<?> protoClass(String name) {
        return Reflect.load(protos.getName() + "$" + name, protos.getClassLoader());
    }

    private Object statusConstant(String name) {
        for (Object constant : statusType.getEnumConstants()) {
            if (Reflect.enumName(constant).equals(name)) {
                return constant;
            }
        }
        throw new IllegalStateException("no " + statusType.getName() + "." + name);
    }

    synchronized void forget() {
        stopping = true;
    }

    Object handle(Object driver, String method, Object[] args) {
        return statusConstant(dispatch(driver, method, args));
    }

    private String dispatch(Object driver, String method, Object[] args) {
        switch (method) {
            case "start":
                return start(driver);
            case "stop":
                return stop(Boolean.TRUE.equals(args[0]));
            case "abort":
                return abort();
            case "join":
                return join();
            case "launchTasks": {
                // Both overloads share the native: (OfferID, ...) and (Collection<OfferID>, ...).
                Collection<?> offerIds = args[0] instanceof Collection
                        ? (Collection<?>) args[0]
                        : Collections.singletonList(args[0]);
                return accept(offerIds, (Collection<?>) args[1], args[2]);
            }
            case "acceptOffers":
                return accept((Collection<?>) args[0], launchedTasks((Collection<?>) args[1]),
                        args[2]);
            case "declineOffer":
                return decline(args[0], args[1]);
            case "reviveOffers":
                return simpleCall("/framework/revive", new LinkedHashMap<>());
            case "suppressOffers":
                return simpleCall("/framework/suppress", new LinkedHashMap<>());
            case "killTask": {
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("task_id", ProtoJson.toJson(args[0]));
                return simpleCall("/framework/kill", body);
            }
            case "reconcileTasks":
                return reconcile((Collection<?>) args[0]);
            case "requestResources":
            case "acknowledgeStatusUpdate":
            case "sendFrameworkMessage":
                // The stand-in master has no allocator requests, explicit acknowledgements or
                // executor messages: the real driver would send and forget them.
                return currentStatus();
            default:
                throw new UnsupportedOperationException(
                        "smack stand-in libmesos-java: no native " + method);
        }
    }

    private synchronized String currentStatus() {
        return status;
    }

    /** RUNNING and not being stopped: the state in which the thread may call the scheduler. */
    private synchronized boolean active() {
        return RUNNING.equals(status) && !stopping;
    }

    // ----- lifecycle ------------------------------------------------------------------------

    private String start(Object driver) {
        synchronized (this) {
            if (!NOT_STARTED.equals(status)) {
                return status;
            }
        }
        Object scheduler = Reflect.field(driver, "scheduler");
        Object framework = Reflect.field(driver, "framework");
        String master = (String) Reflect.field(driver, "master");
        Object credential = Reflect.field(driver, "credential");
        Callbacks callbacks = new Callbacks(driver, scheduler);
        MasterDetector detector;
        try {
            detector = new MasterDetector(master);
        } catch (IllegalArgumentException e) {
            synchronized (this) {
                status = ABORTED;
                notifyAll();
            }
            callbacks.call("error", "Failed to create a master detector for '"
                    + MasterDetector.redact(master) + "': " + e.getMessage());
            return ABORTED;
        }
        Map<String, Object> info = ProtoJson.toJson(framework);
        String[] secret = credential == null ? null : credentialOf(credential);
        synchronized (this) {
            if (!NOT_STARTED.equals(status)) {
                return status;
            }
            status = RUNNING;
            frameworkId = idValue(info.get("id"));
            partitionAware = capabilities(info).contains("PARTITION_AWARE");
            Thread thread = new Thread(() -> run(callbacks, detector, info, secret),
                    "smack-standin-scheduler-driver");
            // A daemon: a JVM whose main() returned must not hang on us, as it would not on
            // libprocess' threads.
            thread.setDaemon(true);
            thread.start();
            return status;
        }
    }

    private String stop(boolean failover) {
        String before;
        boolean teardown;
        MasterDetector.Leader master;
        String id;
        synchronized (this) {
            if (!RUNNING.equals(status) && !ABORTED.equals(status)) {
                return status;
            }
            before = status;
            stopping = true;
            teardown = RUNNING.equals(status) && !failover && connected;
            master = leader;
            id = frameworkId;
        }
        GLog.info("stopping" + (failover ? " (failover: the framework stays registered)" : ""));
        if (teardown) {
            // Before STOPPED, so that join() returns only once the master has let go of us.
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("id", id);
            post(master, "/framework/teardown", body);
        }
        synchronized (this) {
            status = STOPPED;
            notifyAll();
        }
        return ABORTED.equals(before) ? ABORTED : STOPPED;
    }

    private synchronized String abort() {
        if (!RUNNING.equals(status)) {
            return status;
        }
        GLog.warning("aborting");
        status = ABORTED;
        notifyAll();
        return status;
    }

    private synchronized String join() {
        boolean interrupted = false;
        while (RUNNING.equals(status)) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true; // the real join() cannot be interrupted either
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return status;
    }

    /**
     * A fatal answer from the master: tell the scheduler, then abort. (sched.cpp aborts first;
     * telling first means join() returns only after error() has run, so a scheduler's main()
     * cannot exit before it.) No other callback runs meanwhile.
     */
    private void fatal(Callbacks callbacks, String message) {
        synchronized (this) {
            if (!RUNNING.equals(status) || stopping) {
                return;
            }
            stopping = true;
            connected = false; // the master has dropped us: a stop() in error() sends nothing
        }
        GLog.error("aborting: " + message);
        callbacks.call("error", message);
        synchronized (this) {
            if (RUNNING.equals(status)) {
                status = ABORTED;
                notifyAll();
            }
        }
    }

    // ----- the driver thread --------------------------------------------------------------

    private void run(Callbacks callbacks, MasterDetector detector, Map<String, Object> framework,
            String[] secret) {
        boolean everRegistered = false;
        String lastProblem = null;
        String schedulerPid = null;
        MasterDetector.Leader master = null;
        while (active()) {
            try {
                deliverLocalEvents(callbacks);
                if (!isConnected()) {
                    if (master == null) {
                        master = detector.detect();
                    }
                    if (schedulerPid == null) {
                        schedulerPid = "scheduler-" + UUID.randomUUID() + "@"
                                + localAddress(master) + ":" + env("LIBPROCESS_PORT", "0");
                    }
                    Map<String, Object> body = registerBody(framework, secret, schedulerPid);
                    MasterHttp.Reply reply = MasterHttp.post(master.host, master.port,
                            "/framework/register", body, CALL_TIMEOUT_MILLIS);
                    if (!active()) {
                        break;
                    }
                    if (reply.status == 403 && "exit".equals(reply.action())) {
                        fatal(callbacks, reply.message());
                        break;
                    }
                    if (reply.status != 200) {
                        lastProblem = warnOnce(lastProblem, "master " + master + " answered "
                                + reply.status + " to the registration");
                        master = null;
                        pause();
                        continue;
                    }
                    registered(callbacks, master, reply, everRegistered);
                    everRegistered = true;
                    lastProblem = null;
                    continue;
                }
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("id", currentFrameworkId());
                body.put("wait", POLL_WAIT_SECONDS);
                MasterHttp.Reply reply = MasterHttp.post(master.host, master.port,
                        "/framework/poll", body, POLL_TIMEOUT_MILLIS);
                if (!active()) {
                    break;
                }
                if (reply.status == 200) {
                    Object events = reply.body.get("events");
                    if (events instanceof List) {
                        for (Object event : (List<?>) events) {
                            if (!active()) {
                                break;
                            }
                            if (event instanceof Map) {
                                dispatchEvent(callbacks, (Map<?, ?>) event);
                            }
                        }
                    }
                } else if (reply.status == 403 && "exit".equals(reply.action())) {
                    fatal(callbacks, reply.message());
                    break;
                } else {
                    disconnected(callbacks, master, "answered " + reply.status
                            + (reply.action().isEmpty() ? "" : " (" + reply.action() + ")"));
                    master = null;
                }
            } catch (IOException e) {
                if (isConnected()) {
                    disconnected(callbacks, master, e.toString());
                } else {
                    lastProblem = warnOnce(lastProblem,
                            "no leading master reachable yet (" + e.getMessage() + ")");
                    pause();
                }
                master = null;
            } catch (RuntimeException e) {
                e.printStackTrace();
                fatal(callbacks, "smack stand-in scheduler driver failed: " + e);
                break;
            }
        }
    }

    /** Logs `problem` unless it was the last one: registration is retried every second. */
    private static String warnOnce(String last, String problem) {
        if (!problem.equals(last)) {
            GLog.warning(problem + "; retrying");
        }
        return problem;
    }

    private void registered(Callbacks callbacks, MasterDetector.Leader master,
            MasterHttp.Reply reply, boolean again) {
        String id = String.valueOf(reply.body.get("id"));
        synchronized (this) {
            frameworkId = id;
            leader = master;
            connected = true;
        }
        Object masterPid = reply.body.get("master");
        String where = masterPid != null ? String.valueOf(masterPid) : master.toString();
        Object masterInfo = ProtoJson.fromJson(protoClass("MasterInfo"), masterInfo(master, reply));
        if (again) {
            GLog.info("re-registered as framework " + id + " with master " + where);
            callbacks.call("reregistered", masterInfo);
        } else {
            GLog.info("registered as framework " + id + " with master " + where);
            Map<String, Object> frameworkIdJson = new LinkedHashMap<>();
            frameworkIdJson.put("value", id);
            callbacks.call("registered", ProtoJson.fromJson(protoClass("FrameworkID"),
                    frameworkIdJson), masterInfo);
        }
    }

    private void disconnected(Callbacks callbacks, MasterDetector.Leader master, String why) {
        synchronized (this) {
            if (!connected) {
                return;
            }
            connected = false;
        }
        GLog.warning("disconnected from master " + master + " (" + why + ")");
        callbacks.call("disconnected");
    }

    private static Map<?, ?> masterInfo(MasterDetector.Leader master, MasterHttp.Reply reply) {
        Object info = reply.body.get("master_info");
        if (info instanceof Map) {
            return (Map<?, ?>) info;
        }
        if (master.info != null) {
            return master.info;
        }
        // host:port masters tell nothing more about themselves: what is known, required
        // fields included.
        Map<String, Object> address = new LinkedHashMap<>();
        address.put("hostname", master.host);
        address.put("ip", master.host);
        address.put("port", master.port);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", String.valueOf(reply.body.getOrDefault("master", "")));
        out.put("ip", 0);
        out.put("port", master.port);
        out.put("hostname", master.host);
        out.put("pid", "master@" + master.host + ":" + master.port);
        out.put("address", address);
        return out;
    }

    private void dispatchEvent(Callbacks callbacks, Map<?, ?> event) {
        String type = String.valueOf(event.get("type"));
        switch (type) {
            case "offers": {
                List<Object> offers = new ArrayList<>();
                Object list = event.get("offers");
                if (list instanceof List) {
                    for (Object offer : (List<?>) list) {
                        offers.add(ProtoJson.fromJson(protoClass("Offer"), offer));
                    }
                }
                callbacks.call("resourceOffers", Collections.unmodifiableList(offers));
                break;
            }
            case "rescind":
                callbacks.call("offerRescinded",
                        ProtoJson.fromJson(protoClass("OfferID"), event.get("offer_id")));
                break;
            case "update":
                // Implicit acknowledgements need no message: the stand-in master does not
                // retry updates.
                callbacks.call("statusUpdate",
                        ProtoJson.fromJson(protoClass("TaskStatus"), event.get("status")));
                break;
            case "error":
                fatal(callbacks, String.valueOf(event.get("message")));
                break;
            default:
                GLog.warning("ignoring an event of unknown type '" + type + "'");
        }
    }

    private void deliverLocalEvents(Callbacks callbacks) {
        while (active()) {
            Map<String, Object> event;
            synchronized (this) {
                event = localEvents.poll();
            }
            if (event == null) {
                return;
            }
            dispatchEvent(callbacks, event);
        }
    }

    private synchronized boolean isConnected() {
        return connected;
    }

    private synchronized String currentFrameworkId() {
        return frameworkId;
    }

    private void pause() {
        long until = System.currentTimeMillis() + RETRY_MILLIS;
        while (active() && System.currentTimeMillis() < until) {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    // ----- registration body --------------------------------------------------------------

    private Map<String, Object> registerBody(Map<String, Object> framework, String[] secret,
            String schedulerPid) {
        Map<String, Object> body = new LinkedHashMap<>();
        String id = currentFrameworkId();
        if (id != null && !id.isEmpty()) {
            body.put("id", id);
        }
        body.put("name", string(framework.get("name"), ""));
        // Filled in like libmesos does when the scheduler leaves them empty.
        body.put("user", string(framework.get("user"), System.getProperty("user.name", "")));
        body.put("hostname", string(framework.get("hostname"), localHostname()));
        body.put("webui_url", string(framework.get("webui_url"), ""));
        body.put("role", role(framework));
        Object failover = framework.get("failover_timeout");
        body.put("failover_timeout", failover instanceof Number ? failover : 0.0);
        body.put("checkpoint", Boolean.TRUE.equals(framework.get("checkpoint")));
        body.put("capabilities", capabilities(framework));
        body.put("pid", schedulerPid);
        if (secret != null) {
            body.put("credential", sign(secret[0], secret[1]));
        }
        return body;
    }

    private static String role(Map<String, Object> framework) {
        String role = string(framework.get("role"), "");
        if (role.isEmpty() && framework.get("roles") instanceof List) {
            List<?> roles = (List<?>) framework.get("roles");
            role = roles.isEmpty() ? "" : String.valueOf(roles.get(0));
        }
        return role.isEmpty() ? "*" : role;
    }

    private static List<String> capabilities(Map<String, Object> framework) {
        List<String> out = new ArrayList<>();
        Object list = framework.get("capabilities");
        if (list instanceof List) {
            for (Object capability : (List<?>) list) {
                if (capability instanceof Map && ((Map<?, ?>) capability).get("type") != null) {
                    out.add(String.valueOf(((Map<?, ?>) capability).get("type")));
                }
            }
        }
        return out;
    }

    private static String[] credentialOf(Object credential) {
        String principal = String.valueOf(Reflect.call(credential, "getPrincipal"));
        Object secret = Reflect.call(credential, "getSecret");
        if (!(secret instanceof String)) {
            secret = Reflect.call(secret, "toStringUtf8"); // `bytes secret` in older protos
        }
        return new String[] {principal, (String) secret};
    }

    /** tests/standins/standin/auth.py sign(): the secret never leaves the process. */
    static Map<String, Object> sign(String principal, String secret) {
        byte[] nonceBytes = new byte[16];
        RANDOM.nextBytes(nonceBytes);
        String nonce = hex(nonceBytes);
        byte[] key = secret.getBytes(StandardCharsets.UTF_8);
        if (key.length == 0) {
            // SecretKeySpec refuses an empty key; HMAC pads keys with zero bytes, so one zero
            // byte gives the same MAC as Python's hmac with an empty key.
            key = new byte[] {0};
        }
        String digest;
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            digest = hex(mac.doFinal(nonce.getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("principal", principal);
        out.put("nonce", nonce);
        out.put("digest", digest);
        return out;
    }

    private static String hex(byte[] bytes) {
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) {
            out.append(String.format("%02x", b & 0xff));
        }
        return out.toString();
    }

    private static String localHostname() {
        String ip = System.getenv("LIBPROCESS_IP");
        if (ip != null && !ip.isEmpty()) {
            return ip;
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    /** The address the master sees us at (LIBPROCESS_IP wins, as for libprocess). */
    private static String localAddress(MasterDetector.Leader master) {
        String ip = System.getenv("LIBPROCESS_IP");
        if (ip != null && !ip.isEmpty()) {
            return ip;
        }
        // A connected UDP socket picks the outgoing interface without sending anything.
        try (DatagramSocket socket = new DatagramSocket()) {
            socket.connect(InetAddress.getByName(master.host), master.port);
            return socket.getLocalAddress().getHostAddress();
        } catch (IOException e) {
            return "127.0.0.1";
        }
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    private static String string(Object value, String fallback) {
        return value == null || String.valueOf(value).isEmpty() ? fallback : String.valueOf(value);
    }

    private static String idValue(Object id) {
        if (id instanceof Map && ((Map<?, ?>) id).get("value") != null) {
            return String.valueOf(((Map<?, ?>) id).get("value"));
        }
        return null;
    }

    // ----- calls from the scheduler -------------------------------------------------------

    private static Collection<?> launchedTasks(Collection<?> operations) {
        List<Object> tasks = new ArrayList<>();
        for (Object operation : operations) {
            Map<String, Object> json = ProtoJson.toJson(operation);
            String type = String.valueOf(json.get("type"));
            if (!"LAUNCH".equals(type)) {
                GLog.warning("skipping a " + type + " operation: the stand-in master only"
                        + " launches tasks");
                continue;
            }
            Object launch = Reflect.call(operation, "getLaunch");
            tasks.addAll((Collection<?>) Reflect.call(launch, "getTaskInfosList"));
        }
        return tasks;
    }

    private String accept(Collection<?> offerIds, Collection<?> tasks, Object filters) {
        MasterDetector.Leader master;
        String id;
        synchronized (this) {
            if (!RUNNING.equals(status)) {
                return status;
            }
            if (!connected) {
                // As sched.cpp: the launch cannot reach a master, so every task is reported
                // lost (dropped, for partition-aware frameworks) by the driver itself.
                GLog.warning("ignoring a launch of " + tasks.size()
                        + " task(s): the master is disconnected");
                for (Object task : tasks) {
                    localEvents.add(lostUpdate(ProtoJson.toJson(task)));
                }
                return status;
            }
            master = leader;
            id = frameworkId;
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("id", id);
        body.put("offer_ids", ProtoJson.toJsonList(offerIds));
        body.put("tasks", ProtoJson.toJsonList(tasks));
        putFilters(body, filters);
        post(master, "/framework/accept", body);
        return currentStatus();
    }

    private Map<String, Object> lostUpdate(Map<String, Object> task) {
        Map<String, Object> status = new LinkedHashMap<>();
        status.put("task_id", task.get("task_id"));
        status.put("state", partitionAware ? "TASK_DROPPED" : "TASK_LOST");
        status.put("source", "SOURCE_MASTER");
        status.put("reason", "REASON_MASTER_DISCONNECTED");
        status.put("message", "Master disconnected");
        if (task.get("slave_id") != null) {
            status.put("slave_id", task.get("slave_id"));
        }
        status.put("timestamp", System.currentTimeMillis() / 1000.0);
        Map<String, Object> event = new HashMap<>();
        event.put("type", "update");
        event.put("status", status);
        return event;
    }

    private String decline(Object offerId, Object filters) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("offer_ids", Collections.singletonList(ProtoJson.toJson(offerId)));
        putFilters(body, filters);
        return simpleCall("/framework/decline", body);
    }

    private String reconcile(Collection<?> statuses) {
        List<Object> wanted = new ArrayList<>();
        for (Object status : statuses) {
            Map<String, Object> json = ProtoJson.toJson(status);
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("task_id", json.get("task_id"));
            if (json.get("slave_id") != null) {
                entry.put("slave_id", json.get("slave_id"));
            }
            wanted.add(entry);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("statuses", wanted);
        return simpleCall("/framework/reconcile", body);
    }

    private static void putFilters(Map<String, Object> body, Object filters) {
        if (filters != null) {
            Map<String, Object> json = ProtoJson.toJson(filters);
            if (!json.isEmpty()) {
                body.put("filters", json);
            }
        }
    }

    /** POSTs `body` plus the framework id when RUNNING and connected (the real driver drops
     * calls while disconnected, too). */
    private String simpleCall(String path, Map<String, Object> body) {
        MasterDetector.Leader master;
        synchronized (this) {
            if (!RUNNING.equals(status)) {
                return status;
            }
            if (!connected) {
                GLog.warning("ignoring " + path + ": the master is disconnected");
                return status;
            }
            master = leader;
            Map<String, Object> withId = new LinkedHashMap<>();
            withId.put("id", frameworkId);
            withId.putAll(body);
            body = withId;
        }
        post(master, path, body);
        return currentStatus();
    }

    private static void post(MasterDetector.Leader master, String path,
            Map<String, Object> body) {
        try {
            MasterHttp.Reply reply = MasterHttp.post(master.host, master.port, path, body,
                    CALL_TIMEOUT_MILLIS);
            if (reply.status != 200) {
                GLog.warning(path + " to master " + master + " answered " + reply.status
                        + (reply.action().isEmpty() ? "" : " (" + reply.action() + ")"));
            }
        } catch (IOException e) {
            // Lost like a libprocess message to a master that went away; the poll loop will
            // notice the disconnection.
            GLog.warning(path + " to master " + master + " failed: " + e);
        }
    }

    // ----- scheduler callbacks ------------------------------------------------------------

    /** The scheduler's callbacks, found by name on Mesos' Scheduler interface. */
    private final class Callbacks {
        private final Object driver;
        private final Object scheduler;
        private final Map<String, Method> methods = new HashMap<>();

        Callbacks(Object driver, Object scheduler) {
            this.driver = driver;
            this.scheduler = scheduler;
            for (Method m : schedulerInterface(driver, scheduler).getMethods()) {
                methods.put(m.getName(), m);
            }
        }

        private Class<?> schedulerInterface(Object driver, Object scheduler) {
            Class<?> declared = Reflect.fieldType(driver.getClass(), "scheduler");
            try {
                Class<?> found = Class.forName(declared.getName(), false,
                        scheduler.getClass().getClassLoader());
                return found.isInstance(scheduler) ? found : declared;
            } catch (ClassNotFoundException e) {
                return declared;
            }
        }

        /** Runs callback `name`; a callback that throws aborts the driver, as in libmesos'
         * JNI bridge. `error` also runs once the driver has aborted. */
        void call(String name, Object... args) {
            if (!"error".equals(name) && !active()) {
                return;
            }
            Method method = methods.get(name);
            Object[] full = new Object[args.length + 1];
            full[0] = driver;
            System.arraycopy(args, 0, full, 1, args.length);
            try {
                method.invoke(scheduler, full);
            } catch (InvocationTargetException e) {
                GLog.error("scheduler callback " + name + " threw " + e.getCause());
                e.getCause().printStackTrace();
                abort();
            } catch (IllegalAccessException e) {
                throw Reflect.unwrap(e);
            }
        }
    }
}
